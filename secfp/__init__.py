"""secfp: secure, privacy-audited task fingerprints for medical imaging (Godau et al., arXiv 2412.08763)."""

__version__ = "0.1.0"

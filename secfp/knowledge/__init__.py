"""secfp.knowledge."""

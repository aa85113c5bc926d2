"""secfp.report."""

"""The transfer-study benchmark: load a study's measured outcomes, rank sources with each selector, score them."""

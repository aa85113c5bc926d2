"""Plumbing for ``secfp.exchange``. Nothing outside ``secfp/exchange/`` imports this package."""

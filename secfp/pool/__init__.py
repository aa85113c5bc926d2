"""The knowledge pool: verified bundles on disk, a SQLite index over them and a matrix cache per spec.

Nothing unverified enters; ranking and planning read only what the store returns.
"""

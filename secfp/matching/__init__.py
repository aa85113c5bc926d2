"""Matching: bKLD between fingerprints (one definition) and the one-vs-many engine that ranks sources.

:mod:`.bkld` defines the distance, per pair and one-vs-many; :mod:`.engine` holds many sources
memory-mapped and answers queries exactly; :mod:`.ranking` orders sources for a query.
"""

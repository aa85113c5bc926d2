"""The two journeys of ARCHITECTURE.md, each a short chain of library calls.

:mod:`.export`: fingerprint, [DP + ledger], export-policy check, sign and seal, budget, audit.
:mod:`.receive`: verify, ledger re-check, import-policy check, replay record, audit.
The command line only parses arguments and renders what these return.
"""

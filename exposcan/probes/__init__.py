"""Probes: one package or module per protocol, each returning an observation, never
raising, and each registered once in :mod:`exposcan.probes.registry` with what it adds to
the vocabularies (its protocols, its finding entries)."""

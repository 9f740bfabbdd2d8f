"""Probes: one module per protocol, each returning an observation, never raising."""

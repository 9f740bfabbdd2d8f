"""Fixtures (loaded as plugins by tests/conftest.py) and helpers imported by name."""

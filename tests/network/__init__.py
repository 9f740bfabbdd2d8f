"""Library tests against scripted or in-process peers on loopback."""

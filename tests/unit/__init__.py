"""Pure tests: no sockets, no subprocess; bytes, verdicts, scope and catalogue logic."""

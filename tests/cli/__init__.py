"""The command line end to end: exit codes, output files, signals, hostile input."""

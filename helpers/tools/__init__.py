"""Tools: the command line, the benchmark, notebook regeneration."""

"""Test support other programs use: the server in a process of its own, a bare SSE probe."""

"""The Python example's HTTP service (standard library only)."""

"""Pure domain logic: no I/O in this package."""

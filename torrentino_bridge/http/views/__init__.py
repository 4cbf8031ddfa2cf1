"""Request handlers, one module per area; they stay thin and share http/lookups.py."""

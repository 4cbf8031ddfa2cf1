"""A Quentin Torrentino simulator: a real HTTP + WebSocket server for tests and the demo."""

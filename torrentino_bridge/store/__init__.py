"""SQLite stores: the catalog adapter and the bridge's own tables."""

"""The Pezzottify server's own databases beside its catalog: search.db, server.db, user.db
(and download_queue.db, read by the queue request source). The bridge writes rows there the
way the server's ingestion does, never their schema, journal mode or user_version."""

"""Live updates for users and admins: an in-process event hub fed by the engine at a few
points (sink.py), and the Server-Sent Event streams that read it (http/views/events.py)."""

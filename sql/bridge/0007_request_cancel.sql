-- A request cancelled on purpose (by its user through the API, or by the lead's request
-- source when its row is withdrawn) says by whom. Such a request is final: its status no
-- longer follows the tickets it shared with others (they may still complete for them), and
-- an admin's retry of a ticket does not bring it back. NULL: not cancelled on purpose (a
-- request whose ticket was cancelled in QT stays derived from its tracks).
ALTER TABLE download_requests ADD COLUMN cancelled_by TEXT;

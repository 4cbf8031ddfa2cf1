"""Where download requests come from. Every source feeds the same ledger, the bridge's
`download_requests` table, which the intake plans; a source that mirrors another system's
rows also tells those rows how their request ended."""

from .base import BridgeTableSource, RequestSource

__all__ = ["BridgeTableSource", "RequestSource"]

"""asyncio transport: connections with deadlines, bounded reads, one error map."""

from exposcan.net.transport import Connection, NetError, open_connection

__all__ = ["Connection", "NetError", "open_connection"]

"""Ports on 127.0.0.1 for the servers the tests start, and whether one answers there."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now (another process may still take it before a server
    binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(port: int, timeout: float = 1) -> bool:
    """Whether something listens on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        probe.settimeout(timeout)
        return probe.connect_ex(("127.0.0.1", port)) == 0

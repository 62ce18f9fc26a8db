"""Free loopback ports for the servers the chaos harness, the benchmarks and the tests start.

A port from ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral range, the same range
every outgoing connection (Kafka, Elasticsearch, webhooks) takes its local port from. Between
the pick and the child process binding it, such a connection can take it, and the child exits
with "address already in use". Ports below the ephemeral range are never handed out to outgoing
connections, so a port picked there stays free until someone binds it on purpose.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Collection
from pathlib import Path
from typing import Final

EPHEMERAL_RANGE_FILE: Final = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Where the kernel's range cannot be read (not Linux): IANA's dynamic range.
DEFAULT_EPHEMERAL_LOW: Final = 49152
LOWEST_PICKED: Final = 10000
# Stack ports of the defaults (9xxx), the stack-lifecycle test (19xxx) and a developer's private
# stack (29xxx): a stack that is down for a moment must find its port free when it comes back.
STACK_PORTS: Final = frozenset(
    {9092, 9093, 9200, 9300, 19092, 19093, 19200, 19300, 29092, 29093, 29200, 29300}
)
ATTEMPTS: Final = 200


def ephemeral_low(range_file: Path = EPHEMERAL_RANGE_FILE) -> int:
    """The first port of the kernel's ephemeral range."""
    try:
        return int(range_file.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_LOW


def is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(avoid: Collection[int] = (), *, rng: random.Random | None = None) -> int:
    """A loopback port nobody listens on, below the ephemeral range, not in ``avoid``.

    ``avoid`` holds ports already picked for processes that have not bound them yet.
    """
    pick = rng or random.SystemRandom()
    high = min(ephemeral_low(), 65536)
    if high - LOWEST_PICKED >= 1000:
        for _ in range(ATTEMPTS):
            port = pick.randrange(LOWEST_PICKED, high)
            if port not in avoid and port not in STACK_PORTS and is_free(port):
                return port
    # A kernel whose ephemeral range starts very low: only its own choice is left.
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in avoid and port not in STACK_PORTS:
            return port


def free_ports(count: int) -> list[int]:
    """``count`` different free ports, for processes started together."""
    ports: list[int] = []
    for _ in range(count):
        ports.append(free_port(avoid=ports))
    return ports

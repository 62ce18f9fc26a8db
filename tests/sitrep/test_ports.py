"""Ports for started servers come from below the kernel's ephemeral range, never twice."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from sitrep import ports


def test_ephemeral_low_reads_the_kernel_range_and_falls_back_where_there_is_none(
    tmp_path: Path,
) -> None:
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("40000\t60999\n", encoding="ascii")
    assert ports.ephemeral_low(range_file) == 40000
    assert ports.ephemeral_low(tmp_path / "missing") == ports.DEFAULT_EPHEMERAL_LOW


def test_a_picked_port_lies_below_the_ephemeral_range_and_can_be_bound() -> None:
    for _ in range(50):
        port = ports.free_port()
        assert ports.LOWEST_PICKED <= port < ports.ephemeral_low()
        assert port not in ports.STACK_PORTS
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_someone_listens_on_or_already_picked_is_not_picked_again() -> None:
    first = ports.free_port(rng=random.Random(7))
    # The same random sequence would give the same port again...
    assert ports.free_port(rng=random.Random(7)) == first
    # ...but not while a server listens on it, nor when the caller has picked it already.
    with socket.socket() as server:
        server.bind(("127.0.0.1", first))
        server.listen()
        assert not ports.is_free(first)
        assert ports.free_port(rng=random.Random(7)) != first
    assert ports.free_port(avoid={first}, rng=random.Random(7)) != first


def test_ports_picked_together_differ() -> None:
    picked = ports.free_ports(40)
    assert len(set(picked)) == 40

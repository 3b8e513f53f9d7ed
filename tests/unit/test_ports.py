"""Ports handed to a listener that binds later: outside the ephemeral range, never one in use."""

from __future__ import annotations

import socket

from recorder.ports import ephemeral_start, free_port


class Scripted:
    """Draws the given ports in order, as `random.Random.randrange` would draw any."""

    def __init__(self, *ports: int) -> None:
        self.ports = list(ports)

    def randrange(self, start: int, stop: int) -> int:
        port = self.ports.pop(0)
        assert start <= port < stop
        return port


def test_a_port_is_below_the_range_outgoing_connections_take() -> None:
    ports = {free_port() for _ in range(50)}
    assert all(10000 <= port < ephemeral_start() for port in ports)


def test_a_port_already_listened_on_is_skipped() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        spare = free_port()
        assert free_port(rng=Scripted(busy, spare)) == spare  # type: ignore[arg-type]

"""Refusing network access inside a test: offline behaviour proved without a stopwatch."""

from __future__ import annotations

import pytest


class NetworkAttempts(list):
    """Hosts something tried to reach while the ``no_network`` fixture was active."""


def refuse_network(monkeypatch: pytest.MonkeyPatch) -> NetworkAttempts:
    """From now on (until ``monkeypatch`` undoes it), fail and record any attempt to open a
    network connection or resolve a name; returns the list of attempts."""
    import socket

    attempts = NetworkAttempts()

    def refuse(*args, **kwargs):
        attempts.append(args[0] if args else kwargs)
        raise OSError("network access during a test that must stay offline")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", lambda self, *a: refuse(*a))
    return attempts


def count_connections(monkeypatch: pytest.MonkeyPatch) -> NetworkAttempts:
    """From now on, record every socket connect (made as usual); returns the list of addresses.
    A bounded number of attempts shows that an unreachable server is not retried in a loop."""
    import socket

    attempts = NetworkAttempts()
    connect = socket.socket.connect

    def counted(self: socket.socket, address: object) -> None:
        attempts.append(address)
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", counted)
    return attempts

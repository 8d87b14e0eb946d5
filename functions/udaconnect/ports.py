"""Loopback ports: a free one to listen on, and whether something answers on one (TCP, or HTTP 200)."""

from __future__ import annotations

import random
import socket
import time
import urllib.request

#: Ports handed out by this process: never twice, though the first may not be listening yet.
_given: set[int] = set()


def _ephemeral() -> range:
    """The kernel's range for outgoing connections' local ports (Linux; the IANA range elsewhere)."""
    try:
        low, high = open("/proc/sys/net/ipv4/ip_local_port_range").read().split()  # noqa: SIM115, PTH123
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(49152, 65536)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, to be listened on soon: chosen at random outside the ephemeral range, where
    an outgoing connection (to PostgreSQL, Kafka, ...) can take a port between this check and the listener's
    bind ("Address already in use"), and never one this process gave out before."""
    ephemeral = _ephemeral()
    candidates = [p for p in (*range(20000, min(ephemeral.start, 32768)), *range(ephemeral.stop, 65536))
                  if p not in _given]
    for port in random.sample(candidates, min(len(candidates), 200)):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _given.add(port)
        return port
    with socket.socket() as sock:  # everything outside the range is taken: let the kernel choose
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether a TCP connection to host:port is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ok(url: str, timeout: float = 1.0) -> bool:
    """Whether a GET of `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def until_ok(url: str, timeout: float, every: float = 0.02) -> bool:
    """Poll `url` until it answers 200 (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok(url):
            return True
        time.sleep(every)
    return False

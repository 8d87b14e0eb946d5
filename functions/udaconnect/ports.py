"""Loopback ports: a free one to listen on, and whether something answers on one (TCP, or HTTP 200)."""

from __future__ import annotations

import socket
import time
import urllib.request


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
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

"""The dispatcher's retry rule: which failures are retried, and how long to wait before each retry."""

from __future__ import annotations

from dataclasses import dataclass

from udaconnect.events.event import Event

#: Besides every 5xx, the statuses the dispatcher retries; any other failing status goes to the dead letter at once.
RETRYABLE_STATUSES = frozenset({404, 408, 409, 429})


def is_retryable(status: int | None) -> bool:
    """None stands for "no answer" (connection refused, reset, timed out): always retried."""
    return status is None or status >= 500 or status in RETRYABLE_STATUSES


def backoff(policy: str | None, delay: float | None, retry_number: int) -> float:
    """Seconds to wait before retry `retry_number` (1-based): delay x n (linear) or delay x 2^n (exponential)."""
    base = 1.0 if delay is None else delay
    return base * retry_number if policy == "linear" else base * 2**retry_number


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None = None
    body: bytes = b""
    reply: Event | None = None
    error: str = ""

    @property
    def retryable(self) -> bool:
        return not self.ok and is_retryable(self.status) and not self.error.startswith("reply")

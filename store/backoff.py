"""When to try failed work again: doubling backoff, and Slack's or a receiver's Retry-After."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """When to try a failed item again: `first` seconds, doubling, at most `cap`."""

    first: float = 1.0
    cap: float = 300.0

    def __call__(self, attempts: int) -> float:
        """Seconds before try number attempts+1."""
        return float(min(self.cap, self.first * 2 ** max(0, attempts - 1)))


backoff = Backoff()


def retry_after(value: str | None) -> float | None:
    """A Retry-After header in seconds, from 1 to the backoff's cap; None when absent or
    not a number of seconds (an HTTP date). At least a second: "Retry-After: 0" must not
    turn a delivery loop into a tight loop against a struggling server."""
    if value is None:
        return None
    try:
        return max(1.0, min(backoff.cap, float(value)))
    except ValueError:
        return None

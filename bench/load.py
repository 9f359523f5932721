"""Closed-loop load: N simulated users, each sending its next request when the last is answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.machine import cpu_seconds
from bench.stats import Summary
from bot.sandbox.fake_slack import FakeSlack

DONE_TIMEOUT = 15.0


def no_refusals(fake: FakeSlack) -> None:
    """Stop the benchmark if the bot sent anything Slack would refuse: its numbers would
    measure a bot Slack does not run."""
    refused = fake.refusals()
    if refused:
        first = refused[0]
        raise SystemExit(
            f"the bot sent {len(refused)} payload(s) Slack would refuse; the first, to "
            f"{first.method}: {first.error} {'; '.join(first.messages)}"
        )


class TimedFakeSlack(FakeSlack):
    """The Slack stand-in, also noting when each response_url post arrives.

    A button's work happens after its ack and ends with a post to the response_url; the
    arrival time of that post is when the person sees the result.
    """

    def __init__(self) -> None:
        super().__init__()
        self._waiting: dict[str, threading.Event] = {}
        self._arrivals = threading.Lock()

    def expect(self, name: str) -> threading.Event:
        done = threading.Event()
        with self._arrivals:
            self._waiting[name] = done
        return done

    def _handle_response(self, name: str, raw: bytes) -> tuple[int, Any]:
        answer = super()._handle_response(name, raw)
        with self._arrivals:
            done = self._waiting.pop(name, None)
        if done is not None:
            done.set()
        return answer

    def forget(self) -> None:
        """Drop what was recorded so far (keeps the bench's memory flat between runs)."""
        with self.lock:
            self.calls.clear()
            self.responses.clear()
            self.ephemerals.clear()
            for messages in self.messages.values():
                messages.clear()


@dataclass
class Outcome:
    ok: bool
    # Set when the request's work ends with a response_url post worth waiting for.
    done: threading.Event | None = None
    deferred: bool = False  # acked "working on it"; the answer came later


Request = Callable[[], Outcome]


def run(requests: Sequence[Request], concurrency: int, *, server_pid: int | None = None) -> Summary:
    """Send every request with `concurrency` users; latency is to the HTTP answer (the ack).

    When a request also has a `done` event, the user waits for it before the next
    request, and the time to it is reported as `done_p50` / `done_p99`. With
    `server_pid`, the server's CPU time per request is reported as `cpu_ms`: unlike
    latency, it hardly moves when other work shares the machine.
    """
    lock = threading.Lock()
    position = 0
    acks: list[float] = []
    dones: list[float] = []
    errors = 0
    deferred = 0
    start = threading.Barrier(concurrency + 1)

    def user() -> None:
        nonlocal position, errors, deferred
        start.wait()
        while True:
            with lock:
                if position >= len(requests):
                    return
                request = requests[position]
                position += 1
            t0 = time.perf_counter()
            try:
                outcome = request()
            except Exception:  # a failed request counts as an error, not a crash of the run
                outcome = Outcome(False)
            t1 = time.perf_counter()
            finished = outcome.done.wait(DONE_TIMEOUT) if outcome.done is not None else None
            t2 = time.perf_counter()
            with lock:
                if not outcome.ok or finished is False:
                    errors += 1
                if outcome.deferred:
                    deferred += 1
                acks.append(t1 - t0)
                if finished:
                    dones.append(t2 - t0)

    threads = [threading.Thread(target=user, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    extra: dict[str, float] = {"deferred": float(deferred)}
    if server_pid and requests:
        # Buttons finish after their ack: let their work end before reading the clock.
        time.sleep(0.05)
        extra["cpu_ms"] = (cpu_seconds(server_pid) - cpu_before) * 1000 / len(requests)
    if dones:
        done = Summary.of(dones, errors=0, wall_s=wall)
        extra.update(done_p50=done.p50, done_p95=done.p95, done_p99=done.p99)
    return Summary.of(acks, errors=errors, wall_s=wall, **extra)

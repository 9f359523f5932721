"""Latency summaries: medians and nearest-rank percentiles, in milliseconds."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation): a value that was actually observed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Summary:
    """What one run of one request kind measured; times in milliseconds."""

    n: int
    errors: int
    p50: float
    p95: float
    p99: float
    max: float
    per_second: float
    extra: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, latencies_s: list[float], *, errors: int, wall_s: float, **extra: float) -> Summary:
        ms = [x * 1000 for x in latencies_s]
        return cls(
            n=len(ms),
            errors=errors,
            p50=statistics.median(ms) if ms else math.nan,
            p95=percentile(ms, 95),
            p99=percentile(ms, 99),
            max=max(ms) if ms else math.nan,
            per_second=len(ms) / wall_s if wall_s > 0 else math.nan,
            extra=dict(extra),
        )


def ratio(value: float, baseline: float) -> float:
    if not baseline or math.isnan(baseline) or math.isnan(value):
        return math.nan
    return value / baseline


def fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"

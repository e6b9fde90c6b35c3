"""Percentiles and summaries of latency samples (microseconds)."""
from __future__ import annotations

import math
from typing import Sequence

KEYS = ("min", "p50", "p90", "p99", "p999", "max", "mean")


def percentile(sorted_vals: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not sorted_vals:
        return math.nan
    if len(sorted_vals) == 1:
        return float(sorted_vals[0])
    pos = (len(sorted_vals) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    frac = pos - lo
    return float(sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * frac)


def summarize(samples: Sequence[float]) -> dict[str, float | None]:
    """min/p50/p90/p99/p99.9/max/mean, rounded to 0.1 us; None for no samples."""
    if not samples:
        return {k: None for k in KEYS}
    s = sorted(samples)
    out = {
        "min": s[0], "p50": percentile(s, 50), "p90": percentile(s, 90),
        "p99": percentile(s, 99), "p999": percentile(s, 99.9), "max": s[-1],
        "mean": sum(s) / len(s),
    }
    return {k: round(float(v), 1) for k, v in out.items()}

"""The measure layer: interrupt latency, per source, on a board or a started target.

- :mod:`.model` — :class:`Sample`, :class:`SourceResult`, :class:`Run` and their JSON;
- :mod:`.trials` — the trial engine (N trials per source over one Link), :func:`ticks_delta`;
- :mod:`.stats` — percentiles and summaries;
- :mod:`.report` — table, JSON, CSV, PNG;
- :mod:`.run` — :func:`measure`, the strategy (start a target → deploy → REPL → app → trials).

``from irqkit_host.measure import measure; run = measure(source="soft", count=500)``
"""
from __future__ import annotations

from .model import Run, Sample, SourceResult
from .report import table, write_csv, write_json, write_plot
from .run import measure
from .stats import percentile, summarize
from .trials import (BASELINE_MAX, DEFAULT_COUNT, GIVE_UP_AFTER, ORDER, TIMER_PERIOD_US, TRIAL_TIMEOUT_S,
                     Measurer, Progress, choose_sources, measure_session, ticks_delta)

__all__ = [
    "BASELINE_MAX", "DEFAULT_COUNT", "GIVE_UP_AFTER", "ORDER", "TIMER_PERIOD_US", "TRIAL_TIMEOUT_S",
    "Measurer", "Progress", "Run", "Sample", "SourceResult", "choose_sources", "measure",
    "measure_session", "percentile", "summarize", "table", "ticks_delta", "write_csv",
    "write_json", "write_plot",
]

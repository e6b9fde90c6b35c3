"""Report outputs of a :class:`~.model.Run`: the terminal table, JSON, CSV of raw samples,
a PNG histogram + CDF."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from .model import Run


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def table(run: Run) -> str:
    head = (f"{'source':<7} {'mode':<6} {'n':>6} {'lost':>5} | "
            f"{'rtt p50':>8} {'p90':>8} {'p99':>8} {'p99.9':>8} {'max':>8} | "
            f"{'dev p50':>8} {'p99':>8} {'max':>8} | {'ping p50':>8} {'p99':>8} | "
            f"{'added p50':>9} {'p99':>8}")
    lines = [f"target: {run.port}  board: {run.board}  runtime: {run.runtime}   (all times in us)",
             head, "-" * len(head)]
    for r in run.results:
        j = r.to_json()
        rt, dv, bl, ad = j["rtt_us"], j["device_us"], j["baseline_rtt_us"], j["added_us"]
        lines.append(
            f"{r.source:<7} {r.mode[:6]:<6} {j['count']:>6} {r.lost:>5} | "
            f"{_fmt(rt['p50']):>8} {_fmt(rt['p90']):>8} {_fmt(rt['p99']):>8} {_fmt(rt['p999']):>8} "
            f"{_fmt(rt['max']):>8} | {_fmt(dv['p50']):>8} {_fmt(dv['p99']):>8} {_fmt(dv['max']):>8} | "
            f"{_fmt(bl['p50']):>8} {_fmt(bl['p99']):>8} | {_fmt(ad['p50']):>9} {_fmt(ad['p99']):>8}"
            + (f"   error: {r.error}" if r.error else ""))
    lines.append("added = rtt - ping (p50 - p50, p99 - p99): what the source's path adds to "
                 "the PING round trip (the transport baseline)")
    if any(r.source == "timer" for r in run.results):
        lines.append("timer: rtt = interval between EVENT arrivals at the host (no added); "
                     "device = ISR entry -> task start on the device clock")
    return "\n".join(lines)


def write_json(run: Run, path: str) -> None:
    Path(path).write_text(json.dumps(run.to_json(), indent=2) + "\n")


def write_csv(run: Run, path: str) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "trial", "token", "rtt_us", "device_us"])
        baseline_done = False
        for r in run.results:
            if not baseline_done:
                for i, v in enumerate(r.baseline_rtt_us):
                    w.writerow(["ping", i, "", f"{v:.3f}", ""])
                baseline_done = True
            for s in r.samples:
                w.writerow([r.source, s.trial, s.token,
                            "" if s.rtt_us is None else f"{s.rtt_us:.3f}",
                            "" if s.device_us is None else f"{s.device_us:.3f}"])


def write_plot(run: Run, path: str) -> None:
    # matplotlib (and numpy) are imported only when a plot is asked for: a slow import,
    # and the rest of irqkit works without them.
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax_h, ax_c) = plt.subplots(1, 2, figsize=(12, 4.5))
    series: list[tuple[str, list[float]]] = []
    if run.results and run.results[0].baseline_rtt_us:
        series.append(("ping (baseline)", run.results[0].baseline_rtt_us))
    for r in run.results:
        vals = [s.rtt_us for s in r.samples if s.rtt_us is not None and s.rtt_us > 0]
        if vals and r.source != "timer":
            series.append((f"{r.source} rtt", vals))
        dev = [s.device_us for s in r.samples if s.device_us is not None and s.device_us > 0]
        if dev:
            series.append((f"{r.source} device", dev))
    if series:
        lo = max(min(min(v) for _, v in series), 0.1)
        hi = max(max(v) for _, v in series)
        bins = np.logspace(np.log10(lo), np.log10(hi * 1.01 + 0.1), 60)
        for label, vals in series:
            ax_h.hist(vals, bins=bins, histtype="step", label=label)
            xs = np.sort(vals)
            ax_c.plot(xs, np.arange(1, len(xs) + 1) / len(xs), label=label)
    for ax in (ax_h, ax_c):
        ax.set_xscale("log")
        ax.set_xlabel("latency (us)")
        ax.grid(True, which="both", alpha=0.3)
    ax_h.set_ylabel("trials")
    ax_h.set_title("histogram")
    ax_c.set_ylabel("fraction of trials")
    ax_c.set_title("CDF")
    ax_c.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"irqkit measure — {run.board} ({run.runtime}) on {run.port}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

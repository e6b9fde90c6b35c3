"""``irqkit report``: merge the JSON results of many runs (many targets) into one table/CSV."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ..errors import UsageError

COLUMNS = ("target", "device_id", "host", "started_at", "board", "runtime", "source", "n",
           "requested", "lost", "rtt_p50", "rtt_p99", "dev_p50", "dev_p99", "ping_p50", "added_p50", "added_p99", "note")


def load_results(paths: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """-> [(path, result dict)]; a file that is missing or not an irqkit result: one line."""
    out = []
    for p in paths:
        try:
            data = json.loads(Path(p).read_text())
        except OSError as exc:
            raise UsageError(f"{p}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise UsageError(f"{p}: not JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("target"), dict) \
                or not isinstance(data.get("results"), list):
            raise UsageError(f"{p}: not an irqkit measure --json result")
        out.append((p, data))
    return out


def _num(v: Any) -> str:
    return "" if v is None else f"{v:.1f}"


def rows(results: list[tuple[str, dict[str, Any]]]) -> list[dict[str, str]]:
    """One row per (run, source), plus one per skipped source; the target is identified by
    port, device id, host and start time (schema 1 files leave the newer fields empty)."""
    out = []
    for _path, d in results:
        t = d["target"]
        base = {"target": str(t.get("port", "")), "device_id": str(t.get("device_id") or ""),
                "host": str(t.get("host", "")), "started_at": str(t.get("started_at", "")),
                "board": str(t.get("board", "")), "runtime": str(t.get("runtime", "")),
                "requested": str(d.get("requested", ""))}
        for r in d["results"]:
            out.append(dict(base, source=str(r.get("source", "")), n=str(r.get("count", "")),
                            lost=str(r.get("lost", "")),
                            rtt_p50=_num(r.get("rtt_us", {}).get("p50")),
                            rtt_p99=_num(r.get("rtt_us", {}).get("p99")),
                            dev_p50=_num(r.get("device_us", {}).get("p50")),
                            dev_p99=_num(r.get("device_us", {}).get("p99")),
                            ping_p50=_num(r.get("baseline_rtt_us", {}).get("p50")),
                            # files before 2026-12-02 have no added_us: left empty
                            added_p50=_num((r.get("added_us") or {}).get("p50")),
                            added_p99=_num((r.get("added_us") or {}).get("p99")),
                            note=str(r.get("error", ""))))
        for s in d.get("skipped", []):
            out.append(dict(base, source=str(s.get("source", "")), n="", lost="", rtt_p50="",
                            rtt_p99="", dev_p50="", dev_p99="", ping_p50="",
                            added_p50="", added_p99="",
                            note="skipped: " + str(s.get("reason", ""))))
    return out


def report_table(results: list[tuple[str, dict[str, Any]]]) -> str:
    rs = rows(results)
    targets = {(r["target"], r["device_id"], r["host"], r["started_at"]) for r in rs}
    widths = {c: max([len(c)] + [len(r[c]) for r in rs]) for c in COLUMNS if c != "note"}
    lines = ["  ".join(f"{c:<{widths[c]}}" for c in widths) + "  note"]
    for r in rs:
        lines.append("  ".join(f"{r[c]:<{widths[c]}}" for c in widths) + "  " + r["note"])
    lines.append(f"{len(results)} run(s), {len(targets)} target(s)   (all times in us)")
    return "\n".join(lines)


def report_csv(results: list[tuple[str, dict[str, Any]]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(rows(results))
    return buf.getvalue()

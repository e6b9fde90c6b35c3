"""What a measurement is: samples, per-source results and a run, and their JSON shape
(ARCHITECTURE.md §5, ``irqkit_host/measure_schema.json``)."""

from __future__ import annotations

import datetime
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import irqkit

from .stats import summarize

#: bumped when a field changes meaning or moves (2: target identity, skipped, hello.port_module);
#: new fields (results[].added_us) do not bump it
SCHEMA_VERSION = 2


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def hello_json(hello: dict[str, Any]) -> dict[str, Any]:
    """The HELLO info as written to JSON: the wire's ``port`` (the firmware's port module)
    becomes ``port_module``, so "port" means one thing in a result: the target's URL."""
    return {("port_module" if k == "port" else k): v for k, v in hello.items()}



@dataclass
class Sample:
    trial: int
    token: int
    rtt_us: float | None      # host round trip (timer: interval between arrivals)
    device_us: float | None   # device ISR entry -> task start
    t_isr: int | None = None


def added(rtt: dict[str, float | None], ping: dict[str, float | None]) -> dict[str, float | None]:
    """What the interrupt path adds to the transport: rtt(source) - rtt(ping), at p50 and
    p99 (the PING round trip is the transport baseline); None without samples."""
    out: dict[str, float | None] = {}
    for k in ("p50", "p99"):
        a, b = rtt[k], ping[k]
        out[k] = None if a is None or b is None else round(a - b, 1)
    return out


@dataclass
class SourceResult:
    source: str
    requested: int
    mode: str = ""
    samples: list[Sample] = field(default_factory=list)
    baseline_rtt_us: list[float] = field(default_factory=list)
    lost: int = 0                 # trials sent and not answered (or answered wrongly)
    not_run: int = 0              # trials never sent: the run ended first
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        rtt = [s.rtt_us for s in self.samples if s.rtt_us is not None]
        dev = [s.device_us for s in self.samples if s.device_us is not None]
        rtt_s, ping_s = summarize(rtt), summarize(self.baseline_rtt_us)
        out: dict[str, Any] = {
            "source": self.source, "count": len(self.samples), "lost": self.lost,
            "not_run": self.not_run,
            "mode": self.mode,
            "rtt_us": rtt_s, "device_us": summarize(dev),
            "baseline_rtt_us": ping_s,
            # timer: no request, the rtt is an arrival interval: nothing to subtract from
            "added_us": added(rtt_s if self.source != "timer" else summarize([]), ping_s),
        }
        if self.source == "timer":
            out["rtt_note"] = "timer: rtt_us is the interval between EVENT arrivals at the host"
        out.update(self.extra)
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class Run:
    port: str
    board: str
    runtime: str = ""
    hello: dict[str, Any] = field(default_factory=dict)
    results: list[SourceResult] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    host_link: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    requested: int = 0                 # trials asked for per source
    skipped: dict[str, str] = field(default_factory=dict)   # source -> why it was not measured
    started_at: str = field(default_factory=_now)
    host: str = field(default_factory=socket.gethostname)
    device_id: str | None = None
    malformed: int = 0            # device replies that did not decode (host_link.malformed)
    malformed_first: str = ""
    phases: list[tuple[str, float]] = field(default_factory=list)   # (what, seconds), in order
    link: str = ""                # the host link's hot path: "fd" (a local tty) or "pyserial"

    def phase(self, name: str, since: float) -> float:
        """Record a phase that began at perf_counter() ``since``; -> now (the next one's start)."""
        now = time.perf_counter()
        self.phases.append((name, now - since))
        return now

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "target": {"port": self.port, "board": self.board, "runtime": self.runtime,
                       "irqkit_version": irqkit.VERSION, "device_id": self.device_id,
                       "host": self.host, "started_at": self.started_at, "link": self.link},
            "requested": self.requested,
            "results": [r.to_json() for r in self.results],
            "skipped": [{"source": s, "reason": why} for s, why in self.skipped.items()],
            "stats": self.stats,
            "hello": hello_json(self.hello),
            "host_link": self.host_link,
            "complete": self.error is None,
        }
        if self.error:
            d["error"] = self.error
        return d

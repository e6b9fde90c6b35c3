"""`irqkit measure`: round-trip interrupt latency, per source, on a board or the simulator.

For every trial the host timestamps with ``time.perf_counter_ns`` around the trigger and
the device's EVENT reply (host RTT); the reply carries the device's own timestamps (ISR
entry and task start), giving the device-side ISR -> task latency. PING round trips give
the transport baseline. Results: a table, JSON (ARCHITECTURE.md §5), CSV, PNG.

With no ``--port`` a simulator is started, the firmware deployed to its flash with the
same deploy a real board gets, measured and stopped.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from irqkit import proto

from .boards import load_board
from .cli import CliError
from .firmware import app_start_code
from .link import DeviceError, Link, LinkError, LinkTimeout
from .stats import summarize
from .triggers import GpioTrigger, TriggerError, make_trigger

DEFAULT_COUNT = 1000
ORDER = ("uart", "gpio", "timer", "soft")
TRIAL_TIMEOUT_S = 1.0
GIVE_UP_AFTER = 20            # consecutive lost trials: the device stopped answering
TIMER_PERIOD_US = 1000
BASELINE_MAX = 1000           # PINGs for the transport baseline (enough for p99.9)
_WRAP = 1 << 30


def ticks_delta(later: int, earlier: int) -> int:
    """Device ticks difference, wrap-aware (MicroPython ticks wrap at 2**30)."""
    d = (later - earlier) % _WRAP
    return d - _WRAP if d >= _WRAP // 2 else d


@dataclass
class Sample:
    trial: int
    token: int
    rtt_us: float | None      # host round trip (timer: interval between arrivals)
    device_us: float | None   # device ISR entry -> task start
    t_isr: int | None = None


@dataclass
class SourceResult:
    source: str
    requested: int
    mode: str = ""
    samples: list[Sample] = field(default_factory=list)
    baseline_rtt_us: list[float] = field(default_factory=list)
    lost: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        rtt = [s.rtt_us for s in self.samples if s.rtt_us is not None]
        dev = [s.device_us for s in self.samples if s.device_us is not None]
        out: dict[str, Any] = {
            "source": self.source, "count": len(self.samples), "lost": self.lost,
            "mode": self.mode,
            "rtt_us": summarize(rtt), "device_us": summarize(dev),
            "baseline_rtt_us": summarize(self.baseline_rtt_us),
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

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "target": {"port": self.port, "board": self.board, "runtime": self.runtime},
            "results": [r.to_json() for r in self.results],
            "stats": self.stats,
            "hello": self.hello,
            "host_link": self.host_link,
            "complete": self.error is None,
        }
        if self.error:
            d["error"] = self.error
        return d


class Progress:
    """A tqdm bar on stderr (silent when disabled or not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bar: Any = None

    @contextlib.contextmanager
    def task(self, desc: str, total: int) -> Iterator[Callable[[int], None]]:
        if not self.enabled:
            yield lambda n: None
            return
        from tqdm import tqdm
        with tqdm(total=total, desc=f"{desc:>8}", unit="trial", leave=False, file=sys.stderr) as bar:
            yield bar.update


class Measurer:
    """Drives the trials for each source over one Link."""

    def __init__(self, link: Link, ticks_hz: int, progress: Progress,
                 gpio_trigger: GpioTrigger | None = None,
                 timer_period_us: int = TIMER_PERIOD_US) -> None:
        self.link = link
        self.us_per_tick = 1e6 / ticks_hz if ticks_hz else 1.0
        self.progress = progress
        self.gpio_trigger = gpio_trigger
        self.timer_period_us = timer_period_us
        self.token = 0

    def _next_token(self) -> int:
        self.token = (self.token + 1) % (1 << 29)   # device keeps 29-bit values
        return self.token

    def _device_us(self, t_isr: int, t_task: int) -> float:
        return ticks_delta(t_task, t_isr) * self.us_per_tick

    def baseline(self, n: int, res: SourceResult) -> None:
        payload = b"irqkit\x00\x03"
        misses = 0
        with self.progress.task("ping", n) as tick:
            for _ in range(n):
                t0 = time.perf_counter_ns()
                try:
                    self.link.ping(payload, timeout=TRIAL_TIMEOUT_S)
                except LinkTimeout:
                    misses += 1
                    if misses >= GIVE_UP_AFTER:
                        raise LinkError("device stopped answering PING") from None
                    continue
                res.baseline_rtt_us.append((time.perf_counter_ns() - t0) / 1000)
                misses = 0
                tick(1)

    def arm(self, source: str, param: int = 0) -> str:
        payload = self.link.request(proto.ARM, proto.pack_arm(proto.SOURCE_IDS[source], param),
                                    expect_type=proto.ARM_R, timeout=2.0)
        _src, status, mode = proto.unpack_arm_r(payload)
        if status != proto.STATUS_OK:
            raise DeviceError(status, proto.ARM, f"cannot arm {source}")
        return mode

    def triggered(self, source: str, n: int, res: SourceResult) -> None:
        """uart / soft: TRIGGER frames answered by EVENTs carrying the request's seq."""
        src = proto.SOURCE_IDS[source]
        res.mode = self.arm(source)
        misses = 0
        with self.progress.task(source, n) as tick:
            for i in range(n):
                token = self._next_token()
                t0 = time.perf_counter_ns()
                try:
                    payload = self.link.request(proto.TRIGGER, proto.pack_trigger(src, token),
                                                expect_type=proto.EVENT, timeout=TRIAL_TIMEOUT_S)
                except LinkTimeout:
                    res.lost += 1
                    misses += 1
                    if misses >= GIVE_UP_AFTER:
                        raise LinkError(f"device stopped answering {source} triggers") from None
                    continue
                t1 = time.perf_counter_ns()
                misses = 0
                _s, tok, t_isr, t_task, _count = proto.unpack_event(payload)
                if tok != token:
                    res.lost += 1
                    continue
                res.samples.append(Sample(i, token, (t1 - t0) / 1000,
                                          self._device_us(t_isr, t_task), t_isr))
                tick(1)

    def gpio(self, n: int, res: SourceResult) -> None:
        if self.gpio_trigger is None:
            raise TriggerError("no gpio trigger backend (use --trigger)")
        res.mode = self.arm("gpio")
        expected = 0
        misses = 0
        with self.progress.task("gpio", n) as tick:
            for i in range(n):
                expected += 1
                t0 = time.perf_counter_ns()
                self.gpio_trigger.pulse()
                frame = self._wait_event(proto.SRC_GPIO, expected)
                if frame is None:
                    res.lost += 1
                    misses += 1
                    if misses >= GIVE_UP_AFTER:
                        raise LinkError("device stopped answering gpio edges") from None
                    continue
                t1 = time.perf_counter_ns()
                misses = 0
                _s, tok, t_isr, t_task, _c = frame
                res.samples.append(Sample(i, tok, (t1 - t0) / 1000,
                                          self._device_us(t_isr, t_task), t_isr))
                tick(1)

    def _wait_event(self, src: int, token: int) -> tuple[int, int, int, int, int] | None:
        deadline = time.monotonic() + TRIAL_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                f = self.link.recv_type(proto.EVENT, timeout=left)
            except LinkTimeout:
                return None
            ev = proto.unpack_event(f.payload)
            if ev[0] == src and ev[1] >= token:
                return ev

    def timer(self, n: int, res: SourceResult) -> None:
        period = self.timer_period_us
        res.mode = self.arm("timer", period)
        arrivals: list[int] = []
        ticks: list[tuple[int, int, int]] = []
        try:
            with self.progress.task("timer", n) as tick:
                deadline = time.monotonic() + n * period / 1e6 + 5.0
                while len(ticks) < n and time.monotonic() < deadline:
                    try:
                        f = self.link.recv_type(proto.EVENT, timeout=TRIAL_TIMEOUT_S)
                    except LinkTimeout:
                        break
                    now = time.perf_counter_ns()
                    ev = proto.unpack_event(f.payload)
                    if ev[0] != proto.SRC_TIMER:
                        continue
                    arrivals.append(now)
                    ticks.append((ev[1], ev[2], ev[3]))
                    tick(1)
        finally:
            self.arm("timer", 0)
            self._drain()
        if not ticks:
            res.lost = n
            return
        first = ticks[0][0]
        seen = {t[0] for t in ticks}
        res.lost = (ticks[-1][0] - first + 1) - len(seen) + max(0, n - len(ticks))
        period_err: list[float] = []
        for k, (tok, t_isr, t_task) in enumerate(ticks):
            rtt = (arrivals[k] - arrivals[k - 1]) / 1000 if k else None
            res.samples.append(Sample(k, tok, rtt, self._device_us(t_isr, t_task), t_isr))
            if k and tok == ticks[k - 1][0] + 1:
                period_err.append(abs(ticks_delta(t_isr, ticks[k - 1][1]) * self.us_per_tick - period))
        res.extra["period_us"] = period
        res.extra["period_error_us"] = summarize(period_err)

    def _drain(self) -> None:
        """Discard EVENTs still in flight after a timer stops."""
        while True:
            try:
                self.link.recv_type(proto.EVENT, timeout=0.05)
            except LinkTimeout:
                return


def choose_sources(requested: str, available: list[str]) -> tuple[list[str], list[str]]:
    """-> (to measure, skipped with reason lines)."""
    wanted = list(ORDER) if requested == "all" else [requested]
    chosen = [s for s in wanted if s in available]
    skipped = [s for s in wanted if s not in available]
    if requested != "all" and skipped:
        raise CliError(f"source {requested!r} is not available on this device "
                       f"(it offers: {', '.join(available) or 'none'})")
    return chosen, skipped


def measure_session(link: Link, ticks_hz: int, run: Run, sources: list[str], count: int,
                    progress: Progress, gpio_trigger: GpioTrigger | None,
                    timer_period_us: int = TIMER_PERIOD_US) -> None:
    """Measure each source into run.results; a disconnect keeps what was measured."""
    m = Measurer(link, ticks_hz, progress, gpio_trigger, timer_period_us)
    link.request(proto.RESET_STATS, b"", expect_type=proto.RESET_R, timeout=2.0)
    base = SourceResult("ping", count)
    m.baseline(min(count, BASELINE_MAX), base)
    for source in sources:
        res = SourceResult(source, count, baseline_rtt_us=base.baseline_rtt_us)
        run.results.append(res)
        try:
            if source in ("uart", "soft"):
                m.triggered(source, count, res)
            elif source == "gpio":
                m.gpio(count, res)
            else:
                m.timer(count, res)
        except (DeviceError, TriggerError) as exc:
            res.error = str(exc)
            res.lost = count - len(res.samples)
        except LinkError:
            res.lost = count - len(res.samples)
            raise
    run.stats = link.stats(timeout=2.0)


# -- output ---------------------------------------------------------------------------------

def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def table(run: Run) -> str:
    head = (f"{'source':<7} {'mode':<6} {'n':>6} {'lost':>5} | "
            f"{'rtt p50':>8} {'p90':>8} {'p99':>8} {'p99.9':>8} {'max':>8} | "
            f"{'dev p50':>8} {'p99':>8} {'max':>8} | {'ping p50':>8}")
    lines = [f"target: {run.port}  board: {run.board}  runtime: {run.runtime}   (all times in us)",
             head, "-" * len(head)]
    for r in run.results:
        j = r.to_json()
        rt, dv, bl = j["rtt_us"], j["device_us"], j["baseline_rtt_us"]
        lines.append(
            f"{r.source:<7} {r.mode[:6]:<6} {j['count']:>6} {r.lost:>5} | "
            f"{_fmt(rt['p50']):>8} {_fmt(rt['p90']):>8} {_fmt(rt['p99']):>8} {_fmt(rt['p999']):>8} "
            f"{_fmt(rt['max']):>8} | {_fmt(dv['p50']):>8} {_fmt(dv['p99']):>8} {_fmt(dv['max']):>8} | "
            f"{_fmt(bl['p50']):>8}" + (f"   error: {r.error}" if r.error else ""))
    if any(r.source == "timer" for r in run.results):
        lines.append("timer: rtt = interval between EVENT arrivals at the host; "
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


def write_outputs(run: Run, args: argparse.Namespace) -> None:
    if args.json:
        write_json(run, args.json)
    if args.csv:
        write_csv(run, args.csv)
    if args.plot:
        write_plot(run, args.plot)


# -- the command ------------------------------------------------------------------------------

def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before measuring if an output file cannot be written."""
    for flag in ("json", "csv", "plot"):
        path = getattr(args, flag)
        if path is None:
            continue
        parent = Path(path).resolve().parent
        if not parent.is_dir():
            raise CliError(f"--{flag} {path}: directory {parent} does not exist")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise CliError(f"--plot {args.plot}: the plot is a PNG, give a .png file name")


def measure(port: str | None = None, board: str | None = None, source: str = "all",
            count: int = DEFAULT_COUNT, trigger: str | None = None, runtime: str | None = None,
            progress: bool = False, timer_period_us: int = TIMER_PERIOD_US,
            log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> Run:
    """Measure interrupt latency; the Python API behind `irqkit measure`.

    port=None starts a simulator (runtime "micropython" or "cpython"), deploys the firmware
    to its flash, measures and stops it. Errors before measuring raise (LinkError,
    BoardError, CliError); a link failure while measuring is returned in ``Run.error``
    with everything measured until then kept.
    """
    if count <= 0:
        raise CliError(f"count must be a positive integer, got {count}")
    bd = load_board(board or "sim")
    with contextlib.ExitStack() as stack:
        bench_url = None
        if port is None:
            if "sim" not in bd:
                raise CliError(f"no --port given: the simulator has no personality for {bd['name']!r} "
                               "(its board file has no \"sim\" section)")
            from .simlaunch import start_sim
            from .deploy import deploy
            sim = stack.enter_context(start_sim(runtime=runtime, board=bd["name"]))
            port = sim.port
            bench_url = sim.bench
            log(f"simulator: {port} ({sim.runtime}); deploying firmware...")
            deploy(port, bd)
        from .session import DeviceSession
        session = stack.enter_context(DeviceSession(
            port, app_start_code(bd), soft_reset=bd["firmware"].get("layout") == "flat"))
        link = session.link
        assert link is not None
        info = session.hello_info
        raw_sources = info.get("sources", "")
        available = list(raw_sources) if isinstance(raw_sources, list) else [
            s for s in str(raw_sources).split(",") if s]
        sources, _skipped = choose_sources(source, available)
        run_ = Run(port=port, board=str(info.get("board", bd["name"])),
                   runtime=str(info.get("runtime", "")), hello=info)
        gpio_trigger = None
        if "gpio" in sources:
            spec = trigger or ("bench" if bench_url else bd["gpio"].get("trigger_backend")) or ""
            try:
                gpio_trigger = make_trigger(spec, ser=session.transport.serial, bench_url=bench_url,
                                            pin=bd["gpio"]["trigger_pin"])
                stack.callback(gpio_trigger.close)
            except TriggerError as exc:
                if source == "gpio":
                    raise
                sources.remove("gpio")
                log(f"irqkit measure: skipping gpio: {exc}")
        try:
            measure_session(link, session.ticks_hz, run_, sources, count, Progress(progress),
                            gpio_trigger, timer_period_us)
        except LinkError as exc:
            run_.error = str(exc)
        run_.host_link = link.counters()
        return run_


def run(args: argparse.Namespace) -> int:
    _check_outputs(args)
    run_ = measure(port=args.port, board=args.board, source=args.source,
                   count=args.count or DEFAULT_COUNT, trigger=args.trigger, runtime=args.runtime,
                   progress=not args.no_progress,
                   timer_period_us=args.timer_period_us or TIMER_PERIOD_US)
    print(table(run_))
    write_outputs(run_, args)
    if run_.error:
        raise CliError(run_.error + (" (partial results written)" if args.json or args.csv else ""))
    lost = sum(r.lost for r in run_.results)
    if lost:
        print(f"irqkit measure: warning: {lost} trial(s) lost (see the lost column and the "
              f"device stats)", file=sys.stderr)
    return 1 if any(r.error for r in run_.results) else 0

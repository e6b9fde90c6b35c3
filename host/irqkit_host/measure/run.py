"""``measure()``: the strategy behind ``irqkit measure``.

No port given: start the board's target (the simulator; see :mod:`irqkit_host.targets`),
deploy the firmware to it with the same deploy a real board gets, then — port given or
not — start the responder through the raw REPL, measure each source and stop.
"""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Callable

from ..appstart import app_start_code
from ..boards import load_board
from ..errors import LinkError, TriggerError, UsageError
from ..link.remote import slow_transport_warning
from ..link.session import DeviceSession
from ..targets import can_start, start_target
from ..triggers import make_trigger
from .model import Run
from .stats import summarize
from .trials import DEFAULT_COUNT, TIMER_PERIOD_US, Progress, choose_sources, measure_session


def measure(port: str | Any | None = None, board: str | None = None, source: str = "all",
            count: int = DEFAULT_COUNT, trigger: str | None = None, runtime: str | None = None,
            progress: bool = False, timer_period_us: int = TIMER_PERIOD_US,
            log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> Run:
    """Measure interrupt latency; the Python API behind `irqkit measure`.

    port: a path, pyserial URL, ``labgrid:PLACE`` or an open pyserial port object (left
    open; the caller owns it). port=None starts the board's target (the simulator, runtime "micropython" or
    "cpython"; the micro:bit in QEMU), deploys the firmware to it, measures and stops it.
    Errors before measuring raise an :class:`~irqkit_host.errors.IrqkitError` (LinkError,
    BoardError, UsageError, ...); a link failure while measuring is returned in
    ``Run.error`` with everything measured until then kept.
    """
    if count <= 0:
        raise UsageError(f"count must be a positive integer, got {count}")
    bd = load_board(board or "sim")
    phases: list[tuple[str, float]] = []     # Run.phases, also for the ones before the Run
    stops = _Stops(phases)
    t = time.perf_counter()
    with contextlib.ExitStack() as stack:
        bench_url = None
        if port is None:
            if not can_start(bd):
                raise UsageError(f"no --port given, and board {bd['name']!r} is not one irqkit can start "
                                 "here (only boards with a target: the simulator, QEMU)")
            stack.callback(stops.end, "stop target")   # LIFO: runs after the target stopped
            target = stack.enter_context(start_target(bd, runtime=runtime))
            t = _phase(phases, f"start {target.title}", t)
            port = target.port
            bench_url = target.bench
            if target.frozen:
                # a fresh board with irqkit frozen in its ROM (the simulator): as on a board
                # built with frozen modules, nothing to copy (`irqkit deploy` still copies
                # onto its flash, which comes first on sys.path)
                log(f"{target.title}: {port} ({target.runtime}); irqkit frozen in its ROM")
            else:
                # deferred: the deploy layer (mpremote's file half, the small-board build)
                # is loaded only for a target that gets a deploy, not on the simulator's path
                from ..deploy import deploy
                log(f"{target.title}: {port} ({target.runtime}); deploying firmware...")
                deploy(port, bd)
                t = _phase(phases, "deploy", t)
        stack.callback(stops.end, "stop app")       # runs after the session stopped
        session = _TimedSession(port, app_start_code(bd),
                                soft_reset=bd["firmware"].get("layout") == "flat")
        stack.enter_context(session)
        t = _phase(phases, "start app", t)
        phases[-1] = ("start app", phases[-1][1] - session.hello_s)
        phases.append(("HELLO", session.hello_s))
        stack.callback(stops.start)                 # runs first when the stack unwinds
        link = session.link
        assert link is not None
        info = session.hello_info
        raw_sources = info.get("sources", "")
        available = list(raw_sources) if isinstance(raw_sources, list) else [
            s for s in str(raw_sources).split(",") if s]
        sources, skipped = choose_sources(source, available)
        run_ = Run(port=session.port, board=str(info.get("board", bd["name"])),
                   runtime=str(info.get("runtime", "")), hello=info, requested=count,
                   device_id=str(info["id"]) if info.get("id") else None,
                   skipped={s: "the device does not offer it (HELLO sources: "
                               f"{','.join(available) or 'none'})" for s in skipped},
                   phases=phases, link="fd" if link.direct else "pyserial")
        gpio_trigger = None
        if "gpio" in sources:
            # a simulated board is driven through its bench channel, whatever its real wiring
            spec = trigger or ("bench" if bench_url else bd["gpio"].get("trigger_backend")) or ""
            try:
                gpio_trigger = make_trigger(spec, ser=session.transport.serial, bench_url=bench_url,
                                            pin=bd["gpio"]["trigger_pin"])
                stack.callback(gpio_trigger.close)
            except TriggerError as exc:
                if source == "gpio":
                    raise
                sources.remove("gpio")
                run_.skipped["gpio"] = str(exc)
                log(f"irqkit measure: skipping gpio: {exc}")
        try:
            measure_session(link, session.ticks_hz, run_, sources, count, Progress(progress),
                            gpio_trigger, timer_period_us)
        except LinkError as exc:
            run_.error = str(exc)
        if run_.results and (warning := slow_transport_warning(
                summarize(run_.results[0].baseline_rtt_us)["p50"], session.port)):
            log(f"irqkit measure: warning: {warning}")
        run_.host_link = link.counters()
        run_.host_link["malformed"] = run_.malformed
        run_.host_link["start_retries"] = session.start_retries
        if run_.malformed:
            log(f"irqkit measure: warning: the device sent {run_.malformed} malformed "
                f"reply(ies), counted in host_link.malformed (first: {run_.malformed_first})")
        return run_


class _TimedSession(DeviceSession):
    """A DeviceSession that remembers how long its HELLO took (``hello_s``)."""

    hello_s = 0.0

    def _hello(self) -> None:
        t = time.perf_counter()
        try:
            super()._hello()
        finally:
            self.hello_s = time.perf_counter() - t


def _phase(phases: list[tuple[str, float]], name: str, since: float) -> float:
    now = time.perf_counter()
    phases.append((name, now - since))
    return now


class _Stops:
    """Times the stop phases as the ExitStack unwinds: start() runs first, then each
    end(name) after the thing it names has stopped."""

    def __init__(self, phases: list[tuple[str, float]]) -> None:
        self.phases = phases
        self.t = 0.0

    def start(self) -> None:
        self.t = time.perf_counter()

    def end(self, name: str) -> None:
        if self.t:                # (not when the start failed before the unwinding was marked)
            self.t = _phase(self.phases, name, self.t)

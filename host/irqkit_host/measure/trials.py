"""The trial engine: N trials per source over one :class:`~irqkit_host.link.Link`.

For every trial the host timestamps with ``time.perf_counter_ns`` around the trigger and
the device's EVENT reply (host RTT); the reply carries the device's own timestamps (ISR
entry and task start), giving the device-side ISR -> task latency. PING round trips give
the transport baseline.
"""
from __future__ import annotations

import contextlib
import struct
import sys
import time
from typing import Any, Callable, Iterator

from irqkit import proto
from irqkit.compat import ticks_diff
from tqdm import tqdm

from ..errors import LinkError, TriggerError, UsageError
from ..link.frames import DeviceError, Frame, Link, LinkTimeout
from ..triggers import GpioTrigger
from .model import Sample, SourceResult, Run
from .stats import summarize

DEFAULT_COUNT = 1000
ORDER = ("uart", "gpio", "timer", "soft")
TRIAL_TIMEOUT_S = 1.0
GIVE_UP_AFTER = 20            # consecutive lost trials: the device stopped answering
TIMER_PERIOD_US = 1000
DRAIN_QUIET_S = 0.005   # after a timer's disarm: how long the wire must stay quiet of its EVENTs
BASELINE_MAX = 1000           # PINGs for the transport baseline (enough for p99.9)


def ticks_delta(later: int, earlier: int) -> int:
    """Device ticks difference, wrap-aware: the firmware's own ``ticks_diff`` (2**30 wrap)."""
    return int(ticks_diff(later, earlier))


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
        with tqdm(total=total, desc=f"{desc:>8}", unit="trial", leave=False, file=sys.stderr) as bar:
            yield bar.update


class DeviceSilent(LinkError):
    """GIVE_UP_AFTER trials in a row went unanswered (each already counted lost)."""


class MalformedReply(LinkError):
    """The device answered with a payload the protocol does not allow (the device's fault)."""


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
        self.malformed = 0         # replies whose payload did not decode (host_link.malformed)
        self.first_malformed = ""  # the first one, named in the run's log line

    def _decode(self, unpack: Callable[[bytes], Any], payload: bytes, what: str) -> Any:
        """Decode a device reply; a payload that does not decode is counted and raised as
        :class:`MalformedReply` (never a ValueError traceback)."""
        try:
            return unpack(payload)
        except (ValueError, struct.error, IndexError, UnicodeDecodeError) as exc:
            self._count_malformed(f"{what} reply: {exc} ({len(payload)} bytes)")
            raise MalformedReply(f"device sent a malformed {what} reply: {exc}") from None

    def _count_malformed(self, what: str) -> None:
        self.malformed += 1
        if not self.first_malformed:
            self.first_malformed = what

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
                    got = self.link.request(proto.PING, payload, expect_type=proto.PONG,
                                            timeout=TRIAL_TIMEOUT_S)
                    if got != payload:
                        self._count_malformed(f"PONG reply: does not echo the PING payload "
                                              f"({len(got)} bytes)")
                        raise LinkTimeout("malformed PONG")
                except LinkTimeout:
                    misses += 1
                    if misses >= GIVE_UP_AFTER:
                        raise DeviceSilent("device stopped answering PING") from None
                    continue
                res.baseline_rtt_us.append((time.perf_counter_ns() - t0) / 1000)
                misses = 0
                tick(1)

    def arm(self, source: str, param: int = 0) -> str:
        payload = self.link.request(proto.ARM, proto.pack_arm(proto.SOURCE_IDS[source], param),
                                    expect_type=proto.ARM_R, timeout=2.0)
        _src, status, mode = self._decode(proto.unpack_arm_r, payload, "ARM_R")
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
                        raise DeviceSilent(f"device stopped answering {source} triggers") from None
                    continue
                t1 = time.perf_counter_ns()
                try:
                    _s, tok, t_isr, t_task, _count = self._decode(proto.unpack_event, payload, "EVENT")
                except MalformedReply:
                    res.lost += 1      # counted twice on purpose: a lost trial and a malformed reply
                    misses += 1
                    if misses >= GIVE_UP_AFTER:
                        raise DeviceSilent(f"device stopped answering {source} triggers "
                                        f"(last reply malformed)") from None
                    continue
                misses = 0
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
                        raise DeviceSilent("device stopped answering gpio edges") from None
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
            try:
                ev = self._decode(proto.unpack_event, f.payload, "EVENT")
            except MalformedReply:
                continue
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
                    try:
                        ev = self._decode(proto.unpack_event, f.payload, "EVENT")
                    except MalformedReply:
                        continue
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
        """Discard the timer's EVENTs left over after it stopped. The responder removes the
        timer source (and its ring) in the task that sends ARM_R, so every tick's EVENT came
        before that reply and is among the frames the link kept meanwhile; a short look at
        the wire catches a device that sends one later."""
        self.link.drop_pending(_is_timer_event)
        while True:
            try:
                self.link.recv_type(proto.EVENT, timeout=DRAIN_QUIET_S)
            except LinkTimeout:
                return


def _is_timer_event(f: Frame) -> bool:
    return f.type == proto.EVENT and f.payload[:1] == bytes((proto.SRC_TIMER,))


def choose_sources(requested: str, available: list[str]) -> tuple[list[str], list[str]]:
    """-> (to measure, skipped with reason lines)."""
    wanted = list(ORDER) if requested == "all" else [requested]
    chosen = [s for s in wanted if s in available]
    skipped = [s for s in wanted if s not in available]
    if requested != "all" and skipped:
        raise UsageError(f"source {requested!r} is not available on this device "
                       f"(it offers: {', '.join(available) or 'none'})")
    return chosen, skipped


def measure_session(link: Link, ticks_hz: int, run: Run, sources: list[str], count: int,
                    progress: Progress, gpio_trigger: GpioTrigger | None,
                    timer_period_us: int = TIMER_PERIOD_US) -> None:
    """Measure each source into run.results; a disconnect keeps what was measured."""
    m = Measurer(link, ticks_hz, progress, gpio_trigger, timer_period_us)
    t = time.perf_counter()
    link.request(proto.RESET_STATS, b"", expect_type=proto.RESET_R, timeout=2.0)
    base = SourceResult("ping", count)
    m.baseline(min(count, BASELINE_MAX), base)
    t = run.phase(f"trials ping ({len(base.baseline_rtt_us)})", t)
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
        except (DeviceError, TriggerError, MalformedReply) as exc:
            res.error = str(exc)
            res.lost = count - len(res.samples)
        except LinkError as exc:
            # The link ended (disconnect, Ctrl-C) or the device went silent: the trial in
            # flight when it ended is lost; the ones never sent are not_run, not lost.
            if not isinstance(exc, DeviceSilent) and len(res.samples) + res.lost < count:
                res.lost += 1
            res.not_run = count - len(res.samples) - res.lost
            raise
        finally:
            t = run.phase(f"trials {source} ({len(res.samples)})", t)
    try:
        run.stats = link.stats(timeout=2.0)
    except LinkTimeout:
        raise
    except LinkError as exc:
        # a STATS reply that does not decode (the link layer raises LinkError for it):
        # the measured results stand, the stats are missing and say why
        if "bad STATS reply" not in str(exc):
            raise
        m._count_malformed(f"STATS reply: {exc}")
        run.stats = {"error": str(exc)}
    finally:
        run.phase("STATS", t)
        run.malformed = m.malformed
        run.malformed_first = m.first_malformed

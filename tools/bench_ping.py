#!/usr/bin/env python3
"""Benchmark: the harness's PING and uart trigger round trips against the transport floor,
a bare MicroPython poll-echo on a pty made the same way. Printed as ratios, not asserted.

    python tools/bench_ping.py [--rounds 7] [-n 300]

Harness: the simulator (MicroPython VM) with the firmware deployed and the latency
responder started exactly as ``irqkit measure`` does it; PING and uart TRIGGER -> EVENT
timed by ``irqkit measure``'s own trial code (irqkit_host.measure.trials.Measurer) over
its Link (on a pty: the file-descriptor hot path).
Floor: the same ``micropython`` binary behind a pty from ``os.openpty`` (raw mode,
non-blocking master as its stdin/stdout, like the simulator's launcher) runs a poll-echo:
poll, read what is waiting, write it back. The host writes the very bytes of a PING
(0x00 + frame) with ``os.write`` and waits for them as the harness waits (``wait_readable``:
poll without sleeping for up to 300 us, then block) + ``os.read``.
Rounds alternate floor / PING / uart; each round's p50 and p99 are taken, and the
medians over the rounds are compared. Goals (issue 12): PING p50 <= 1.2x the floor;
uart p50 <= 1.5x, p99 <= 2x.

The same PING through pyserial's calls on the same port (a Link with direct=False) runs
in each round too: what the host's file-descriptor hot path saves.
A second pass times the pieces of one PING on the host (encode, write, wait, read,
decode) and of one echo, so the README can say where the microseconds go.
"""
from __future__ import annotations

import argparse
import bisect
import json
import os
import select
import statistics
import subprocess
import sys
import time
import tty
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "firmware"), str(ROOT / "host")]

from irqkit import proto  # noqa: E402
from irqkit.frame import FrameDecoder, decode_frames  # noqa: E402
from irqkit.frame import encode as fw_encode  # noqa: E402
from irqkit_host.boards import load_board  # noqa: E402
from irqkit_host.deploy import app_start_code, deploy  # noqa: E402
from irqkit_host.link.codec import BulkDecoder, encode  # noqa: E402
from irqkit_host.errors import LinkError  # noqa: E402
from irqkit_host.link.frames import Link  # noqa: E402
from irqkit_host.link.session import DeviceSession  # noqa: E402
from irqkit_host.link.wire import FdWire, wait_readable  # noqa: E402
from irqkit_host.measure.model import SourceResult  # noqa: E402
from irqkit_host.measure.trials import Measurer, Progress  # noqa: E402
from irqkit_host.targets import start_target  # noqa: E402
from irqkit_host.targets.bench import BenchClient  # noqa: E402
from irqkit_host.targets.sim import micropython_path  # noqa: E402

PAYLOAD = b"irqkit\x00\x03"          # what Measurer.baseline sends
ECHO = """
import sys, select
p = select.poll()
p.register(0, select.POLLIN)
i = sys.stdin.buffer
o = sys.stdout.buffer
while True:
    p.poll(-1)
    d = i.read(256)
    if d:
        o.write(d)
"""


class BareEcho:
    """The micropython VM poll-echoing on a pty master, and the host's end of it."""

    def __init__(self) -> None:
        mp = micropython_path()
        if not mp:
            raise SystemExit("bench_ping: the micropython VM is not installed")
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)   # read() returns what is waiting
        self.proc = subprocess.Popen([mp, "-c", ECHO], stdin=self.master, stdout=self.master,
                                     start_new_session=True)
        self.fd = os.open(os.ttyname(self.slave), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.poll = select.poll()
        self.poll.register(self.fd, select.POLLIN)
        self.seq = 0

    def frame(self) -> bytes:
        self.seq = (self.seq + 1) & 0xFF
        return b"\x00" + encode(proto.PING, self.seq, PAYLOAD)

    def round_trip(self, data: bytes, marks: list[int] | None = None) -> None:
        os.write(self.fd, data)
        if marks is not None:
            marks.append(time.perf_counter_ns())
        got = 0
        while got < len(data):
            if not wait_readable(self.poll, 2.0):   # the harness's own wait (spin, then block)
                raise SystemExit("bench_ping: the bare echo stopped answering")
            if marks is not None and not got:
                marks.append(time.perf_counter_ns())
            got += len(os.read(self.fd, 4096))

    def trials(self, n: int) -> list[float]:
        out = []
        for _ in range(n):
            data = self.frame()
            t0 = time.perf_counter_ns()
            self.round_trip(data)
            out.append((time.perf_counter_ns() - t0) / 1000)
        return out

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for fd in (self.fd, self.master, self.slave):
            os.close(fd)


class TimedFdWire(FdWire):
    """FdWire that timestamps: write returned, poll woke, read returned."""

    marks: list[int] = []

    def write(self, data: bytes) -> None:
        self.marks.append(time.perf_counter_ns())
        super().write(data)
        self.marks.append(time.perf_counter_ns())

    def read(self, timeout: float) -> bytes:
        wait_readable(self._poll, timeout)
        self.marks.append(time.perf_counter_ns())
        data = os.read(self._fd, 65536)
        self.marks.append(time.perf_counter_ns())
        return data


def pct(vals: list[float], q: float) -> float:
    s = sorted(vals)
    return s[min(len(s) - 1, int(q * len(s)))]


def codec_costs(reps: int = 20000) -> dict[str, float]:
    """us per call: encoding a PING, decoding a PONG (+ delimiter), host codec vs irqkit.frame."""
    wire = encode(proto.PONG, 7, PAYLOAD)
    out: dict[str, float] = {}
    for name, fn in (
            ("encode, host codec", lambda: encode(proto.PING, 7, PAYLOAD)),
            ("encode, irqkit.frame", lambda: fw_encode(proto.PING, 7, PAYLOAD)),
            ("decode, host codec", lambda d=BulkDecoder(): d.feed(wire)),
            ("decode, irqkit.frame", lambda d=FrameDecoder(): decode_frames(wire, d))):
        t0 = time.perf_counter_ns()
        for _ in range(reps):
            fn()
        out[name] = (time.perf_counter_ns() - t0) / 1000 / reps
    return out


TICKS_MASK = 0x3FFFFFFF   # the VM's ticks_us wrap (30 bits, like a board's)


def breakdown(m: Measurer, echo: BareEcho, n: int,
              bench_url: str | None) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """Medians of the pieces of one harness PING and one bare echo (us), and the device's
    steps from the simulator's RX trace (bench `rxtrace`, on for the harness PINGs here).
    The device's wake and PONG-written stamps are on the host's clock (CLOCK_MONOTONIC),
    so each PING's wait splits into pty in, device, pty out."""
    link = m.link
    saved = link._wire                 # a bench-only look inside: the same fd, timestamped
    wire = TimedFdWire(link._ser)
    link._wire = wire
    names = ("request + encode", "os.write", "wait (pty, device, pty, wake)", "os.read",
             "decode + return")
    parts: dict[str, list[float]] = {k: [] for k in names}
    writes: list[int] = []
    wakes: list[int] = []
    bench = BenchClient(bench_url) if bench_url else None
    device: dict[str, Any] = {}
    try:
        if bench is not None:
            bench.cmd("rxtrace on")
        for _ in range(n):
            wire.marks = []
            t0 = time.perf_counter_ns()
            link.request(proto.PING, PAYLOAD, expect_type=proto.PONG, timeout=1.0)
            t_end = time.perf_counter_ns()
            if len(wire.marks) != 4:
                continue                   # the PONG came in two reads: not a clean sample
            w0, w1, wake, rd = wire.marks
            for k, v in zip(parts, (w0 - t0, w1 - w0, wake - w1, rd - wake, t_end - rd)):
                parts[k].append(v / 1000)
            writes.append(w1 // 1000)
            wakes.append(wake // 1000)
        if bench is not None:
            bench.cmd("rxtrace off")
            device = dict(json.loads(bench.cmd("rxtrace")))
    finally:
        link._wire = saved
        if bench is not None:
            bench.close()
    if device.get("n"):
        split = _split_wait(writes, wakes, device["wake"], device["sent"])
        device["split"] = split
    bare: dict[str, list[float]] = {"os.write": [], "wait (pty, VM, pty, wake)": [], "os.read": []}
    for _ in range(n):
        data = echo.frame()
        marks: list[int] = []
        t0 = time.perf_counter_ns()
        echo.round_trip(data, marks)
        t_end = time.perf_counter_ns()
        if len(marks) == 2:
            for k, v in zip(bare, (marks[0] - t0, marks[1] - marks[0], t_end - marks[1])):
                bare[k].append(v / 1000)
    return ({k: statistics.median(v) for k, v in parts.items() if v},
            {k: statistics.median(v) for k, v in bare.items() if v}, device)


def _split_wait(writes: list[int], wakes: list[int], dev_wake: list[int],
                dev_sent: list[int]) -> dict[str, float]:
    """Pair each host PING (write returned, poll woke; us) with the device chunk that woke
    within 1 ms after it; medians of pty in / device / pty out over the pairs."""
    dev = sorted(zip(dev_wake, dev_sent))
    keys = [w for w, _ in dev]
    pin: list[int] = []
    on_dev: list[int] = []
    pout: list[int] = []
    for w, k in zip(writes, wakes):
        w &= TICKS_MASK
        i = bisect.bisect_left(keys, w)
        if i < len(keys) and keys[i] - w < 1000:
            dw, ds = dev[i]
            pin.append(dw - w)
            on_dev.append(ds - dw)
            pout.append(((k & TICKS_MASK) - ds) & TICKS_MASK)
    if not pin:
        return {}
    return {"pairs": len(pin), "pty in (host write -> device wake)": statistics.median(pin),
            "device (wake -> PONG written)": statistics.median(on_dev),
            "pty out (-> host poll wake)": statistics.median(pout)}


def one_round(echo: BareEcho, m: Measurer, slow: Measurer, n: int) -> dict[str, list[float]]:
    """n round trips of each path, one path after the other -> the rtts (us) per path."""
    ping, uart, slow_ping = (SourceResult("ping", n), SourceResult("uart", n),
                             SourceResult("ping", n))
    floor = echo.trials(n)
    m.baseline(n, ping)
    m.triggered("uart", n, uart)
    slow.baseline(n, slow_ping)
    return {"floor": floor, "ping": ping.baseline_rtt_us,
            "uart": [x.rtt_us for x in uart.samples if x.rtt_us is not None],
            "ping_pyserial": slow_ping.baseline_rtt_us}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    ap.add_argument("-n", type=int, default=300, help="round trips per path per round (default 300)")
    args = ap.parse_args()
    bd = load_board("sim")
    series: dict[str, list[tuple[float, float]]] = {"floor": [], "ping": [], "uart": [],
                                                    "ping_pyserial": []}
    echo = BareEcho()
    stopped = ""
    try:
        with start_target(bd, runtime="micropython") as target:
            if not target.frozen:
                deploy(target.port, bd)
            with DeviceSession(target.port, app_start_code(bd)) as s:
                assert s.link is not None
                m = Measurer(s.link, s.ticks_hz, Progress(False))
                # the same port through pyserial's calls: what the fd hot path saves
                slow = Measurer(Link(s.transport.serial, name=target.port, direct=False),
                                s.ticks_hz, Progress(False))
                print(f"link: {'file descriptor' if s.link.direct else 'pyserial'} on {target.port}; "
                      f"device: {s.hello_info.get('fw')} {s.hello_info.get('runtime')}", file=sys.stderr)
                echo.trials(100)            # warm up
                m.baseline(100, SourceResult("ping", 100))
                for r in range(args.rounds):
                    try:
                        got = one_round(echo, m, slow, args.n)
                    except LinkError as exc:
                        # seen on the simulator now and then: the VM stops answering (device side)
                        stopped = f"round {r + 1} of {args.rounds} failed: {exc}"
                        print(f"bench_ping: {stopped}; reporting the rounds before it", file=sys.stderr)
                        break
                    for k, v in got.items():
                        series[k].append((pct(v, .5), pct(v, .99)))
                    print(f"round {r + 1}: " + "  ".join(
                        f"{k} {v[-1][0]:.1f}/{v[-1][1]:.1f}" for k, v in series.items()), file=sys.stderr)
                parts, bare_parts, device = (breakdown(m, echo, args.n * 2, target.bench)
                                             if not stopped else ({}, {}, {}))
    finally:
        echo.close()
    n_rounds = min(len(v) for v in series.values())
    if not n_rounds:
        print(f"bench_ping: no complete round ({stopped})", file=sys.stderr)
        return 1
    med: dict[str, Any] = {k: (statistics.median(a for a, _ in v[:n_rounds]),
                               statistics.median(b for _, b in v[:n_rounds]))
                           for k, v in series.items()}
    if stopped:
        print(f"NOTE: {stopped}")
    print(f"{n_rounds} interleaved rounds x {args.n} round trips; medians of each round's "
          f"p50 / p99 (us), {time.strftime('%Y-%m-%d')}")
    names = {"floor": "bare poll-echo (same VM, same kind of pty)", "ping": "harness PING -> PONG",
             "uart": "harness uart TRIGGER -> EVENT",
             "ping_pyserial": "harness PING, host link on pyserial calls"}
    for k, (p50, p99) in med.items():
        print(f"  {names[k]:<44} p50 {p50:7.1f}  p99 {p99:7.1f}")
    f50, f99 = med["floor"]
    print(f"ratio PING/floor: p50 {med['ping'][0] / f50:.2f}x (goal <= 1.2x), p99 {med['ping'][1] / f99:.2f}x")
    print(f"ratio uart/floor: p50 {med['uart'][0] / f50:.2f}x (goal <= 1.5x), "
          f"p99 {med['uart'][1] / f99:.2f}x (goal <= 2x)")
    print(f"host link, fd hot path vs pyserial calls: PING p50 {med['ping'][0] - med['ping_pyserial'][0]:+.1f} us, "
          f"p99 {med['ping'][1] - med['ping_pyserial'][1]:+.1f} us")
    if not parts:
        return 0
    print("one harness PING on the host, medians (us): " +
          ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))
    print("one bare echo on the host, medians (us): " +
          ", ".join(f"{k} {v:.1f}" for k, v in bare_parts.items()))
    if device.get("split"):
        sp = dict(device["split"])
        pairs = sp.pop("pairs")
        print(f"the harness PING's wait, split on the shared clock ({pairs} PINGs), medians (us): " +
              ", ".join(f"{k} {v:.0f}" for k, v in sp.items()))
    if device.get("n"):
        print(f"the device's part, step by step (simulator's rxtrace, {device['n']} PINGs), medians (us): " +
              ", ".join(f"{k} {v}" for k, v in device["steps"]))
    print("codec, us per frame: " + ", ".join(f"{k} {v:.2f}" for k, v in codec_costs().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A 100 000-edge storm on one pin of the simulator beside a 100 Hz timer source.

The firmware (irqkit core + MachinePort on the sim's `machine`) runs in the VM behind the
pty; the storm is the bench's `train` on the board's hardware clock. The storm pin is a
GpioSource guarded by a StormGuard whose poll reads an edge counter on the pad (the sim's
pulse-counter view of the wire, as machine.Counter / PCNT on a board). Prints the 100 Hz
source's ISR -> task latency p50/p99 in the quiet phase and during the storm, with the
guard and (baseline, same run, interleaved) without it. A benchmark: nothing is asserted.

    python3 tools/bench_storm.py [--runtime micropython|cpython] [--rounds N]

tests/e2e/test_storm_sim.py runs storm() once and asserts the accounting.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "host"), str(ROOT / "firmware")]

from irqkit_host.targets.bench import BenchClient  # noqa: E402
from irqkit_host.targets.sim import start_sim  # noqa: E402

EDGES = 100000          # both edges of 50 000 pulses
RATE_HZ = 20000         # pulses per second: an edge every 25 us
TICK_US = 10000         # the second source: 100 Hz
BUDGET = 200            # edges per window before the guard polls (10 kHz)
WINDOW_US = 20000
POLL_US = 2000
QUIET_S = 1.5

# Runs on the board. Per tick: ISR -> task latency and the wire's edge count then, so the
# host can tell quiet ticks from storm ticks without a clock shared with the VM.
SETUP = """
from irqkit.ports.machine_port import MachinePort
from irqkit.sched import Scheduler
from irqkit.hwsource import GpioSource, TimerSource
from irqkit.storm import StormGuard
from irqkit.report import source_stats
from irqkit.compat import ticks_diff
from simboard import board as _B
from array import array
import json
port = MachinePort(timer_id=-1, uart_id=0)
sched = Scheduler(port)
pad = _B.board().pad("P0")
def wire():
    return pad.rises + pad.falls
NT = 2000
lat = array('i', [0] * NT)
wc = array('i', [0] * NT)
ti = array('i', [0] * NT)
nt = [0]
def on_tick(ev):
    i = nt[0]
    if i < NT:
        lat[i] = ticks_diff(ev.t_task, ev.t_isr)
        ti[i] = ev.t_isr
        wc[i] = wire()
    nt[0] = i + 1
seen = [0]
def on_storm(ev):
    seen[0] += ev.count
src = sched.add(GpioSource("storm", on_storm, pin="P0", trigger="both", prio=1, capacity=64))
g = None
if GUARD:
    g = StormGuard(src, %(budget)d, %(window)d, %(poll)d, counter=wire).attach(sched)
tim = sched.add(TimerSource("tick", on_tick, %(tick)d, prio=4, capacity=16))
w0 = wire()
def result():
    s = source_stats(src)
    d = {"src": s, "wire0": w0, "wire": wire(), "ticks": nt[0],
         "lat": list(lat[:min(nt[0], NT)]), "wc": list(wc[:min(nt[0], NT)]),
         "ti": list(ti[:min(nt[0], NT)]),
         "tick": source_stats(tim), "seen": seen[0]}
    if g is not None:
        d["guard"] = g.stats()
        d["counted"] = g.counted()
    return json.dumps(d)
""" % {"budget": BUDGET, "window": WINDOW_US, "poll": POLL_US, "tick": TICK_US}


def _edges(bench: BenchClient, pin: str = "P0") -> int:
    r, f = bench.cmd("edges %s" % pin).split()
    return int(r) + int(f)


def storm(board: Any, guard: bool = True, edges: int = EDGES, rate_hz: int = RATE_HZ,
          quiet_s: float = QUIET_S, timeout_s: float = 120.0) -> dict[str, Any]:
    """One run on a started SimBoard: quiet, storm, quiet. Returns the board's counters,
    the bench's edge counts and the tick latencies split by phase."""
    from mpremote.transport_serial import SerialTransport

    t = SerialTransport(board.port, baudrate=115200)
    try:
        t.enter_raw_repl(soft_reset=True)
        board.wait_ready()
        t.exec("GUARD = %d\n" % (1 if guard else 0) + SETUP)
        with BenchClient(board.bench) as bench:
            bench.cmd("set P0 0")
            e0 = _edges(bench)
            # the board runs until told to stop: quiet, then the storm, then quiet again
            t.exec_raw_no_follow("sched.run(until_ms=%d)" % int(timeout_s * 1000))
            time.sleep(quiet_s)
            bench.cmd("train P0 %d %d" % (edges // 2, rate_hz))
            t_storm = time.monotonic()
            deadline = t_storm + timeout_s
            while bench.state()["bench"]["stimulus_active"] and time.monotonic() < deadline:
                time.sleep(0.05)
            storm_s = time.monotonic() - t_storm
            time.sleep(quiet_s)        # quiet again: the guard goes back to interrupts
            e1 = _edges(bench)
            line = bench.state()["lines"].get("P0", {})
        # stop the run: Ctrl-C ends sched.run (the sim raises KeyboardInterrupt at idle)
        t.serial.write(b"\x03")
        t.follow(timeout=30)
        res = json.loads(t.eval("result()", parse=False))
    finally:
        try:
            t.exit_raw_repl()
        finally:
            t.close()
    res["generated"] = e1 - e0
    res["storm_s"] = storm_s
    res["line"] = line
    lo, hi = res["wire0"], res["wire0"] + res["generated"]
    quiet = [x for x, w in zip(res["lat"], res["wc"]) if w == lo or w == hi]
    during = [x for x, w in zip(res["lat"], res["wc"]) if lo < w < hi]
    res["quiet"] = quiet
    res["during"] = during
    # ISR entry jitter: |interval between consecutive ticks - period|, by the later tick's phase
    jq: list[int] = []
    jd: list[int] = []
    ti, wc = res["ti"], res["wc"]
    for k in range(1, len(ti)):
        e = abs(((ti[k] - ti[k - 1] + 0x20000000) & 0x3FFFFFFF) - 0x20000000 - TICK_US)
        (jd if lo < wc[k] < hi or lo < wc[k - 1] < hi else jq).append(e)
    res["jitter_quiet"] = jq
    res["jitter_during"] = jd
    return res


def pct(xs: list[int], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return float(xs[min(len(xs) - 1, int(q * len(xs)))])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", default="micropython", choices=["micropython", "cpython"])
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args(argv)
    rows: dict[str, list[tuple[float, ...]]] = {"guard": [], "no guard": []}
    with start_sim(runtime=a.runtime, log=lambda m: None) as board:
        for r in range(a.rounds):
            for name, guard in (("guard", True), ("no guard", False)):   # interleaved
                res = storm(board, guard=guard)
                q, d = res["quiet"], res["during"]
                rows[name].append((pct(q, 0.5), pct(q, 0.99), pct(d, 0.5), pct(d, 0.99),
                                   pct(res["jitter_quiet"], 0.99),
                                   pct(res["jitter_during"], 0.99),
                                   float(res["src"]["triggers"])))
                g = res.get("guard", {})
                print("round %d %-8s: %d edges in %.2f s; ticks quiet %d, during %d; "
                      "quiet p50/p99 %.0f/%.0f us, storm p50/p99 %.0f/%.0f us; "
                      "tick jitter p99 quiet %.0f us, storm %.0f us; storm ISR entries %.0f; "
                      "to_polled %s to_irq %s" % (
                          r, name, res["generated"], res["storm_s"], len(q), len(d),
                          *rows[name][-1], g.get("to_polled", "-"), g.get("to_irq", "-")))
    print("\n100 Hz source, ISR -> task latency (us), medians of %d interleaved rounds, %s VM:"
          % (a.rounds, a.runtime))
    print("%-9s %10s %10s %10s %10s %12s %11s %11s %12s" % (
        "", "quiet p50", "quiet p99", "storm p50", "storm p99", "storm/quiet",
        "jit99 quiet", "jit99 storm", "storm ISRs"))
    for name, rr in rows.items():
        m = [statistics.median(x[i] for x in rr) for i in range(7)]
        print("%-9s %10.0f %10.0f %10.0f %10.0f %11.2fx %11.0f %11.0f %12.0f" % (
            name, *m[:4], m[3] / max(1.0, m[1]), m[4], m[5], m[6]))
    print("(jitter: |interval between two ticks' ISR entries - 10 000 us|, p99)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

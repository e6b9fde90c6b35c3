"""Polling vs interrupts on the simulator: the same GPIO source, interrupt-driven and polled
at several intervals, at several event rates. Per configuration: edge -> task latency
p50/p99 (from the time the bench drove each rising edge, so both paths are timed from the
same instant) and the main loop's CPU share (busy vs idle).

    python3 tools/bench_crossover.py [--rounds N] [--plot host/docs/crossover.png]
                                     [--runtime micropython|cpython] [--json FILE]

The stimulus is the bench's `train` on the board's hardware clock. Interrupt mode: a
GpioSource (hard IRQ on the rising edge). Polled mode: a PolledSource whose check reads the
pad's edge counter (the sim's view of a pulse counter, as machine.Counter/PCNT on a board)
every interval. Idle: the scheduler's idle through the port (machine.idle: WFI, woken by
any interrupt or the 1 ms tick); a wait shorter than that tick spins, and counts as busy
(a board's main loop polling faster than its tick must; the sim sleeps there, so its
host CPU stays with the hardware thread). Rounds are interleaved, medians
printed. A benchmark: nothing is asserted.
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

RATES = (200, 1000, 3000, 10000)              # events (rising edges) per second
POLLS = (100, 500, 2000, 10000)         # poll intervals, us
RUN_S = 1.0                             # stimulus length per configuration

SETUP = """
from irqkit.ports.machine_port import MachinePort
from irqkit.sched import Scheduler
from irqkit.hwsource import GpioSource
from irqkit.polled import PolledSource
from irqkit.compat import ticks_us, ticks_diff, ticks_add, sleep_us
from simboard import board as _B
from array import array
import machine, json
acc = [0]
class BenchPort(MachinePort):
    def idle(self, timeout_us):
        if timeout_us is not None and timeout_us < 1000:
            # shorter than the tick: a board spins here (mp_hal_delay_us), so it counts
            # as busy; the sim sleeps, leaving the host CPU to its hardware thread
            sleep_us(timeout_us)
            return
        t0 = ticks_us()
        machine.idle()
        acc[0] += ticks_diff(ticks_us(), t0)
port = BenchPort(timer_id=-1, uart_id=0)
pad = _B.board().pad("P1")
rt = pad.log_rises()
NL = 10000
lat = array('i', [0] * NL)
nl = [0]
done = [0]
def account(t_task, t_ev, upto):
    # the rising edges this event stands for, each timed edge -> task: interrupt, every
    # edge not yet accounted driven by the ISR's entry (t_ev); polled, every edge the
    # check counted (upto)
    k = done[0]
    r = pad.rises if upto < 0 else upto
    while k < r:
        te = rt[k % 1024]
        if upto < 0 and ticks_diff(te, t_ev) > 0:
            break
        i = nl[0]
        if i < NL:
            lat[i] = ticks_diff(t_task, te)
        nl[0] = i + 1
        k += 1
    done[0] = k
want = [0]
sched = None
polled = [0]
def task(ev):
    account(ev.t_task, ev.t_isr, last[0] if polled[0] else -1)
    if done[0] - first[0] >= want[0]:
        sched.stop()   # every edge of the train handled: the run ends here
first = [0]
last = [0]
def check():
    r = pad.rises
    n = r - last[0]
    last[0] = r
    return n
def go(poll_us, n, ms, r0):
    # r0: the pad's rising-edge count the host read before starting the train, so an
    # edge that arrives before this code runs is still this run's first
    global sched
    import gc
    gc.collect()
    sched = Scheduler(port)
    done[0] = last[0] = first[0] = r0
    want[0] = n
    polled[0] = poll_us
    nl[0] = 0
    acc[0] = 0
    if poll_us:
        src = sched.add(PolledSource("p", task, check, poll_us, prio=1, capacity=16))
    else:
        src = sched.add(GpioSource("g", task, pin="P1", trigger="rising", prio=1, capacity=64))
    while pad.rises == first[0]:   # time from the train's first edge on
        machine.idle()
    acc[0] = 0
    t0 = ticks_us()
    sched.run(until_ms=ms)
    wall = ticks_diff(ticks_us(), t0)
    if not poll_us:
        port.gpio_irq("P1", "rising", None)
    st = src.ring.ctl
    xs = sorted(lat[:min(nl[0], NL)])
    q = lambda f: xs[min(len(xs) - 1, int(f * len(xs)))] if xs else -1
    return json.dumps({"wall": wall, "idle": acc[0], "n": nl[0], "handled": done[0] - first[0], "p50": q(0.5),
                       "p99": q(0.99), "overflow": st[3]})
"""


def pct(xs: list[int], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return float(xs[min(len(xs) - 1, int(q * len(xs)))])


def one(t: Any, bench: BenchClient, poll_us: int, rate: int) -> dict[str, Any]:
    n = int(rate * RUN_S)
    ms = int(RUN_S * 1000) * 10     # a bound only: the run ends when every edge is handled
    bench.cmd("set P1 0")
    r0 = int(bench.cmd("edges P1").split()[0])
    t.exec_raw_no_follow("print(go(%d, %d, %d, %d))" % (poll_us, n, ms, r0))
    bench.cmd("train P1 %d %d" % (n, rate))
    out, err = t.follow(timeout=60)
    if err:
        raise RuntimeError(err.decode(errors="replace"))
    d = json.loads(out.decode().strip().splitlines()[-1])
    d["generated"] = int(bench.cmd("edges P1").split()[0]) - r0
    d["rate"] = d["handled"] / (d["wall"] / 1e6)   # the rate the sim really drove
    while bench.state()["bench"]["stimulus_active"]:   # never overlap the next train
        time.sleep(0.05)
    d["busy"] = 1.0 - d["idle"] / max(1, d["wall"])
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", default="micropython", choices=["micropython", "cpython"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--plot", default=None, help="write the crossover plot (PNG) here")
    ap.add_argument("--json", default=None, help="write every round's figures here")
    ap.add_argument("--replot", default=None, metavar="JSON",
                    help="only redraw --plot from a --json file of an earlier run")
    a = ap.parse_args(argv)
    if a.replot:
        if not a.plot:
            print("bench_crossover: --replot needs --plot FILE.png", file=sys.stderr)
            return 2
        try:
            data = json.loads(Path(a.replot).read_text())
            table = data["table"]
        except (OSError, ValueError, KeyError) as e:
            print("bench_crossover: cannot read %s: %s" % (a.replot, e), file=sys.stderr)
            return 2
        plot(table, a.plot, data.get("runtime", a.runtime), data.get("n_rounds", a.rounds))
        return 0
    if a.rounds < 1:
        print("bench_crossover: --rounds must be at least 1", file=sys.stderr)
        return 2
    modes = [0] + list(POLLS)          # 0: interrupt-driven
    res: dict[tuple[int, int], list[tuple[float, float, float, int, int, float]]] = {}
    from mpremote.transport_serial import SerialTransport
    with start_sim(runtime=a.runtime, log=lambda m: None) as board:
        t = SerialTransport(board.port, baudrate=115200)
        try:
            t.enter_raw_repl(soft_reset=True)
            board.wait_ready()
            t.exec(SETUP)
            with BenchClient(board.bench) as bench:
                for r in range(a.rounds):
                    for rate in RATES:
                        for m in modes:          # interleaved: every mode in every round
                            d = one(t, bench, m, rate)
                            row = (d["p50"], d["p99"], d["busy"], d["n"],
                                   d["generated"], d["rate"])
                            res.setdefault((rate, m), []).append(row)
                            print("round %d rate %5d Hz %-10s: %5d/%5d edges timed (driven at"
                                  " %5.0f Hz), p50 %6.0f us p99 %6.0f us, busy %5.1f%%" % (
                                      r, rate, "irq" if not m else "poll %d" % m, d["n"],
                                      d["generated"], d["rate"], row[0], row[1], 100 * row[2]),
                                  flush=True)
        finally:
            try:
                t.exit_raw_repl()
            finally:
                t.close()
    table = []
    for rate in RATES:
        for m in modes:
            rr = res[(rate, m)]
            table.append({"rate_hz": rate, "mode": "irq" if not m else "poll",
                          "poll_us": m, "p50_us": statistics.median(x[0] for x in rr),
                          "p99_us": statistics.median(x[1] for x in rr),
                          "busy": statistics.median(x[2] for x in rr),
                          "timed": min(x[3] for x in rr), "generated": min(x[4] for x in rr),
                          "driven_hz": statistics.median(x[5] for x in rr)})
    print("\nedge -> task latency and main-loop CPU share, medians of %d interleaved rounds "
          "(%s VM, %s):" % (a.rounds, a.runtime, time.strftime("%Y-%m-%d")))
    print("| rate (Hz) | driven (Hz) | mode | p50 (us) | p99 (us) | busy | p99 vs irq |")
    print("|---|---|---|---|---|---|---|")
    for row in table:
        base = [x for x in table if x["rate_hz"] == row["rate_hz"] and x["mode"] == "irq"][0]
        print("| %d | %.0f | %s | %.0f | %.0f | %.0f%% | %.2fx |" % (
            row["rate_hz"], row["driven_hz"], "interrupt" if row["mode"] == "irq" else "poll %d us" % row["poll_us"],
            row["p50_us"], row["p99_us"], 100 * row["busy"],
            row["p99_us"] / max(1.0, base["p99_us"])))
    if a.json:
        Path(a.json).write_text(json.dumps({"table": table, "runtime": a.runtime,
                                            "n_rounds": a.rounds, "rounds": {
            "%d/%d" % k: v for k, v in res.items()}}, indent=1))
    if a.plot:
        plot(table, a.plot, a.runtime, a.rounds)
    return 0


def plot(table: list[dict[str, Any]], path: str, runtime: str, rounds: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    modes = sorted({(r["mode"], r["poll_us"]) for r in table}, key=lambda m: m[1])
    for mode, p in modes:
        rows = [r for r in table if r["mode"] == mode and r["poll_us"] == p]
        xs = [r["rate_hz"] for r in rows]
        label = "interrupt" if mode == "irq" else "poll %d us" % p
        style = dict(marker="o", lw=2.2, color="black") if mode == "irq" else dict(marker=".")
        ax1.plot(xs, [r["p50_us"] for r in rows], label=label + " p50", **style)
        ax1.plot(xs, [r["p99_us"] for r in rows], ls=":", alpha=0.6,
                 color=ax1.lines[-1].get_color(), marker=style["marker"])
        ax2.plot(xs, [100 * r["busy"] for r in rows], label=label, **style)
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("event rate (rising edges / s)")
        ax.grid(True, which="both", alpha=0.3)
    ax1.set_yscale("log")
    ax1.set_ylabel("edge -> task latency (us): p50 solid, p99 dotted")
    ax2.set_ylabel("main loop busy (% of wall time)")
    ax1.legend(fontsize=8)
    fig.suptitle("irqkit on the simulator (%s VM): interrupt vs polled, medians of %d rounds"
                 % (runtime, rounds))
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print("plot: %s" % path)


if __name__ == "__main__":
    sys.exit(main())

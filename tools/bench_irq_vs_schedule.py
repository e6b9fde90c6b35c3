"""Raw MicroPython (hard Pin.irq + micropython.schedule) against irqkit (GpioSource + the
scheduler) on the *same* simulated pin of a pico-personality simulator, same run,
interleaved rounds, medians.

Per round the bench channel sends BURSTS bursts of BURST edges on GP13; the device records,
per delivered edge, ISR entry -> handler start (us). Printed per variant: p50/p99 latency,
edges delivered of those sent, and the zero-loss rate (bursts delivered whole).

    PYTHONPATH=firmware:host python3 tools/bench_irq_vs_schedule.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

from mpremote.transport_serial import SerialTransport

from irqkit_host.simlaunch import BenchClient, start_sim

PIN = 13
BURST = 16
BURSTS = 10
RUN_MS = 2500

COMMON = """
import machine, micropython, time, json
from array import array
N = %d
lat = array('i', [0] * N)
k = [0]
""" % (BURST * BURSTS)

RAW = COMMON + """
t_isr = array('i', [0] * 64)
head = [0]
def handler(i):
    j = k[0]
    if j < N:
        lat[j] = time.ticks_diff(time.ticks_us(), t_isr[i])
    k[0] = j + 1
def isr(p):
    i = head[0]
    t_isr[i] = time.ticks_us()
    head[0] = (i + 1) & 63
    micropython.schedule(handler, i)    # a full queue: RuntimeError in the ISR, edge lost
p = machine.Pin(%d, machine.Pin.IN)
p.irq(isr, machine.Pin.IRQ_RISING, hard=True)
print('READY')
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < %d:
    time.sleep_ms(1)
p.irq(None)
print('RESULT', json.dumps([k[0], list(lat[:min(k[0], N)])]))
""" % (PIN, RUN_MS)

IRQKIT = COMMON + """
from irqkit.ports.machine_port import MachinePort
from irqkit.sched import Scheduler
from irqkit.hwsource import GpioSource
from irqkit.compat import ticks_diff
port = MachinePort(timer_id=-1)
sched = Scheduler(port)
def task(ev):
    j = k[0]
    if j < N:
        lat[j] = ticks_diff(ev.t_task, ev.t_isr)
    k[0] = j + 1
g = sched.add(GpioSource('g', task, pin=%d, trigger='rising', prio=3, capacity=32))
print('READY')
sched.run(until_ms=%d)
sched.remove(g)
print('RESULT', json.dumps([k[0], list(lat[:min(k[0], N)])]))
""" % (PIN, RUN_MS)


def one_round(t: SerialTransport, bench: BenchClient, code: str) -> dict:
    t.exec_raw_no_follow(code)
    t.serial.read_until(b"READY")
    for _ in range(BURSTS):
        for _ in range(BURST):
            bench.pulse(str(PIN), 5)
        time.sleep(0.1)
    out, err = t.follow(timeout=30)
    if err:
        raise SystemExit(err.decode())
    line = [x for x in out.decode().splitlines() if x.startswith("RESULT")][0]
    got, lat = json.loads(line[len("RESULT "):])
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] if lat else float("nan")
    return {"p50": q(0.5), "p99": q(0.99), "delivered": got, "sent": BURST * BURSTS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runtime", default="micropython")
    a = ap.parse_args()
    res: dict[str, list[dict]] = {"raw": [], "irqkit": []}
    with start_sim(runtime=a.runtime, board="pico", log=lambda m: None) as b:
        from irqkit_host.deploy import deploy
        from irqkit_host.boards import load_board
        deploy(b.port, load_board("pico"))
        t = SerialTransport(b.port, baudrate=115200)
        t.enter_raw_repl(soft_reset=True)
        with BenchClient(b.bench) as bench:
            for _ in range(a.rounds):
                for name, code in (("raw", RAW), ("irqkit", IRQKIT)):   # interleaved
                    t.enter_raw_repl(soft_reset=True)
                    res[name].append(one_round(t, bench, code))
        t.close()
    print(f"pico personality, {a.runtime} runtime, {a.rounds} rounds x {BURSTS} bursts x "
          f"{BURST} edges; medians over rounds")
    print(f"{'variant':8} {'p50 us':>8} {'p99 us':>8} {'delivered':>10} {'zero-loss rounds':>17}")
    med = {}
    for name, rs in res.items():
        p50 = statistics.median(r["p50"] for r in rs)
        p99 = statistics.median(r["p99"] for r in rs)
        dl = statistics.median(r["delivered"] / r["sent"] for r in rs)
        zl = sum(1 for r in rs if r["delivered"] == r["sent"]) / len(rs)
        med[name] = (p50, p99, dl)
        print(f"{name:8} {p50:8.0f} {p99:8.0f} {dl:10.1%} {zl:17.0%}")
    (r50, r99, rdl), (k50, k99, kdl) = med["raw"], med["irqkit"]
    print(f"ratios irqkit/raw: p50 {k50 / r50:.2f}  p99 {k99 / r99:.2f}  delivered {kdl / rdl:.2f}")


if __name__ == "__main__":
    main()

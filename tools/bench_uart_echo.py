#!/usr/bin/env python3
"""Benchmark: a UART byte's round trip through the simulator's interrupt path versus a
bare MicroPython poll-echo on a pty made the same way. Printed, not asserted.

    python tools/bench_uart_echo.py [-n 2000] [--runtime micropython|cpython]

Simulator path: host writes 1 byte to the pty -> the VM's UART thread reads it into the RX
FIFO and runs the RX ISR (irqkit UartSource.isr, heap locked) -> the ISR wakes the main
loop -> the Scheduler runs the deferred task -> task reads the byte (port.serial_read)
and writes it back (port.serial_write) -> host reads it.
Bare path: the same VM binary polls fd 0 and writes each byte back (no threads).
Both are measured in one run, in alternating blocks, with pyserial and perf_counter_ns.
Goal: p50 <= 1.2x and p99 <= 1.5x of the bare echo.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import tty
from pathlib import Path

import serial

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from irqkit_host.targets.sim import micropython_path, pick_runtime, start_sim  # noqa: E402

BARE_ECHO = """
import sys, select
p = select.poll()
p.register(0, select.POLLIN)
MP = sys.implementation.name == 'micropython'
if MP:
    b = bytearray(1)
    i = sys.stdin.buffer
    o = sys.stdout.buffer
    while True:
        p.poll(-1)
        if i.readinto(b):
            o.write(b)
else:
    import os
    while True:
        p.poll(-1)
        os.write(1, os.read(0, 64))
"""

SIM_APP = """
from irqkit.ports.machine_port import MachinePort
from irqkit.sched import Scheduler
from irqkit.hwsource import UartSource
port = MachinePort(timer_id=-1, uart_id=0)
sched = Scheduler(port)
buf = bytearray(64)
mv = memoryview(buf)
def on_rx(ev):
    while True:
        n = port.serial_read(buf)
        if not n:
            return
        if buf[n - 1] == 0x51:   # 'Q': stop
            sched.stop()
            return
        port.serial_write(mv[:n])
sched.add(UartSource("uart", on_rx, prio=2, capacity=32))
"""


def percentile(sorted_vals: list[float], q: float) -> float:
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]


def trials(ser: serial.Serial, n: int, out: list[float]) -> None:
    for k in range(n):
        b = bytes([0x61 + k % 16])
        t0 = time.perf_counter_ns()
        ser.write(b)
        r = ser.read(1)
        t1 = time.perf_counter_ns()
        if r != b:
            raise RuntimeError(f"echo mismatch: sent {b!r}, got {r!r}")
        out.append((t1 - t0) / 1000.0)


class BareEcho:
    """The VM running a poll-echo with the pty master as stdin/stdout, like the sim."""

    def __init__(self, runtime: str) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        if runtime == "micropython":
            mp = micropython_path()
            assert mp
            cmd = [mp, "-c", BARE_ECHO]
        else:
            cmd = [sys.executable, "-u", "-c", BARE_ECHO]
        self.proc = subprocess.Popen(cmd, stdin=self.master, stdout=self.master,
                                     start_new_session=True)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2000, help="round trips per path (default 2000)")
    ap.add_argument("--runtime", choices=("micropython", "cpython"), default=None)
    ap.add_argument("--block", type=int, default=250, help="alternate paths every BLOCK trials")
    args = ap.parse_args()
    runtime = pick_runtime(args.runtime)
    from mpremote.transport_serial import SerialTransport

    bare_t: list[float] = []
    sim_t: list[float] = []
    bare = BareEcho(runtime)
    try:
        with start_sim(runtime=runtime, log=lambda m: print(m, file=sys.stderr)) as board:
            t = SerialTransport(board.port, baudrate=115200)
            try:
                t.enter_raw_repl(soft_reset=True)
                t.exec(SIM_APP)
                t.exec_raw_no_follow("sched.run()")
                time.sleep(0.3)
                sim_ser = t.serial
                sim_ser.timeout = 5
                with serial.Serial(bare.path, timeout=5) as bare_ser:
                    time.sleep(0.3)
                    trials(bare_ser, 100, [])       # warm up both
                    trials(sim_ser, 100, [])
                    left = args.n
                    while left > 0:
                        k = min(args.block, left)
                        trials(bare_ser, k, bare_t)
                        trials(sim_ser, k, sim_t)
                        left -= k
                sim_ser.write(b"Q")
                out, err = t.follow(timeout=10)
                if err:
                    print("sim app error:", err.decode(errors="replace"), file=sys.stderr)
                t.exit_raw_repl()
            finally:
                t.close()
    finally:
        bare.close()

    bare_t.sort()
    sim_t.sort()
    print(f"UART round trip, {args.n} trials each, runtime {runtime}, pyserial on a pty:")
    print(f"{'path':<34} {'min':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}  (us)")
    for name, v in (("bare poll-echo (same VM, same pty)", bare_t),
                    ("sim: RX ISR -> task -> reply", sim_t)):
        print(f"{name:<34} {v[0]:8.1f} {percentile(v, .5):8.1f} {percentile(v, .9):8.1f} "
              f"{percentile(v, .99):8.1f} {v[-1]:8.1f}")
    r50 = percentile(sim_t, .5) / percentile(bare_t, .5)
    r99 = percentile(sim_t, .99) / percentile(bare_t, .99)
    print(f"ratio sim/bare: p50 {r50:.2f}x (goal <= 1.2x), p99 {r99:.2f}x (goal <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

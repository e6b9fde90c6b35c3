"""The README's own-firmware example (firmware/examples/button_led.py) on a pico-personality
simulator, driven as a user drives it: copied to main.py with mpremote, started by a soft
reset at the friendly REPL, a bench pulse on the button pin toggles the LED pin (a
bouncing press once), the timer task runs, a console command is answered, Ctrl-C stops it
and leaves every handler detached, and `mpremote exec` works afterwards."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import serial

from irqkit_host.targets.bench import BenchClient
from irqkit_host.targets.sim import SimBoard, micropython_path, start_sim

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "firmware" / "examples" / "button_led.py"
BANNER_END = b"for more information.\r\n>>> "

needs_vm = pytest.mark.skipif(
    micropython_path() is None,
    reason="micropython VM not installed; the pico personality's USB CDC console "
           "(polled sys.stdin) exists on the MicroPython runtime only (README)")


def mpremote(port: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def pico() -> Iterator[SimBoard]:
    b = start_sim(runtime="micropython", board="pico", log=lambda m: None)
    try:
        yield b
    finally:
        b.stop()


def read_line_with(s: serial.Serial, needle: bytes, timeout: float = 5) -> bytes:
    """Console lines until one containing needle (that line returned)."""
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        ln = s.readline()
        seen += ln
        if needle in ln:
            return ln
    raise AssertionError(f"no line with {needle!r} within {timeout} s; got {seen!r}")


def wait_pin(bench: BenchClient, pin: str, level: int, timeout: float = 3) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bench.get(pin) == level:
            return
        time.sleep(0.01)
    raise AssertionError(f"pin {pin} never became {level}")


def status(s: serial.Serial) -> dict[str, int]:
    s.write(b"status\r")
    ln = read_line_with(s, b"status:").decode().strip()
    return {k: int(v) for k, v in (w.split("=") for w in ln.split(":", 1)[1].split())}


@needs_vm
def test_example_app_on_the_pico_simulator(pico: SimBoard) -> None:
    r = mpremote(pico.port, "cp", str(EXAMPLE), ":main.py")
    assert r.returncode == 0, r.stderr
    try:
        with serial.Serial(pico.port, timeout=5) as s, BenchClient(pico.bench) as bench:
            s.write(b"\r\x03\x02")                      # the friendly REPL
            assert s.read_until(BANNER_END).endswith(BANNER_END)
            s.write(b"\x04")                            # soft reset: main.py starts
            read_line_with(s, b"button_led: ready")
            assert bench.pins()["15"]["irq"] == "rising"

            # a press toggles the LED, a second press (after the debounce time) back
            bench.pulse("15", 1000)
            assert b"press 1: led 1" in read_line_with(s, b"press 1")
            wait_pin(bench, "25", 1)
            time.sleep(0.05)
            bench.pulse("15", 1000)
            assert b"press 2: led 0" in read_line_with(s, b"press 2")
            wait_pin(bench, "25", 0)

            # a bouncing press: 7 edges 2 ms apart (4 rising), settling high, is one press;
            # every extra rising edge is debounced by the ISR or, if it came while the
            # first was still pending, coalesced into the line's pending bit (counted)
            time.sleep(0.05)
            before = status(s)
            c0 = bench.state()["lines"]["15"]["coalesced"]
            assert bench.raw("bounce 15 7 2000 1").startswith("ok")
            read_line_with(s, b"press 3: led 1")
            wait_pin(bench, "25", 1)
            time.sleep(0.1)
            after = status(s)
            coalesced = bench.state()["lines"]["15"]["coalesced"] - c0
            assert after["presses"] == before["presses"] + 1 == 3
            assert after["edges"] - before["edges"] + coalesced == 4, (before, after, coalesced)
            assert after["debounced"] - before["debounced"] + coalesced == 3
            bench.set("15", 0)

            # the 1 kHz timer task runs; a command is answered
            time.sleep(0.3)
            later = status(s)
            assert later["samples"] > after["samples"] + 50, (after, later)
            assert later["high"] >= after["high"]
            s.write(b"led off\r")
            read_line_with(s, b"led 0")
            wait_pin(bench, "25", 0)
            s.write(b"frobnicate\r")
            assert b"? frobnicate" in read_line_with(s, b"frobnicate (try: help)")

            # Ctrl-C stops it; close() detached the pin IRQ and stopped the timer
            s.write(b"\x03")
            read_line_with(s, b"button_led: stopped")
            assert s.read_until(b">>> ").endswith(b">>> ")
            assert bench.pins()["15"]["irq"] == "none"
            assert bench.state()["timers"] == 0
            s.write(b"6*7\r")
            assert b"42\r\n" in s.read_until(b">>> ")
    finally:
        mpremote(pico.port, "rm", ":main.py")
    r = mpremote(pico.port, "exec", "print(6*7)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42"


@needs_vm
def test_mpremote_run_streams_it_and_a_later_mpremote_stops_it(pico: SimBoard) -> None:
    """`mpremote run FILE` (the README's quick start): its output streams; Ctrl-C there
    ends mpremote only (as on a board), the next mpremote's Ctrl-C stops the app."""
    p = subprocess.Popen([sys.executable, "-m", "mpremote", "connect", pico.port, "run",
                          str(EXAMPLE)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout is not None
        first = p.stdout.readline()
        assert b"button_led: ready" in first, first + p.stderr.read() if p.poll() else first
        with BenchClient(pico.bench) as bench:
            bench.pulse("15", 1000)
            assert b"press 1: led 1" in p.stdout.readline()
            assert bench.pins()["15"]["irq"] == "rising"
        p.send_signal(signal.SIGINT)                  # Ctrl-C in mpremote's terminal
        assert p.wait(timeout=10) != 0
        with BenchClient(pico.bench) as bench:        # the app still runs on the board
            bench.pulse("15", 1000)
            deadline = time.monotonic() + 3
            while bench.get("25") != 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert bench.get("25") == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    r = mpremote(pico.port, "exec", "print(6*7)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42"
    with BenchClient(pico.bench) as bench:
        assert bench.pins()["15"]["irq"] == "none"


@needs_vm
def test_a_failing_task_prints_its_first_error_once(pico: SimBoard) -> None:
    code = ("from irqkit.sched import Scheduler\n"
            "from irqkit.source import SoftSource\n"
            "from irqkit.ports.machine_port import MachinePort\n"
            "s = Scheduler(MachinePort())\n"
            "def task(ev):\n"
            "    s.port.serial_read()\n"          # TypeError: the buffer is missing
            "src = s.add(SoftSource('cmd', task))\n"
            "for i in range(3):\n"
            "    src.trigger(i)\n"
            "s.run_once()\n"
            "print('errors', s.errors)\n")
    r = mpremote(pico.port, "exec", code)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.count("irqkit: task of source 'cmd' raised") == 1, out
    assert out.count("Traceback (most recent call last):") == 1, out
    assert "TypeError" in out and "in task" in out, out
    assert "simboard" not in out, out                 # no ROM frames
    assert out.strip().endswith("errors 3"), out


UART_APP = """
from irqkit.sched import Scheduler
from irqkit.hwsource import UartSource
from irqkit.brk import Break
from irqkit.ports.machine_port import MachinePort
port = MachinePort(uart_id=0)
sched = Scheduler(port)
brk = Break(port)
rx = bytearray(16)
def on_rx(ev):
    n = port.serial_read(rx)
    brk.feed(rx, n)
    if b'?' in rx[:n]:
        print('pong')
sched.add(UartSource('link', on_rx, prio=2))
brk.attach(sched)
print('owning the link')
try:
    sched.run()
except KeyboardInterrupt:
    pass
finally:
    sched.close()
"""


def test_an_app_owning_the_uart_link_is_stopped_by_mpremote(board: SimBoard) -> None:
    """The default sim board's console is UART 0 with an RX IRQ: with a UartSource attached
    (and kbd_intr(-1)) 0x03 is data, so only the break rule can stop the app; mpremote's
    Ctrl-C + raw-REPL request does, and `mpremote exec` works at once afterwards (no
    soft reset: `resume`), in the same VM, where close() left the UART detached."""
    from mpremote.transport_serial import SerialTransport

    t = SerialTransport(board.port, baudrate=115200)
    try:
        t.enter_raw_repl(soft_reset=True)
        t.exec_raw_no_follow(UART_APP)
        assert b"owning the link" in t.serial.read_until(b"owning the link\r\n")
        t.serial.write(b"?")
        assert b"pong" in t.serial.read_until(b"pong\r\n")
        t.serial.write(b"\x03")                       # data now: the app keeps running
        time.sleep(0.05)
        t.serial.write(b"?")
        assert b"pong" in t.serial.read_until(b"pong\r\n")
    finally:
        t.close()
    t0 = time.monotonic()
    r = mpremote(board.port, "resume", "exec", "print(6*7, brk.breaks)")
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42 1"     # the app's globals: the break rule stopped it
    with BenchClient(board.bench) as bench:
        assert bench.state()["lines"]["UART"]["attached"] == 0   # close() detached it
    print(f"mpremote exec after the break rule: {took:.2f} s")

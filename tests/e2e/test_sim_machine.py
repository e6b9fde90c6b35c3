"""Ordinary MicroPython interrupt code (no irqkit) on simulator boards with a personality
(`irqkit sim --board pico`, ...), through mpremote's transport: machine.Pin.irq, Timer,
the heap-locked hard ISR, micropython.schedule's silent drop; the machine API's answers
to bad input; and the MachinePort bugs a personality exposes (each test failed before
its fix)."""
from __future__ import annotations

import json
import time

import pytest
from mpremote.transport_serial import SerialTransport

from devrepl import SimPool, ev, fresh_vms

from irqkit_host.boards import load_board
from irqkit_host.simlaunch import BenchClient, micropython_path

needs_vm = pytest.mark.skipif(micropython_path() is None, reason="micropython VM not installed")


@pytest.fixture(scope="module")
def boards():
    """One simulator per personality, started on first use, shared by this module."""
    pool = SimPool()
    yield pool.get
    pool.stop()


@pytest.fixture
def dev(boards, request):
    """A fresh VM (soft reset) on the personality the test names: dev("pico")."""
    with fresh_vms(lambda name, runtime="micropython": boards(name, runtime)) as open_:
        yield open_



def wait_for(t: SerialTransport, code: str, done, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = ev(t, code)
        if done(v) or time.monotonic() > deadline:
            return v
        time.sleep(0.02)


# -- ordinary MicroPython code on the pico personality -------------------------------------
@needs_vm
def test_hard_pin_irq_counts_every_edge(dev):
    b, t = dev("pico")
    t.exec("""
import machine
n = [0]
def h(p):
    n[0] += 1
p = machine.Pin(15, machine.Pin.IN, machine.Pin.PULL_DOWN)
p.irq(handler=h, trigger=machine.Pin.IRQ_RISING, hard=True)
""")
    with BenchClient(b.bench) as bench:
        # 50 pulses at 1 kHz, timed by the hardware model's clock like a signal generator
        # (bench commands return at once; back-to-back `pulse`s would overlap)
        bench.cmd("train 15 50 1000")
        n = wait_for(t, "n[0]", lambda v: v >= 50, timeout=3.0)
        line = bench.state()["lines"]["15"]
    # Every edge ran the handler or, when the host stalled the VM past the next edge, was
    # merged into the line's pending bit (as on a board) and counted: none vanishes.
    assert n == line["runs"] and line["raised"] == 50
    assert n + line["coalesced"] == 50, line
    assert n >= 40, line


@needs_vm
def test_hard_timer_minus_1_at_1khz_ticks_about_1000_a_second(dev):
    b, t = dev("pico")
    t.exec("""
import machine, time
n = [0]
def tick(tim):
    n[0] += 1
tim = machine.Timer(-1, mode=machine.Timer.PERIODIC, freq=1000, callback=tick, hard=True)
time.sleep_ms(1000)
tim.deinit()
""")
    count = ev(t, "n[0]")
    print(f"Timer(-1, freq=1000) on the pico personality: {count} ticks in 1 s")
    assert 500 <= count <= 1100    # loose: it runs, at about the rate asked


@needs_vm
def test_allocating_hard_handler_fails_heap_locked_and_the_board_keeps_running(dev):
    b, t = dev("pico")
    t.exec("""
import machine, micropython
micropython.alloc_emergency_exception_buf(100)
def bad(p):
    x = [1, 2, 3]
p = machine.Pin(14, machine.Pin.IN)
p.irq(bad, machine.Pin.IRQ_RISING, hard=True)
""")
    with BenchClient(b.bench) as bench:
        bench.pulse("14", 100)
        out = t.serial.read_until(b"heap is locked", 4096)
        assert b"Uncaught exception in IRQ callback handler" in out
        assert out.endswith(b"MemoryError: memory allocation failed, heap is locked")
        bench.pulse("14", 100)                 # the IRQ is disabled now, as on a board
        st = bench.state()
        assert st["lines"]["14"]["runs"] == 1 and st["lines"]["14"]["enabled"] == 0
    t.enter_raw_repl(soft_reset=False)         # the message came after the prompt: re-sync
    assert ev(t, "6 * 7") == 42                # the board keeps running


@needs_vm
def test_soft_irq_burst_beyond_the_schedule_queue_is_lost_silently(dev):
    """A soft Pin.irq handler is scheduled (micropython.schedule, 8 deep on rp2). While one
    scheduled callback runs (the scheduler is locked), 20 more edges arrive: 8 fit in the
    queue, 12 are dropped without a trace in the program — mpirq.c ignores the failure."""
    b, t = dev("pico")
    t.exec("""
import machine, time
n = [0]
def slow(p):
    n[0] += 1
    if n[0] == 1:
        t0 = time.ticks_us()
        while time.ticks_diff(time.ticks_us(), t0) < 500000:
            pass
p = machine.Pin(13, machine.Pin.IN)
p.irq(slow, machine.Pin.IRQ_RISING)
""")
    with BenchClient(b.bench) as bench:
        bench.pulse("13", 10)
        time.sleep(0.1)                           # the first callback is running now
        bench.cmd("train 13 20 2000")             # 20 edges on the hardware clock, not overlapping
        deadline = time.monotonic() + 5
        while True:
            st = bench.state()
            if st["lines"]["13"]["raised"] >= 21 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
    assert wait_for(t, "n[0]", lambda v: v >= 9) == 9    # 1 running + 8 queued
    time.sleep(0.2)
    assert ev(t, "n[0]") == 9
    assert st["schedule"]["depth"] == 8 and st["schedule"]["dropped"] == 12
    assert ev(t, "machine.sim_counters()['sched_dropped']") == 12   # the sim says so


# -- bad input: what a board answers, and the simulator keeps running ------------------------
@needs_vm
@pytest.mark.parametrize("board, code, exc, msg", [
    ("pico", "machine.Pin(99)", "ValueError", "invalid pin"),
    ("pico", "machine.Timer(0)", "ValueError", "Timer doesn't exist"),
    ("teensy41", "machine.Timer(0)", "ValueError", "Timer doesn't exist"),
    ("sim", "machine.Pin('Q9')", "ValueError", "Pin(Q9) doesn't exist"),
    ("esp32-devkitc", "machine.Pin(4).irq(lambda p: 0, hard=True)", "TypeError",
     "unexpected keyword argument 'hard'"),
    ("esp32-devkitc", "machine.Timer(0).init(period=10, callback=lambda t: 0, hard=True)",
     "TypeError", "unexpected keyword argument 'hard'"),
])
def test_bad_input_gets_the_boards_exception(dev, board, code, exc, msg):
    b, t = dev(board)
    out, err = t.exec_raw("import machine\ntry:\n    %s\nexcept Exception as e:\n"
                          "    print(type(e).__name__, e)\n" % code)
    assert err == b""
    assert out.decode().strip() == f"{exc} {msg}"
    assert ev(t, "1 + 1") == 2


# -- MachinePort on personalities: the bugs they expose ---------------------------------------
def _port_code(board: str) -> str:
    args = load_board(board)["firmware"].get("port_args", {})
    return ("from irqkit.ports.machine_port import MachinePort\n"
            "def h(x):\n    pass\n"
            f"port = MachinePort(**{args!r})\n")


@needs_vm
def test_teensy_board_file_timer_runs_on_mimxrt_timer(dev):
    """Teensy 4.1's board file named timer_id 0; mimxrt's machine.Timer takes only -1."""
    b, t = dev("teensy41")
    t.exec(_port_code("teensy41"))
    assert ev(t, "port.timer(2000, True, h).mode") == "hard"


@needs_vm
@pytest.mark.parametrize("board", ["teensy41", "nucleo-f446re", "pyboard"])
def test_millisecond_soft_timer_refuses_sub_ms_periods(dev, board):
    """extmod's soft timer counts whole ms: 200 us or 1500 us would silently run at 1 ms."""
    b, t = dev(board)
    t.exec(_port_code(board))
    for period in (200, 1500):
        out, err = t.exec_raw(f"try:\n    port.timer({period}, True, h)\nexcept ValueError as e:\n"
                              "    print('refused', e)\n")
        assert out.startswith(b"refused") and b"1000 us steps" in out, out
    t.exec("tim = port.timer(2000, True, h)")
    with BenchClient(b.bench) as bench:
        assert bench.state()["timer_periods_us"] == [2000]
    t.exec("tim.deinit()")


@needs_vm
def test_rp2_timer_period_is_exact(dev):
    """rp2's freq= path is single-precision: 1500 us came out as 1499 us. period=/tick_hz=
    is exact."""
    b, t = dev("pico")
    t.exec(_port_code("pico") + "tim = port.timer(1500, True, h)\n")
    with BenchClient(b.bench) as bench:
        assert bench.state()["timer_periods_us"] == [1500]
    t.exec("tim.deinit()")


@needs_vm
def test_usb_cdc_serial_read_does_not_allocate(dev):
    """serial_read on a USB CDC console (pico) under heap_lock: poll()+read(1) allocated
    twice a byte; ipoll + readinto into a preallocated byte does not."""
    b, t = dev("pico")
    t.exec(_port_code("pico") + "buf = bytearray(16)\nn = 0\nimport micropython, time\n")
    t.exec_raw_no_follow("""
while n == 0:    # (the console's own bytes may leave the RX level up once: read 0, again)
    while not port.serial_any():
        time.sleep_ms(1)
    time.sleep_ms(100)
    micropython.heap_lock()
    try:
        n = port.serial_read(buf)
    except MemoryError:
        n = -1
    micropython.heap_unlock()
print('READ', n, bytes(buf[:max(n, 0)]))
""")
    time.sleep(0.2)
    t.serial.write(b"hello")
    out, err = t.follow(timeout=10)
    assert err == b"", err
    assert b"READ 5 b'hello'" in out


@needs_vm
def test_uart_serial_read_takes_a_burst_in_one_call_and_does_not_allocate(dev):
    """Issue 12.2: MachinePort.serial_read on a machine.UART link (the sim board's UART 0):
    the sim's UART service moved the burst from the pty in one read, readinto takes it in
    one call; under heap_lock (a board's C readinto allocates nothing) it still reads,
    byte by byte inside the simulated FIFO."""
    b, t = dev("sim")
    t.exec(_port_code("sim") + "buf = bytearray(64)\nn = m = 0\nimport micropython, time, machine\n")
    t.exec_raw_no_follow("""
r0 = machine.sim_counters()['uart_reads']
def wait_any():
    while not port.serial_any():
        time.sleep_ms(1)
    time.sleep_ms(100)
wait_any()
n = port.serial_read(buf)
first = bytes(buf[:n])
wait_any()
micropython.heap_lock()
try:
    m = port.serial_read(buf)
except MemoryError:
    m = -1
micropython.heap_unlock()
print('READ', n, first, m, bytes(buf[:max(m, 0)]), machine.sim_counters()['uart_reads'] - r0)
""")
    time.sleep(0.2)
    t.serial.write(b"0123456789" * 4)
    time.sleep(0.3)
    t.serial.write(b"hello")
    out, err = t.follow(timeout=10)
    assert err == b"", err
    assert b"READ 40 b'" + b"0123456789" * 4 + b"' 5 b'hello' " in out, out
    # pty reads for the 45 bytes: 2 when each write arrives whole (the byte-at-a-time
    # service made 45); a write the pty hands over in pieces costs a read per piece
    reads = int(out.split(b"'hello' ")[1].split()[0])
    assert 2 <= reads <= 4, out


@needs_vm
def test_mode_reported_is_the_mode_in_force_on_esp32(dev):
    b, t = dev("esp32-devkitc")
    t.exec(_port_code("esp32-devkitc"))
    assert ev(t, "port.gpio_irq(4, 'rising', h)") == "soft"
    assert ev(t, "port.timer(1000, True, h).mode") == "soft"


@needs_vm
def test_output_waits_for_a_slow_reader_on_the_non_blocking_pty(dev):
    """Issue 12.2: the pty is non-blocking for bulk RX; 60 KB of print() and
    sys.stdout.write while the host does not read (the pty holds ~20 KB) must all arrive,
    in order: output waits for room instead of being dropped."""
    b, t = dev("sim")
    t.exec_raw_no_follow("import sys\nfor i in range(300):\n    print('%04d' % i + 'p' * 95)\n"
                         "    sys.stdout.write('%04d' % i + 'w' * 95 + '\\n')\nprint('END')\n")
    time.sleep(1.5)            # the program fills the pty and has to wait
    out, err = t.follow(timeout=20)
    assert err == b"", err
    lines = out.decode().split("\r\n") if b"\r\n" in out else out.decode().split("\n")
    want = []
    for i in range(300):
        want += ["%04d" % i + "p" * 95, "%04d" % i + "w" * 95]
    assert [x for x in lines if x][:600] == want
    assert "END" in lines

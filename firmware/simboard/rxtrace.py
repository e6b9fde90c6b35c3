# Where the microseconds of one console-RX interrupt go on this board, for the benchmark
# that compares the harness's PING with a bare poll-echo (tools/bench_ping.py). Off until
# the bench says `rxtrace on`; then, for each chunk the idle main thread takes from the
# console, the stamps below are kept and `rxtrace` returns the median of each step.
#
#   WAKE   the main thread's wait() returned with the console readable
#   READ   the pty read returned (the UART service held its lock, bulk read)
#   FIFO   the bytes are in the RX FIFO, its level set
#   ISR0   the UART line's handler entered (irqkit's ISR: timestamp + ring slot)
#   ISR1   ... and returned
#   RAISED raise_line returned (the controller's delivery around the handler)
#   TX0    the next console write started (the firmware's poll path: FIFO read, frame
#          decode, PING answered, PONG encoded)
#   TX1    ... and its write() returned
#
# A chunk counts only when all stamps are there in this order (one PING, idle board).
# Each kept chunk's WAKE and TX1 are also kept as they are: ticks_us on the unix VM is
# CLOCK_MONOTONIC in us, the clock the host's time.perf_counter_ns reads, so the host can
# split its own wait into pty-in, device and pty-out (tools/bench_ping.py).
# Off, each point costs one attribute test. No f-strings (the ROM's syntax rules).
from array import array

from simboard.clock import ticks_us, ticks_diff

WAKE, READ, FIFO, ISR0, ISR1, RAISED, TX0, TX1 = range(8)
N_POINTS = 8
STEPS = (("console read (lock, pty read)", WAKE, READ),
         ("RX FIFO fill + level", READ, FIFO),
         ("controller (raise, deliver)", FIFO, RAISED),   # the ISR is taken out below
         ("irqkit UART ISR", ISR0, ISR1),
         ("firmware poll path (FIFO read, decode, answer, encode)", RAISED, TX0),
         ("console write (pty)", TX0, TX1))
CAPACITY = 1024

on = 0
_t = array("i", [0] * N_POINTS)
_seen = [0]               # bit k: stamp k set in this chunk
_samples = [array("i", [0] * CAPACITY) for _ in STEPS]
_wake_t = array("i", [0] * CAPACITY)
_sent_t = array("i", [0] * CAPACITY)
_n = [0]


def start():
    global on
    _n[0] = 0
    _seen[0] = 0
    on = 1


def stop():
    global on
    on = 0


def stamp(k):
    """Record point k for the chunk under way (WAKE starts a new one)."""
    if k == WAKE:
        _seen[0] = 0
    elif not _seen[0] & 1:
        return                       # not a chunk the idle main thread took
    _t[k] = ticks_us()
    _seen[0] |= 1 << k
    if k == TX1:
        _keep()


def _keep():
    seen = _seen[0]
    _seen[0] = 0
    if seen != (1 << N_POINTS) - 1 or _n[0] >= CAPACITY:
        return
    t = _t
    for k in range(1, N_POINTS):
        if ticks_diff(t[k], t[k - 1]) < 0:
            return
    i = _n[0]
    for j in range(len(STEPS)):
        _name, a, b = STEPS[j]
        d = ticks_diff(t[b], t[a])
        if a == FIFO:
            d -= ticks_diff(t[ISR1], t[ISR0])
        _samples[j][i] = d
    _wake_t[i] = t[WAKE]
    _sent_t[i] = t[TX1]
    _n[0] = i + 1


def report():
    """{"n": chunks, "steps": [[name, median_us], ...], "wake": [ticks_us, ...],
    "sent": [...]} of what was recorded (wake/sent: each chunk's WAKE and TX1)."""
    n = _n[0]
    steps = []
    for j in range(len(STEPS)):
        v = sorted(_samples[j][:n])
        steps.append([STEPS[j][0], v[n // 2] if n else None])
    return {"n": n, "steps": steps, "wake": list(_wake_t[:n]), "sent": list(_sent_t[:n])}

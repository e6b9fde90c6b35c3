# Quadrature encoder source and debounced button through the in-process port; the
# encoder's ISR heap-locked on the VM beside an allocating case.
from irqkit.sched import Scheduler
from irqkit.ports.inproc import InprocPort
from irqkit.encoder import EncoderSource
from irqkit.debounce import DebouncedPin
from irqkit.compat import heap_lock, heap_unlock, HEAP_LOCK_REAL
from fwtest import skip


class Port(InprocPort):
    """The in-process port where a pin with its handler off only changes level."""

    def edge(self, pin, level):
        trig, handler = self.pin_handlers[pin]
        if handler is None:
            self.pins[pin].level = level
            return
        InprocPort.edge(self, pin, level)


def _quad(port, a, b, n, bounce=0):
    """n Gray-code steps (n < 0: reverse) as the bench's quad does, bounce extra edges
    (even) on each change. Returns the levels (a, b)."""
    fwd = n > 0
    for _ in range(abs(n)):
        flip_a = (a == b) if fwd else (a != b)
        pin = "A" if flip_a else "B"
        new = 1 - (a if flip_a else b)
        for j in range(bounce):
            port.edge(pin, new if j % 2 == 0 else 1 - new)
        port.edge(pin, new)
        if flip_a:
            a = new
        else:
            b = new
    return a, b


def _encoder(task=None):
    port = Port()
    sched = Scheduler(port)
    got = []
    enc = None

    def note(ev):
        got.append((ev.a, ev.count, enc.position()))
    enc = sched.add(EncoderSource("enc", task or note, "A", "B"))
    return port, sched, enc, got


def test_steps_with_bounce_end_at_the_exact_position():
    port, sched, enc, got = _encoder()
    a, b = _quad(port, 0, 0, 1000, bounce=4)
    assert enc.position() == 1000 and enc.skips == 0
    assert enc.edges == 1000 * 5
    a, b = _quad(port, a, b, -1003, bounce=2)
    assert enc.position() == -3 and enc.skips == 0
    sched.run_once()
    # 4 slots, the rest merged (POLICY_COALESCE): every change is in some event's count,
    # and a task reads the position itself
    changes = 1000 * 5 + 1003 * 3
    assert sum(c for a, c, p in got) == changes
    assert got[0][0] == 1 and got[-1][2] == -3


def test_a_skipped_state_is_counted_and_charged_in_the_last_direction():
    port, sched, enc, got = _encoder()
    _quad(port, 0, 0, 2)               # 00 -> 10 -> 11, forward
    # both pins change before the ISR looks: 11 -> 00 (the A edge's ISR sees both moved)
    port.pins["B"].level = 0
    port.edge("A", 0)
    assert enc.skips == 1 and enc.position() == 4
    port.edge("B", 0)                  # B's own interrupt: no change left to see
    assert enc.position() == 4


def test_encoder_isr_allocates_nothing():
    if not HEAP_LOCK_REAL:
        skip("micropython.heap_lock() exists only on MicroPython; this runs on the VM")
    port, sched, enc, got = _encoder(task=lambda ev: None)
    isr = enc.isr
    pa = port.pins["A"]
    pb = port.pins["B"]
    heap_lock()
    try:
        # forward four steps and back, the real ISR path (decode, position, capture, wake)
        for lv in ((1, 0), (1, 1), (0, 1), (0, 0), (0, 1), (1, 1)):
            pa.level, pb.level = lv
            isr(pa)
    finally:
        heap_unlock()
    assert enc.position() == 2 and enc.edges == 6
    heap_lock()
    try:
        try:
            [0, 1]          # the deliberately allocating case: must raise
            raised = False
        except MemoryError:
            raised = True
    finally:
        heap_unlock()
    assert raised


def _press(port, level, bounce):
    for j in range(bounce):
        port.edge("K", level if j % 2 == 0 else 1 - level)
    port.edge("K", level)


def test_debounced_button_counts_each_press_once():
    port = Port()
    sched = Scheduler(port)
    got = []
    k = sched.add(DebouncedPin("key", lambda ev: got.append(ev.a), "K", settle_us=2000))
    for i in range(10):
        _press(port, 1, 6)             # press: 7 edges of chatter, settles high
        sched.run(until_ms=6)
        _press(port, 0, 4)             # release: 5 edges, settles low (rising edges too)
        sched.run(until_ms=6)
    _press(port, 1, 2)                 # a glitch that comes back before settling
    port.edge("K", 0)
    sched.run(until_ms=6)
    assert k.presses == 10 and k.releases == 10
    assert got == [1, 0] * 10
    assert k.edges == 10 * (7 + 5) + 3 + 1


def test_debounce_poll_allocates_nothing_in_the_isr():
    if not HEAP_LOCK_REAL:
        skip("micropython.heap_lock() exists only on MicroPython; this runs on the VM")
    port = Port()
    sched = Scheduler(port)
    k = sched.add(DebouncedPin("key", lambda ev: None, "K", settle_us=2000))
    isr = k.isr
    heap_lock()
    try:
        for _ in range(5):
            isr(None)
    finally:
        heap_unlock()
    assert k.edges == 5 and k.busy

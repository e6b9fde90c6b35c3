# Dispatch: one step of the scheduler (Scheduler.step is this function). Kept in its own
# module because MicroPython 1.9.2 on the micro:bit cannot compile the whole scheduler
# in one piece within its ~9 KB heap; `self` is the Scheduler.
from irqkit.compat import ticks_us, ticks_diff, COUNTER_MASK, COUNTER_HALF
from irqkit.ring import SLOT, SEQ_OFS, R_TAIL
from irqkit.source import ST_ERRORS, ST_DELIVERED, ST_LAT_MAX, ST_HIST, HIST_BUCKETS


def step(self):
    """Poll due sources, then dispatch at most one event. True if one ran."""
    if self.polled:
        now = ticks_us()
        for p in self.polled:
            p.poll(now)
    # Pick the source to serve (inline, not a method: one call level less): the
    # highest priority level with a deliverable event; within that level the oldest
    # event (lowest sequence number, wrap-aware).
    src = None
    level = 0
    best_seq = 0
    floor = self.mask_floor
    for s in self.sources:
        if src is not None and s.prio != level:
            break
        ring = s.ring
        if ring.ready() and (s.nmi or not (s.masked or s.prio < floor)):
            seq = ring.buf[ring.ctl[R_TAIL] * SLOT + SEQ_OFS]
            if src is None or ((seq - best_seq) & COUNTER_MASK) >= COUNTER_HALF:
                src = s
                level = s.prio
                best_seq = seq
    if src is None:
        return False
    ev = self.ev
    if not src.ring.take(ev):
        return False
    ev.source = src
    t = ticks_us()
    ev.t_task = t
    st = src.st
    # statistics: log2 histogram of ISR -> task latency (no int.bit_length on 1.9)
    us = ticks_diff(t, ev.t_isr)
    if us < 0:
        us = 0
    if us > st[ST_LAT_MAX]:
        st[ST_LAT_MAX] = us
    b = 0
    while us and b < HIST_BUCKETS - 1:
        us >>= 1
        b += 1
    st[ST_HIST + b] = (st[ST_HIST + b] + 1) & COUNTER_MASK
    st[ST_DELIVERED] = (st[ST_DELIVERED] + ev.count) & COUNTER_MASK
    self.dispatched = (self.dispatched + 1) & COUNTER_MASK
    try:
        src.task(ev)
    except Exception as e:  # a failing task is counted and recorded; the loop goes on
        st[ST_ERRORS] = (st[ST_ERRORS] + 1) & COUNTER_MASK
        self.errors = (self.errors + 1) & COUNTER_MASK
        self.last_error = e
        self.last_error_source = src.name
    return True

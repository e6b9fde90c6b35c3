# The simulator's interrupt controller (NVIC-like) and its single-core delivery.
#
# Every interrupt source is a Line: priority (higher number = more urgent), a pending bit
# (raises while the line cannot run coalesce into it, counted), an enable bit.
#
# One core. On a board one CPU runs either the main program or a handler, so here a user
# handler never runs beside the main program:
# - MicroPython VM: a hard handler is delivered *onto the main thread* through the VM's own
#   scheduler (micropython.schedule from the hardware thread; the VM runs it at the next
#   bytecode boundary, the way a hard IRQ preempts between instructions). The controller
#   keeps one delivery in flight: the delivered callback runs the highest-priority ready
#   line, then the next (tail-chaining), until none is ready. While it runs, the main
#   program does not advance and the VM's scheduler is locked (as mpirq.c locks it).
#   The hard handler runs with micropython.heap_lock() held.
# - CPython: no VM scheduler; the raising hardware thread runs the handlers, one delivery
#   at a time, under the GIL (see README: "what is not modelled").
# - "native" lines stand for firmware C code a real ISR runs (mpirq.c's soft path: push
#   the Python handler onto the schedule queue). They run in the raising thread at once
#   (no Python user code runs there), still held by PRIMASK/BASEPRI like any IRQ.
# - PRIMASK (disable_irq/enable_irq): raised lines stay pending; enable_irq delivers them,
#   highest priority first. BASEPRI-like level: lines with priority < level stay pending.
# - NMI lines ignore every mask and run in the raising thread.
# - An exception in a hard handler is printed as a board prints it, counted, and disables
#   the line (mpirq.c: "Uncaught exception in IRQ callback handler").
#
# No f-strings (keep the same syntax rules as the core).
import _thread

from simboard.clock import heap_lock, heap_unlock, HEAP_LOCK_REAL
from simboard.runtime import MP, print_exc, console_write
from simboard import rxtrace

if MP:
    import micropython as _vm_micropython

    _vm_schedule = _vm_micropython.schedule
else:
    _vm_schedule = None

IRQ_ERROR_BANNER = b"Uncaught exception in IRQ callback handler\r\n"


class Line:
    def __init__(self, num, name, prio, nmi):
        self.num = num
        self.name = name
        self.prio = prio
        self.nmi = nmi
        self.native = 0          # 1: sim firmware code (runs in the raising thread)
        self.handler = None
        self.arg = None
        self.enabled = 1
        self.pending = 0
        self.raised = 0
        self.coalesced = 0
        self.coalesced_masked = 0  # of those, while PRIMASK was set
        self.runs = 0
        self.errors = 0
        self.on_error = None     # called (no args) after a failing handler: disable the source


class Controller:
    def __init__(self, hw):
        self.hw = hw
        self.lines = []
        self.by_name = {}
        self._lock = _thread.allocate_lock()      # guards pending bits and the decisions
        self._native_lock = _thread.allocate_lock()
        self._nmi_lock = _thread.allocate_lock()
        self._isr = 0            # 1 while a handler runs
        self.in_flight = 0       # 1 while a delivery is scheduled or running
        self.masked = 0          # PRIMASK: 1 while the main program holds disable_irq()
        self.basepri = None      # lines with prio < basepri are held
        self.errors = 0
        self.last_error = ""
        self.wake_req = 0
        self.deliveries = 0      # scheduled deliveries (MicroPython VM)
        self.vm_queue_full = 0   # deliveries retried because the VM's queue was full
        self.retry = 0           # 1: a delivery could not be scheduled; the timer thread retries
        self._deliver_cb = self._deliver   # bound once: creating a bound method allocates
        self.main_ident = _thread.get_ident()   # the board is made by the main program
        self._busy = 0           # main thread: controller sections holding _lock (see _acq)
        self.redo = 0            # a delivery came while _busy: the section's exit runs it
        self.redeliveries = 0    # ... how often (bench state)
        self.native_pending = 0  # 1: a native line may be pending (kick runs _run_native)
        self.raises = 0          # raise_line calls (the ISR-context enable_irq's check)
        self._mask_mark = 0      # self.raises when an ISR set PRIMASK (see disable_irq)
        self._nmi = 0            # 1 while an NMI handler runs (in its raising thread)

    # -- the controller's own lock, on a single core -----------------------------------------
    # On the VM a scheduled delivery (_deliver) runs on the main thread at any bytecode
    # boundary -- also inside the controller's own code while the main thread holds _lock
    # (a branch in _best, in kick, in raise_line): acquiring it again there would deadlock
    # the board. So main-thread sections are counted, a delivery that finds one open backs
    # off (in_flight cleared, redo set) and the section's exit takes the interrupt instead,
    # as a CPU takes a pending IRQ when it re-enables.
    def _acq(self):
        if MP and _thread.get_ident() == self.main_ident:
            self._busy += 1
        self._lock.acquire()

    def _rel(self):
        self._lock.release()
        if MP and _thread.get_ident() == self.main_ident:
            self._busy -= 1
            if self.redo and not self._busy:
                self.redo = 0
                self.kick()

    def _acq_main(self):
        # _acq for code that runs on the main thread only (MicroPython: _drain_now)
        self._busy += 1
        self._lock.acquire()

    def _rel_main(self):
        self._lock.release()
        self._busy -= 1
        if self.redo and not self._busy:
            self.redo = 0
            self.kick()

    # -- configuration (not from ISRs) --------------------------------------------------
    def line(self, name, prio=1, nmi=False):
        L = self.by_name.get(name)
        if L is None:
            L = Line(len(self.lines), name, prio, nmi)
            self.lines.append(L)
            self.by_name[name] = L
        return L

    def attach(self, name, handler, arg=None, prio=None, nmi=False, native=False):
        L = self.line(name, 1 if prio is None else prio, nmi)
        if prio is not None:
            L.prio = prio
        L.nmi = nmi
        L.native = 1 if native else 0
        L.arg = arg
        L.handler = handler
        L.enabled = 1
        L.on_error = None
        return L

    def detach(self, name):
        L = self.by_name.get(name)
        if L is not None:
            L.handler = None
            L.pending = 0

    def set_basepri(self, p):
        self.basepri = p
        self.kick()  # lowering the level may release pending lines

    def set_enabled(self, name, on):
        L = self.by_name[name]
        L.enabled = 1 if on else 0
        if on:
            self.kick()

    # -- raising ---------------------------------------------------------------------------
    def raise_line(self, L):
        """Pend a line and deliver what is ready (from any hardware thread)."""
        self._acq()
        self.raises += 1
        L.raised += 1
        if L.pending:
            L.coalesced += 1
            if self.masked:
                L.coalesced_masked += 1
        L.pending = 1
        if L.native:
            self.native_pending = 1
        self._rel()
        if L.nmi:
            self._run_nmi(L)
            return
        self.kick()

    def pend(self, name):
        self.raise_line(self.by_name[name])

    def _ready(self, L):
        if not L.pending or not L.enabled or L.handler is None:
            return False
        bp = self.basepri
        return bp is None or L.prio >= bp

    def _best(self, native):
        # _ready inlined: this scan runs for every interrupt taken
        best = None
        bp = self.basepri
        for L in self.lines:
            if (L.pending and L.native == native and L.enabled and not L.nmi
                    and L.handler is not None and (bp is None or L.prio >= bp)
                    and (best is None or L.prio > best.prio)):
                best = L
        return best

    def has_ready(self):
        for L in self.lines:
            if not L.nmi and self._ready(L):
                return True
        return False

    def kick(self):
        """Deliver what is ready, unless PRIMASK holds it or a delivery is in flight."""
        if self.masked:
            return
        if self.native_pending:
            self._run_native()
        if MP and not self._isr and _thread.get_ident() == self.main_ident:
            # raised by the main program itself (enable_irq, pend, BASEPRI lowered): the
            # CPU takes the interrupt right here, before the next instruction
            self._drain_now()
            return
        self._acq()
        if self.masked or self.in_flight or self._best(0) is None:
            self._rel()
            return
        self.in_flight = 1
        self._rel()
        if MP:
            try:
                _vm_schedule(self._deliver_cb, None)
            except RuntimeError:
                # the VM's queue is full (of the user's own micropython.schedule calls):
                # the line stays pending, as a held interrupt would; the timer thread retries
                self.vm_queue_full += 1
                self.in_flight = 0
                self.retry = 1
                self.hw.timers_changed()
                return
            self.deliveries += 1
            self.hw.main_waker.notify()   # an idle main program returns to bytecode now
        else:
            self._deliver(None)
            self._after()

    def _run_native(self):
        # firmware C code (mpirq's soft path): runs in this thread, one at a time
        if not self._native_lock.acquire(0):
            return  # the holder runs it
        try:
            while not self.masked:
                self._acq()
                L = self._best(1)
                if L is not None:
                    L.pending = 0
                else:
                    self.native_pending = 0   # raise_line sets it again under this lock
                self._rel()
                if L is None:
                    return
                L.runs += 1
                L.handler(L.arg)
        finally:
            self._native_lock.release()

    def _deliver(self, _):
        """Run ready lines, highest priority first, one at a time (the CPU's ISR context)."""
        if self._busy or self._isr:
            # arrived inside a main-thread controller section (or a handler _drain_now
            # runs): back off; that section's exit (or _drain_now's loop) delivers
            self.in_flight = 0
            self.redo = 1
            self.redeliveries += 1
            return
        try:
            self._deliver_all()
        except KeyboardInterrupt:
            # Ctrl-C's SIGINT landed in this scheduled delivery (the VM would print and
            # drop it): the line stays deliverable and the Ctrl-C is owed to the program
            self.in_flight = 0
            self.hw.kbd_rearm()
        if MP:
            self._after()

    def _deliver_all(self):
        while True:
            self._acq()
            L = None if self.masked else self._best(0)
            if L is None:
                self.in_flight = 0
                self._rel()
                break
            L.pending = 0
            self._rel()
            self._call(L)

    def _drain_now(self):
        while True:
            self._acq_main()
            L = None if self.masked else self._best(0)
            if L is not None:
                L.pending = 0
            self._rel_main()
            if L is None:
                break
            self._call(L)
        self._after()

    def _after(self):
        if self.wake_req:
            self.wake_req = 0
            self.hw.main_waker.notify()

    def _call(self, L):
        h = L.handler
        if h is None:
            return
        err = None
        self._isr = 1
        traced = rxtrace.on and L is self.hw.uart.line
        if traced:
            rxtrace.stamp(rxtrace.ISR0)
        heap_lock()
        try:
            h(L.arg)
        except Exception as e:
            err = e
        except BaseException:
            # KeyboardInterrupt (Ctrl-C's SIGINT at a bytecode branch of the handler)
            heap_unlock()
            self._isr = 0
            raise
        heap_unlock()
        if traced:
            rxtrace.stamp(rxtrace.ISR1)
        self._isr = 0
        L.runs += 1
        if err is not None:
            self._report(L, err)

    def _run_nmi(self, L):
        self._nmi_lock.acquire()
        self._nmi = 1
        try:
            while L.pending:
                L.pending = 0
                if L.enabled and L.handler is not None:
                    self._call(L)
        finally:
            self._nmi = 0
            self._nmi_lock.release()
        self._after()

    def _report(self, L, e):
        L.errors += 1
        L.enabled = 0
        L.handler = None     # as mpirq.c: the callback is dropped, the trigger disabled
        if L.on_error is not None:
            L.on_error()
        self.errors += 1
        self.last_error = "irq %s: %s: %s; irq disabled" % (L.name, type(e).__name__, e)
        if self.hw.console:
            try:
                console_write(IRQ_ERROR_BANNER)
                print_exc(e)
            except Exception:
                pass

    # -- PRIMASK-like masking ----------------------------------------------------------------
    # Inside a handler on the VM (not an NMI's) these are the short form the ISR path needs: no
    # other handler runs until this one returns, and every delivery re-checks `masked`
    # under the lock, so setting it needs no lock; lines raised meanwhile stay pending
    # and the delivery loop that runs this handler takes them next (natives run here).
    def _in_handler(self):
        # MicroPython: a (non-NMI) handler runs on the main thread, one at a time
        return (MP and self._isr and not self._nmi
                and _thread.get_ident() == self.main_ident)

    def disable_irq(self):
        if self._isr and self._in_handler():
            was = self.masked
            if not was:
                self._mask_mark = self.raises
            self.masked = 1
            return was
        self._acq()
        was = self.masked
        self.masked = 1
        self._rel()
        return was

    def enable_irq(self, state):
        self.masked = 1 if state else 0
        if self.masked:
            return
        if self._isr and self._in_handler():
            if self.raises != self._mask_mark and self.native_pending:
                self._run_native()
            return
        if self.has_ready():
            self.kick()

    def in_isr(self):
        return self._isr

    # -- reporting ----------------------------------------------------------------------------
    def counters(self):
        """Totals for the host (machine's sim extra, MachinePort.counters -> STATS port.*)."""
        raised = coalesced = masked = 0
        for L in self.lines:
            raised += L.raised
            coalesced += L.coalesced
            masked += L.coalesced_masked
        return {"irq_raised": raised, "irq_coalesced": coalesced,
                "irq_coalesced_masked": masked, "irq_errors": self.errors,
                "vm_queue_full": self.vm_queue_full}

    def state(self):
        pend = []
        lines = {}
        for L in self.lines:
            if L.pending:
                pend.append(L.name)
            lines[L.name] = {"prio": L.prio, "nmi": 1 if L.nmi else 0, "enabled": L.enabled,
                             "pending": L.pending, "raised": L.raised, "runs": L.runs,
                             "coalesced": L.coalesced, "coalesced_masked": L.coalesced_masked,
                             "errors": L.errors, "native": L.native,
                             "attached": 0 if L.handler is None else 1}
        return {"masked": self.masked, "basepri": self.basepri, "pending": pend,
                "errors": self.errors, "last_error": self.last_error, "lines": lines,
                "deliveries": self.deliveries, "redeliveries": self.redeliveries,
                "vm_queue_full": self.vm_queue_full,
                "heap_lock": "real" if HEAP_LOCK_REAL else "no-op (cpython)"}

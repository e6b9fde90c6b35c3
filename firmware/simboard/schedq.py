# The board's micropython.schedule queue, at the personality's depth.
#
# The unix VM's own queue is compiled in (MICROPY_SCHEDULER_DEPTH 4), but an rp2 has 8:
# so the sim keeps the port's queue here, with mpirq.c's rule (a soft IRQ whose handler
# does not fit is dropped silently; micropython.schedule raises RuntimeError), and drains
# it on the main thread through the VM's real scheduler — one VM slot, at a bytecode
# boundary, like mp_sched_run_pending. Callbacks run in order, one at a time, with the
# scheduler locked (the VM locks it while a scheduled callback runs), heap unlocked.
# The drops a board never shows are counted here (bench `state`, machine.sim_counters).
# On CPython the hardware thread that filled the queue drains it (no VM scheduler).
import _thread

from simboard.runtime import MP

if MP:
    import micropython as _vm_micropython

    _vm_schedule = _vm_micropython.schedule
else:
    _vm_schedule = None


class ScheduleQueue:
    def __init__(self, hw, depth):
        self.hw = hw
        self.depth = depth
        self.fns = [None] * depth
        self.args = [None] * depth
        self.head = 0
        self.count = 0
        self.pumping = 0
        self.scheduled = 0
        self.dropped = 0
        self.ran = 0
        self.hwm = 0
        self._lock = _thread.allocate_lock()
        self._pump_cb = self._pump   # bound once: creating a bound method allocates

    def push(self, fn, arg):
        """mp_sched_schedule: True if queued, False if the queue is full (dropped).
        Allocation-free: called from hard handlers and from the hardware threads."""
        self._lock.acquire()
        if self.count >= self.depth:
            self.dropped += 1
            self._lock.release()
            return False
        i = (self.head + self.count) % self.depth
        self.fns[i] = fn
        self.args[i] = arg
        self.count += 1
        self.scheduled += 1
        if self.count > self.hwm:
            self.hwm = self.count
        start = not self.pumping
        self.pumping = 1
        self._lock.release()
        if start:
            self._start_pump()
        return True

    def _start_pump(self):
        if MP:
            try:
                _vm_schedule(self._pump_cb, None)
            except RuntimeError:
                # the VM's own queue is full: the items wait in ours; the next push or
                # the controller's retry starts the pump
                self.pumping = 0
                self.hw.ctrl.retry = 1
                self.hw.timers_changed()
                return
            self.hw.main_waker.notify()
        else:
            self._pump(None)

    def kick(self):
        """Start the pump if items wait and none runs (the controller's retry)."""
        self._lock.acquire()
        start = self.count and not self.pumping
        if start:
            self.pumping = 1
        self._lock.release()
        if start:
            self._start_pump()

    def _pump(self, _):
        while True:
            self._lock.acquire()
            if not self.count:
                self.pumping = 0
                self._lock.release()
                return
            i = self.head
            fn = self.fns[i]
            arg = self.args[i]
            self.fns[i] = None
            self.args[i] = None
            self.head = (i + 1) % self.depth
            self.count -= 1
            self._lock.release()
            self.ran += 1
            try:
                fn(arg)
            except KeyboardInterrupt:
                # Ctrl-C's SIGINT landed in a scheduled handler (the VM would print and
                # drop it): it is owed to the program; the rest still run
                self.hw.kbd_rearm()
            except BaseException:
                # as on a board, the exception reaches the main program; the rest still run
                self._lock.acquire()
                self.pumping = 0
                self._lock.release()
                self.kick()
                raise

    def schedule(self, fn, arg):
        """micropython.schedule(fn, arg) as the port has it."""
        if not self.push(fn, arg):
            raise RuntimeError("schedule queue full")

    def counters(self):
        return {"depth": self.depth, "scheduled": self.scheduled, "ran": self.ran,
                "dropped": self.dropped, "hwm": self.hwm, "waiting": self.count}

# The break rule for an app that owns the serial link.
#
# An app that reads the console itself (a UartSource, or a PolledSource on the USB
# stream) makes Ctrl-C data: inside binary frames 0x03 is an ordinary byte, and the app
# turns MicroPython's own Ctrl-C off (micropython.kbd_intr(-1)) for that reason; on the
# simulator an attached UART RX handler has the same effect. Then nothing stops the app
# from a terminal or mpremote. This module is the rule irqkit's own responder uses, for
# any app: a 0x03 with no 0x00 after it, then a line quiet for quiet_ms, is a person (or
# mpremote) pressing Ctrl-C -- a host's frame always ends in 0x00 and is written at once.
# mpremote follows its "\r\x03" with "\r\x01" (enter the raw REPL), which the app has
# then already read: Break answers with the raw REPL banner, so mpremote's handshake
# completes when the app returns to the REPL it was started from.
#
#     brk = Break(port)
#     brk.attach(sched)                 # the polled check; Ctrl-C of the runtime off
#     ...in the task that reads the link:
#     n = port.serial_read(buf)
#     brk.feed(buf, n)                  # every byte read, before it is used
#     ...
#     try:
#         sched.run()
#     except KeyboardInterrupt:         # raised by Break's task: the app stops
#         pass                          # (no traceback: its "<stdin>" has a ">" that
#                                       # mpremote could take for the raw-REPL prompt)
#     finally:
#         sched.close()                 # handlers detached, Ctrl-C back (kbd_intr(3))
#
# MicroPython 1.9 syntax; runs on MicroPython, CircuitPython and CPython.
from irqkit.compat import const, ticks_ms, ticks_diff
from irqkit.polled import PolledSource

BREAK_QUIET_MS = const(100)
BREAK_POLL_US = const(20000)
RAW_REPL_BANNER = b"raw REPL; CTRL-B to exit\r\n"


class Break:
    def __init__(self, port, quiet_ms=BREAK_QUIET_MS):
        self.port = port
        self.quiet_ms = quiet_ms
        self.ctrl_c = False       # a 0x03 arrived and no 0x00 since
        self.ctrl_a = False       # ... and a 0x01 after it (mpremote entering raw REPL)
        self.t_last = 0
        self.breaks = 0           # how many times the rule stopped the app
        self.kbd_off = False      # attach() turned the runtime's Ctrl-C off

    def feed(self, buf, n):
        """Look at the n bytes just read from the link into buf (main loop)."""
        if not n:
            return
        self.t_last = ticks_ms()
        if buf[n - 1] == 0:
            # the read ended on a frame's delimiter (the usual case): whatever came
            # before it, the state after a 0x00 is "no Ctrl-C" -- no scan needed
            self.ctrl_c = False
            self.ctrl_a = False
            return
        for k in range(n):
            c = buf[k]
            if c == 0:
                self.ctrl_c = False
                self.ctrl_a = False
            elif c == 3:
                self.ctrl_c = True
            elif c == 1 and self.ctrl_c:
                self.ctrl_a = True

    def due(self):
        """True once a Ctrl-C was followed by a quiet line (the PolledSource check)."""
        return self.ctrl_c and ticks_diff(ticks_ms(), self.t_last) > self.quiet_ms

    def fire(self, ev=None):
        """The break task: answer mpremote's raw-REPL request, then stop the app."""
        self.ctrl_c = False
        self.breaks += 1
        if self.ctrl_a:
            self.ctrl_a = False
            self.port.serial_write(RAW_REPL_BANNER)
        raise KeyboardInterrupt

    def source(self, prio=0, interval_us=BREAK_POLL_US):
        """The polled source that checks the rule (lowest priority: frames come first)."""
        return PolledSource("break", self.fire, self.due, interval_us, prio=prio)

    def attach(self, sched, prio=0, kbd_off=True):
        """Add the check to sched and (kbd_off) turn the runtime's Ctrl-C off, so 0x03
        is data; Scheduler.close() turns it back on. Returns the source."""
        src = sched.add(self.source(prio))
        if kbd_off:
            self.kbd_off = kbd_intr(-1)
        return src


def kbd_intr(ch):
    """micropython.kbd_intr(ch) where the runtime has it; True if it did."""
    try:
        import micropython
        micropython.kbd_intr(ch)
        return True
    except (ImportError, AttributeError):
        return False

# The latency responder: the program `irqkit measure` talks to over the serial link.
#
# Every measured path is a real interrupt path through the scheduler:
#   uart  — the link's own RX interrupt: TRIGGER(uart) is answered with the RX ISR's
#           timestamp and the time the deferred task started;
#   soft  — TRIGGER(soft) raises a software interrupt; its task answers;
#   gpio  — an edge on the board's trigger pin (bench channel / modem line / Blinka);
#           the task drives the response pin and answers with the edge count as token;
#   timer — ARM(timer, period_us) starts a timer; every tick's task sends an EVENT.
# Replies are sent from the deferred tasks (never from an ISR).
#
# PING is the transport floor: the main loop reads the link itself before each dispatch
# step (the serial poll path, poll_link) and answers a PING there, without the RX event
# going through the ring and the scheduler; so rtt(uart) - rtt(ping) is what the
# interrupt path adds. Any other frame read there is held for the RX task, which handles
# it with its own event (TRIGGER uart needs that event's ISR timestamp).
#
# Stopping: CONFIG run=0 from the host; or Ctrl-C from a terminal or mpremote. The app
# turns off MicroPython's Ctrl-C handling while it runs (0x03 is an ordinary byte inside
# binary frames) and applies the break rule of irqkit.brk (the piece any app that owns
# the link can use): a 0x03 with no 0x00 after it, then a quiet line, stops it, and
# mpremote's raw-REPL request that followed is answered (the harness starts the app from
# the raw REPL, so that is where the board is when the app returns). On return every
# handler is detached and Ctrl-C is back (Scheduler.close()).
import sys

from irqkit import VERSION
from irqkit import proto as P
from irqkit.compat import const, ticks_us, ticks_diff, wrap, COUNTER_MASK
from irqkit.frame import FrameDecoder, FrameEncoder, CODEC
from irqkit.sched import Scheduler, IDLE_MAX_US
from irqkit.source import SoftSource
from irqkit.polled import PolledSource
from irqkit.hwsource import GpioSource, TimerSource, UartSource
from irqkit import report
from irqkit.ring import pending
from irqkit.brk import Break, kbd_intr
# A stale RX event is dispatched soon after the drain that made it stale; beyond this
# age t_empty is ignored, so ticks_us wrap-around (~537 s half period) cannot turn a
# fresh event "stale" and strand its bytes.
STALE_WINDOW_US = const(100000000)
PRIO_TIMER = const(4)
PRIO_GPIO = const(3)
PRIO_UART = const(2)
PRIO_SOFT = const(1)
PRIO_BREAK = const(0)
SWI_LINE = "SWI"          # the simulator's software-interrupt line (bench `soft`)
# The timer counters that add up across arm/disarm cycles (lat_max_us takes the max).
# How a valid frame can be refused (each counted, STATS "link.refused_<kind>"): a CONFIG
# key the app does not know, TRIGGER for a source without one (gpio, timer), a STATS page
# past the last, ARM of a source the board does not have (ARM_R with an error status).
REFUSALS = ("config_key", "trigger_source", "stats_page", "arm_source")
# The requests the app handles (STATS "link.ok_<TYPE>" counts each one handled).
REQUESTS = (P.HELLO, P.PING, P.ARM, P.TRIGGER, P.STATS, P.CONFIG, P.RESET_STATS)
TIMER_SUMS = ("triggers", "put", "taken", "overflow", "merged", "deferred", "debounced",
              "errors", "delivered")


class App:
    def __init__(self, port, board="unknown", gpio_pin=None, response_pin=None,
                 capacity=16):
        self.port = port
        self.board = board
        self.sched = sched = Scheduler(port)
        self.dec = FrameDecoder()
        self.enc = FrameEncoder()
        self.rx = bytearray(64)
        self.evbuf = bytearray(P.EVENT_SIZE)
        self.tx_seq = 0
        self.running = False
        self.unknown = 0          # frames of an unknown type (answered with ERROR)
        self.bad_payload = 0      # frames whose payload did not parse
        self.brk = Break(port)    # the break rule (Ctrl-C from a terminal or mpremote)
        # Every valid frame is counted once: handled (ok, by type), or refused (by kind,
        # REFUSALS: unknown_type and bad_payload above are the other two ways).
        self.ok = {}              # type -> frames handled
        self.refused = {}         # kind -> valid frames refused
        self.refusing = False     # the frame being handled was refused
        self.stats_pages = None
        self.capacity = capacity
        self.response_pin = response_pin
        self.gpio_edges = 0
        self.timer = None
        self.timer_done = {}      # counters of disarmed timers: STATS keeps reporting them
        self.uart_ev = None       # the RX event being handled (for TRIGGER uart)
        self.t_empty = None       # ticks_us just before a read that found the RX FIFO empty
        self.rx_stale = 0         # RX events whose bytes were already read (poll or task)
        self.rx_n = 0             # bytes in self.rx ...
        self.rx_i = 0             # ... of which the decoder has taken rx_i
        self.held = False         # a frame read by poll_link waits in dec for the RX task
        self.ping_poll = 0        # PINGs answered from the serial poll path
        self.ping_task = 0        # PINGs answered from the RX task (read there first)
        try:
            self.uart = sched.add(UartSource("uart", self.on_rx, prio=PRIO_UART,
                                             capacity=capacity))
        except NotImplementedError:
            # USB CDC consoles have no RX interrupt exposed to Python: poll the link.
            self.uart = sched.add(PolledSource("uart", self.on_rx, self.rx_waiting, 200,
                                               prio=PRIO_UART, capacity=capacity))
        self.soft = sched.add(SoftSource("soft", self.on_soft, prio=PRIO_SOFT,
                                         capacity=capacity))
        self.gpio = None
        if gpio_pin is not None:
            # a port may offer a better GPIO source (CircuitPython: keypad timestamps)
            mk = getattr(port, "gpio_source", None)
            try:
                if mk is not None:
                    src = mk("gpio", self.on_gpio, gpio_pin, "rising", PRIO_GPIO, capacity)
                else:
                    src = GpioSource("gpio", self.on_gpio, pin=gpio_pin, trigger="rising",
                                     prio=PRIO_GPIO, capacity=capacity)
                self.gpio = sched.add(src)
            except NotImplementedError:
                self.gpio = None
        self.brk.attach(sched, prio=PRIO_BREAK, kbd_off=False)   # Ctrl-C off in run()
        # On the simulator board its software-interrupt line (bench `soft N RATE`) raises
        # the soft source, so a bench storm reaches a source; a board has no such line.
        self.swi = _sim_extras()
        if self.swi is not None:
            self.swi.soft_irq(self.soft.isr, priority=PRIO_SOFT, line=SWI_LINE)

    def sources(self):
        names = ["uart", "soft"]
        if self.gpio is not None:
            names.append("gpio")
        if self.has_timer():
            names.append("timer")
        return names

    def has_timer(self):
        try:
            return callable(self.port.timer)
        except AttributeError:
            return False

    # -- link -------------------------------------------------------------------------------
    def send(self, type, seq, payload, n):
        self.port.serial_write(self.enc.encode(type, seq, payload, n))

    def send_bytes(self, type, seq, payload):
        self.send(type, seq, payload, len(payload))

    def send_event(self, src_id, token, ev, seq=0):
        buf = self.evbuf
        P.pack_event_into(buf, src_id, token, ev.t_isr, ev.t_task, ev.count)
        self.send(P.EVENT, seq, buf, P.EVENT_SIZE)

    def rx_waiting(self):
        """For a polled link: a held frame or bytes waiting."""
        return self.held or self.port.serial_any()

    def _read(self):
        """Read what is waiting into self.rx (rx_n bytes, rx_i = 0), feed the break rule.
        0: nothing (t_empty is then stamped, see on_rx)."""
        buf = self.rx
        t0 = ticks_us()           # stamped before the read: bytes after it raise a later event
        n = self.port.serial_read(buf)
        self.rx_i = 0
        self.rx_n = n
        if not n:
            self.t_empty = t0
            return 0
        self.brk.feed(buf, n)
        return n

    def poll_link(self):
        """The serial poll path (main loop, before each dispatch step): read what is
        waiting, answer PINGs at once, hold any other frame for the RX task."""
        if self.held:
            return
        dec = self.dec
        buf = self.rx
        while True:
            i = self.rx_i
            if i >= self.rx_n:
                if not self._read():
                    return
                i = 0
            i += dec.feed_buf(buf, self.rx_n, i)
            self.rx_i = i
            if dec.ready:
                if dec.type == P.PING:
                    self.ping_poll = (self.ping_poll + 1) & 0x1FFFFFFF
                    self.ok[P.PING] = self.ok.get(P.PING, 0) + 1   # handled, as in handle()
                    self.send(P.PONG, dec.seq, dec.payload, dec.payload_len)
                else:
                    self.held = True
                    return

    def on_rx(self, ev):
        """UART RX task: handle the frame poll_link held, then read what arrived, feed
        the frame decoder, handle frames."""
        # RX interrupts are level-triggered: a frame arriving in two chunks raises two
        # events, and the first task reads both. The second event is stale: its bytes are
        # gone, and whatever is readable now (the next frame) has its own, later event.
        # Stale iff the interrupt fired before a read that found the FIFO empty (the read
        # drained everything that had arrived by then). Handling it would answer the
        # next TRIGGER with a t_isr older than the host's send.
        t_empty = self.t_empty
        if (t_empty is not None and ticks_diff(t_empty, ev.t_isr) > 0
                and ticks_diff(ticks_us(), t_empty) < STALE_WINDOW_US):
            self.rx_stale += 1
            return
        # A frame poll_link held may have been read together with the bytes of the frame
        # before it (no empty read between them), so an older event -- that frame's
        # interrupt -- can come first: while a newer RX event is already waiting, this one
        # is not the held frame's own (its t_isr would predate the host's send).
        if self.held and pending(self.uart):
            self.rx_stale += 1
            return
        self.uart_ev = ev
        dec = self.dec
        if self.held:
            self.held = False
            self.handle(dec.type, dec.seq, dec.payload, dec.payload_len)
            if not self.running:
                return
        buf = self.rx
        while True:
            i = self.rx_i
            if i >= self.rx_n:
                if not self._read():
                    break
                i = 0
            i += dec.feed_buf(buf, self.rx_n, i)
            self.rx_i = i
            if dec.ready:
                if dec.type == P.PING:
                    self.ping_task = (self.ping_task + 1) & 0x1FFFFFFF
                self.handle(dec.type, dec.seq, dec.payload, dec.payload_len)
                if not self.running:
                    return

    def handle(self, type, seq, payload, n):
        self.refusing = False
        try:
            if type == P.PING:
                self.send(P.PONG, seq, payload, n)
            elif type == P.TRIGGER:
                self.on_trigger(seq, payload, n)
            elif type == P.HELLO:
                self.send_bytes(P.HELLO_R, seq, P.pack_hello_r(self.port.ticks_hz, self.hello()))
            elif type == P.ARM:
                self.on_arm(seq, payload, n)
            elif type == P.STATS:
                self.on_stats(seq, P.unpack_stats(payload, n))
            elif type == P.RESET_STATS:
                self.reset_stats()
                self.send_bytes(P.RESET_R, seq, b"")
            elif type == P.CONFIG:
                key, value = P.unpack_config(payload, n)
                if key == "run" and value == "0":
                    self.send_bytes(P.CONFIG_R, seq, P.pack_status(P.STATUS_OK))
                    self.running = False
                    self.sched.stop()
                else:
                    self.refuse("config_key", P.ERR_BAD_PAYLOAD, type, seq, "unknown config " + key)
            else:
                self.unknown += 1
                self.error(P.ERR_UNKNOWN_TYPE, type, seq, "")
                return
        except ValueError as e:
            self.bad_payload += 1
            self.error(P.ERR_BAD_PAYLOAD, type, seq, str(e))
            return
        if not self.refusing:
            self.ok[type] = self.ok.get(type, 0) + 1

    def error(self, code, type, seq, detail):
        self.send_bytes(P.ERROR, seq, P.pack_error(code, type, detail))

    def refuse(self, kind, code, type, seq, detail=None):
        """A valid frame the app will not do: counted by kind (STATS "link.refused_<kind>");
        answered with ERROR, or (detail None) the caller's own reply carries the status."""
        self.refusing = True
        self.refused[kind] = self.refused.get(kind, 0) + 1
        if detail is not None:
            self.error(code, type, seq, detail)

    def hello(self):
        d = {"fw": VERSION, "board": self.board, "runtime": sys.implementation.name,
             "port": self.port.name, "irq": self.uart.mode, "sources": self.sources(),
             "ping": "poll",   # PING answered from the serial poll path (poll_link)
             "codec": CODEC}   # the frame codec's path: "viper" or "python"
        uid = _unique_id()
        if uid:
            d["id"] = uid
        info = getattr(self.port, "info", None)   # port facts, e.g. keypad scan interval
        if info is not None:
            extra = info()
            for k in extra:
                d[k] = str(extra[k])
        return d

    # -- sources ------------------------------------------------------------------------------
    def on_trigger(self, seq, payload, n):
        src, token = P.unpack_trigger(payload, n)
        if src == P.SRC_UART:
            # this very frame came in through the RX interrupt: answer with its timestamps
            self.send_event(P.SRC_UART, token, self.uart_ev, seq)
        elif src == P.SRC_SOFT:
            self.soft.trigger(wrap(token), seq)  # the reply carries the request's seq
        else:
            self.refuse("trigger_source", P.ERR_UNKNOWN_SOURCE, P.TRIGGER, seq, "source %d has no TRIGGER" % src)

    def on_soft(self, ev):
        self.send_event(P.SRC_SOFT, ev.a, ev, ev.b)

    def on_gpio(self, ev):
        self.gpio_edges += 1
        if self.response_pin is not None:
            # toggle per edge: a watcher on the host sees every response as a change
            self.port.pin_write(self.response_pin, self.gpio_edges & 1)
        self.send_event(P.SRC_GPIO, self.gpio_edges, ev, 0)

    def on_tick(self, ev):
        self.send_event(P.SRC_TIMER, ev.a, ev, 0)

    def on_arm(self, seq, payload, n):
        src, param = P.unpack_arm(payload, n)
        mode = ""
        status = P.STATUS_OK
        if src == P.SRC_TIMER:
            if self.timer is not None:
                self.retire_timer()
            if param:
                try:
                    self.timer = self.sched.add(TimerSource("timer", self.on_tick, param,
                                                            prio=PRIO_TIMER,
                                                            capacity=self.capacity))
                    mode = self.timer.mode
                except NotImplementedError:
                    status = P.ERR_UNKNOWN_SOURCE
            else:
                mode = "off"
        elif src == P.SRC_GPIO:
            if self.gpio is None:
                status = P.ERR_UNKNOWN_SOURCE
            else:
                self.gpio_edges = 0
                mode = self.gpio.mode
        elif src == P.SRC_UART:
            mode = self.uart.mode
        elif src == P.SRC_SOFT:
            mode = self.soft.mode
        else:
            status = P.ERR_UNKNOWN_SOURCE
        if status != P.STATUS_OK:
            self.refuse("arm_source", status, P.ARM, seq)   # ARM_R carries the status
        self.send_bytes(P.ARM_R, seq, P.pack_arm_r(src, status, mode))

    def retire_timer(self):
        """Disarm the timer, folding its counters into timer_done: a disarmed (or
        re-armed) timer's triggers, overflows and deliveries stay visible in STATS."""
        s = report.source_stats(self.timer)
        self.sched.remove(self.timer)
        self.timer = None
        done = self.timer_done
        for k in TIMER_SUMS:
            done[k] = done.get(k, 0) + s[k]
        done["lat_max_us"] = max(done.get("lat_max_us", 0), s["lat_max_us"])

    def timer_stats(self, d):
        """Add the disarmed timers' counters to STATS' "timer.*" (mode "off" if none)."""
        done = self.timer_done
        if not done:
            return
        if self.timer is None:
            d["timer.mode"] = "off"
            d["timer.pending"] = 0
        for k in done:
            now = d.get("timer." + k, 0)
            d["timer." + k] = max(now, done[k]) if k == "lat_max_us" else now + done[k]

    # -- statistics ---------------------------------------------------------------------------
    def stats(self):
        d = {}
        st = report.stats(self.sched)
        for k in st:
            if k == "sources":
                continue
            v = st[k]
            if isinstance(v, dict):          # port counters: "port.<name>"
                for kk in v:
                    d[k + "." + kk] = v[kk]
            else:
                d[k] = "" if v is None else v
        for name in st["sources"]:
            s = st["sources"][name]
            for k in s:
                v = s[k]
                if isinstance(v, dict):      # a storm guard's counters: "<src>.storm.<name>"
                    for kk in v:
                        d[name + "." + k + "." + kk] = v[kk]
                else:
                    d[name + "." + k] = v
        self.timer_stats(d)
        c = self.dec.counters()
        for k in c:
            d["link." + k] = c[k]
        d["link.unknown_type"] = self.unknown
        d["link.bad_payload"] = self.bad_payload
        for k in REFUSALS:
            d["link.refused_" + k] = self.refused.get(k, 0)
        for t in REQUESTS:
            d["link.ok_" + P.TYPE_NAMES[t]] = self.ok.get(t, 0)
        d["link.rx_stale"] = self.rx_stale
        d["link.ping_poll"] = self.ping_poll
        d["link.ping_task"] = self.ping_task
        return d

    def on_stats(self, seq, page):
        if page == 0 or self.stats_pages is None:
            self.stats_pages = P.stats_pages(self.stats())  # one snapshot for all pages
        pages = self.stats_pages
        if page >= len(pages):
            self.refuse("stats_page", P.ERR_BAD_PAYLOAD, P.STATS, seq, "no page %d" % page)
            return
        self.send_bytes(P.STATS_R, seq, pages[page])

    def reset_stats(self):
        report.reset(self.sched)
        self.timer_done = {}
        self.dec.reset_counters()
        self.unknown = 0
        self.bad_payload = 0
        self.ok = {}
        self.refused = {}
        self.rx_stale = 0
        self.ping_poll = 0
        self.ping_task = 0

    # -- main loop ----------------------------------------------------------------------------
    def run(self):
        kbd_intr(-1)
        self.running = True
        try:
            self.loop()
        finally:
            self.running = False
            if self.timer is not None:
                self.retire_timer()
            self.sched.close()   # UART/GPIO handlers detached, kbd_intr(3)
            if self.swi is not None:
                self.swi.detach(SWI_LINE)


    def loop(self):
        """Scheduler.run with the serial poll path before each dispatch step: the same
        dispatch and idle (a held frame's RX event is pending, so it never idles on it)."""
        sched = self.sched
        step = sched.step
        poll = self.poll_link
        port = sched.port
        sched.running = True
        while sched.running:
            poll()
            if step():
                continue
            b = IDLE_MAX_US
            now = ticks_us()
            for p in sched.polled:     # wake in time for the next polled check
                n = ticks_diff(p.due, now)
                if n < b:
                    b = n
            if b > 0:
                sched.idles = (sched.idles + 1) & COUNTER_MASK
                port.idle(b)
        sched.running = False


def _sim_extras():
    """simboard.extras when the app runs on the simulator board (its ROM loaded and its
    board up), else None: never on a board, where there is no simboard."""
    b = sys.modules.get("simboard.board")
    if b is None or b.current() is None:
        return None
    from simboard import extras
    return extras


def _unique_id():
    """machine.unique_id() (CircuitPython: microcontroller.cpu.uid) as hex, "" where the
    port has none. Only modules already imported are asked (the port imported its own)."""
    m = sys.modules.get("machine")
    f = getattr(m, "unique_id", None)
    try:
        if f is not None:
            uid = f()
        else:
            uid = getattr(getattr(sys.modules.get("microcontroller"), "cpu", None), "uid", None)
    except (OSError, ValueError, NotImplementedError):
        uid = None
    return "".join(["%02x" % b for b in uid]) if uid else ""


def main(port, **kw):
    """Run the responder on `port` until the host sends CONFIG run=0 or Ctrl-C."""
    App(port, **kw).run()

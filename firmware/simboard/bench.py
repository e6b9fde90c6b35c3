# The simulator's bench channel: a unix stream socket the host uses like the wire from a
# signal generator. Line based; every command gets exactly one line back:
#   "ok ..." or "err <reason>". Bad input never stops the board.
#
# For a simulator on another machine the launcher may ask for a TCP listener as well
# (IRQKIT_SIM_BENCH_TCP=HOST:PORT). With a token (IRQKIT_SIM_BENCH_TOKEN, set by the launcher
# for any address other than loopback) a TCP client's first line must be "auth TOKEN":
# anything else gets one "err refused: ..." line, is disconnected and counted
# (`state` -> bench.refused_clients). Clients on the unix socket (0600) need no token.
import json
import select
import socket
import os

EAGAIN = 11   # errno on Linux (the simulator's host): the socket would block

from simboard.runtime import sockaddr_un
from simboard.peripherals import TRIGGERS, EdgeTrain, Steps
from simboard import rxtrace

MAX_LINE = 1024
MAX_OUT = 65536     # bytes of unread replies a client may owe before it is disconnected
MAX_EDGES = 200000  # steps in one timed stimulus command
IPPROTO_TCP = 6     # MicroPython's socket module has no constants for these
TCP_NODELAY = 1
REFUSED = (b"err refused: wrong or missing bench token (use the URL `irqkit sim` printed, "
           b"with its ?token=...)\n")

HELP = ("commands: help | pins | get PIN | set PIN 0|1 | pulse PIN [width_us] | "
        "bounce PIN N T_US LEVEL | train PIN N RATE_HZ [JITTER_US] | "
        "quad PIN_A PIN_B STEPS RATE_HZ [BOUNCE_EDGES] (STEPS<0: reverse; paced: a late "
        "step delays the rest) | "
        "edges PIN (rises falls on the wire) | state | "
        "soft N RATE_HZ [LINE] | raise LINE | nmi | basepri P|none | reset-stats | "
        "rxtrace [on|off] (where a console-RX interrupt's us go: medians); "
        "timed stimulus runs on the board's clock and the reply comes at once")


def _int(text, what):
    try:
        return int(text)
    except ValueError:
        raise ValueError("%s must be an integer, got %r" % (what, text))


def _same(a, b):
    """a == b for bytes, in a time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0


def tcp_listener(spec):
    """A listening TCP socket on "HOST:PORT" (SO_REUSEADDR: a soft reset rebinds at once)."""
    host, _, port = spec.rpartition(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(host, int(port), socket.AF_INET)[0][-1])
        s.listen(4)
    except BaseException:
        s.close()
        raise
    return s


class BenchServer:
    def __init__(self, hw, path, tcp=None, token=None):
        self.hw = hw
        self.path = path
        self.tcp = tcp if tcp is not None else (os.getenv("IRQKIT_SIM_BENCH_TCP") or None)
        if token is None:
            token = os.getenv("IRQKIT_SIM_BENCH_TOKEN") or None
        self.token = token.encode() if token else None
        self.refused_clients = 0   # TCP clients without the right token
        # the TCP listener first: once the unix socket exists (what the launcher waits
        # for) both are listening
        self.ts = tcp_listener(self.tcp) if self.tcp else None
        try:
            os.remove(path)
        except OSError:
            pass
        self.ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ls.bind(sockaddr_un(path))
        self.ls.listen(4)
        self.clients = {}
        self.running = 1
        self.dropped_clients = 0   # disconnected for owing more than MAX_OUT unread bytes
        self.seed = 12345

    def close(self):
        self.running = 0
        for s in (self.ls, self.ts):
            try:
                if s is not None:
                    s.close()
            except OSError:
                pass

    def serve(self):
        p = select.poll()
        p.register(self.ls, select.POLLIN)
        lsfd = self.ls.fileno()
        tsfd = -1
        if self.ts is not None:
            p.register(self.ts, select.POLLIN)
            tsfd = self.ts.fileno()
        while self.running:
            try:
                events = p.poll(500)
            except OSError:
                continue
            for obj, ev in events:
                fd = obj if isinstance(obj, int) else obj.fileno()
                if fd == lsfd or fd == tsfd:
                    try:
                        s = (self.ls if fd == lsfd else self.ts).accept()[0]
                    except OSError:
                        continue
                    s.setblocking(False)
                    authed = 1
                    if fd == tsfd:
                        try:
                            s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
                        except OSError:
                            pass
                        authed = 0 if self.token else 1
                    # sock, inbuf, skipping, outbuf, authenticated
                    self.clients[s.fileno()] = [s, b"", 0, b"", authed]
                    p.register(s, select.POLLIN)
                    continue
                c = self.clients.get(fd)
                if c is None:
                    continue
                if ev & select.POLLOUT:
                    self._flush(p, c)
                if not (ev & (select.POLLIN | select.POLLHUP | select.POLLERR)):
                    continue
                try:
                    data = c[0].recv(512)
                except OSError as e:
                    if e.args and e.args[0] == EAGAIN:
                        continue
                    data = b""
                if not data:
                    self._drop(p, c)
                    continue
                buf = c[1] + data
                while True:
                    i = buf.find(b"\n")
                    if i < 0:
                        break
                    line = buf[:i]
                    buf = buf[i + 1:]
                    if not c[4]:
                        if not self._auth(line):
                            break
                        c[4] = 1
                        c[3] += b"ok authenticated\n"
                    elif c[2]:  # the end of an over-long line: one reply for it
                        c[2] = 0
                        c[3] += ("err malformed: line longer than %d bytes\n" % MAX_LINE).encode()
                    else:
                        c[3] += (self.handle_bytes(line) + "\n").encode()
                if not c[4] and (i >= 0 or len(buf) > MAX_LINE):
                    self._refuse(p, c)
                    continue
                if len(buf) > MAX_LINE:
                    buf = b""
                    c[2] = 1  # discard up to the next newline
                c[1] = buf
                self._flush(p, c)

    def _auth(self, line):
        w = line.split()
        return len(w) == 2 and w[0] == b"auth" and _same(w[1], self.token)

    def _refuse(self, p, c):
        """One line for a TCP client without the right token, then disconnect (counted)."""
        self.refused_clients += 1
        try:
            c[0].send(REFUSED)
            for _ in range(64):   # unread input would make close() a reset that loses the line
                if not c[0].recv(512):
                    break
        except OSError:
            pass
        self._drop(p, c)

    def _drop(self, p, c):
        try:
            p.unregister(c[0])
        except (OSError, KeyError):
            pass
        self.clients.pop(c[0].fileno(), None)
        c[0].close()

    def _flush(self, p, c):
        """Send what the socket takes now, never wait: a client that does not read keeps
        its replies here; past MAX_OUT it is disconnected (counted in `state`)."""
        try:
            while c[3]:
                n = c[0].send(c[3])
                if not n:
                    break
                c[3] = c[3][n:]
        except OSError as e:
            if not (e.args and e.args[0] == EAGAIN):
                self._drop(p, c)
                return
        if len(c[3]) > MAX_OUT:
            self.dropped_clients += 1
            self._drop(p, c)
            return
        p.modify(c[0], select.POLLIN | (select.POLLOUT if c[3] else 0))

    def handle_bytes(self, raw):
        try:
            line = raw.decode().strip()
        except (UnicodeError, ValueError):
            return "err malformed: not UTF-8 text"
        for ch in line:
            if ord(ch) < 32 and ch != "\t":
                return "err malformed: control character in command"
        try:
            return self.handle(line)
        except ValueError as e:
            return "err %s" % e
        except Exception as e:  # never let a command kill the bench
            return "err internal: %s: %s" % (type(e).__name__, e)

    def _input(self, name):
        p = self._pin(name)
        if p.output:
            raise ValueError("%s is an output (driven by the firmware)" % p.name)
        return p

    def _rand(self, n):
        """0..n-1 from a small LCG (no allocation-heavy random module needed)."""
        self.seed = (self.seed * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.seed >> 8) % n if n > 0 else 0

    def _stimulus(self, cmd, w):
        if cmd == "bounce":
            self._args(w, 4, 4, "bounce PIN N T_US LEVEL")
            p = self._input(w[1])
            n = _int(w[2], "N")
            t = _int(w[3], "T_US")
            if w[4] not in ("0", "1"):
                raise ValueError("LEVEL must be 0 or 1, got %r" % w[4])
            self._bound(n, 1, MAX_EDGES, "N")
            self._bound(t, 0, 10000000, "T_US")
            lvl = int(w[4])
            steps = bounce_steps(0, p.level, n, t, lvl)
            self.hw.stimulate([p], steps)
            return "ok %s bouncing %d edges over %d us, settling at %d" % (p.name, n, t, lvl)
        if cmd == "train":
            self._args(w, 3, 4, "train PIN N RATE_HZ [JITTER_US]")
            p = self._input(w[1])
            n = _int(w[2], "N")
            rate = _int(w[3], "RATE_HZ")
            jit = _int(w[4], "JITTER_US") if len(w) > 4 else 0
            self._bound(n, 1, MAX_EDGES // 2, "N")
            self._bound(rate, 1, 100000, "RATE_HZ")
            period = 1000000 // rate
            self._bound(jit, 0, period // 4, "JITTER_US (at most a quarter period)")
            v = p.level
            steps = Steps(2 * n)
            for i in range(n):
                t0 = i * period + (self._rand(2 * jit + 1) - jit if jit else 0)
                if t0 < 0:
                    t0 = 0
                steps.add(t0, 0, 1 - v)
                steps.add(t0 + period // 2, 0, v)
            self.hw.stimulate([p], steps)
            return "ok %s train of %d pulses at %d Hz, jitter %d us" % (p.name, n, rate, jit)
        self._args(w, 4, 5, "quad PIN_A PIN_B STEPS RATE_HZ [BOUNCE_EDGES]")
        a = self._input(w[1])
        b = self._input(w[2])
        if a is b:
            raise ValueError("quad needs two different pins")
        steps_n = _int(w[3], "STEPS")
        rate = _int(w[4], "RATE_HZ")
        bn = _int(w[5], "BOUNCE_EDGES") if len(w) > 5 else 0
        self._bound(abs(steps_n), 1, MAX_EDGES // 4, "|STEPS|")
        self._bound(rate, 1, 50000, "RATE_HZ")
        self._bound(bn, 0, 8, "BOUNCE_EDGES")
        if bn % 2:
            raise ValueError("BOUNCE_EDGES must be even (each bounce leaves the new level)")
        self.hw.stimulate([a, b], quad_steps(a.level, b.level, steps_n, 1000000 // rate, bn))
        return "ok quadrature %d steps on %s/%s at %d Hz, bounce %d" % (
            steps_n, a.name, b.name, rate, bn)

    def _bound(self, v, lo, hi, what):
        if v < lo or v > hi:
            raise ValueError("%s must be %d..%d" % (what, lo, hi))

    def _pin(self, name):
        p = self.hw.pins.get(name.upper())
        if p is None:
            raise ValueError("no pin %s (pins: %s)" % (name, " ".join(self.hw.pin_names)))
        return p

    def _args(self, words, lo, hi, usage):
        if not (lo <= len(words) - 1 <= hi):
            raise ValueError("usage: " + usage)

    def handle(self, line):
        words = line.split()
        if not words:
            return "err malformed: empty command (try help)"
        cmd = words[0].lower()
        hw = self.hw
        hw.catch_up()   # the wire as it is now, whatever the hardware thread's lateness
        if cmd == "help":
            return "ok " + HELP
        if cmd == "pins":
            self._args(words, 0, 0, "pins")
            out = {}
            for n in hw.pin_names:
                p = hw.pins[n]
                trig = "none"
                for k in TRIGGERS:
                    if TRIGGERS[k] == p.trigger and p.line is not None:
                        trig = k
                out[n] = {"value": p.level, "mode": "out" if p.output else "in", "irq": trig}
            return "ok " + json.dumps(out)
        if cmd == "edges":
            self._args(words, 1, 1, "edges PIN")
            p = self._pin(words[1])
            return "ok %d %d" % (p.rises, p.falls)
        if cmd == "get":
            self._args(words, 1, 1, "get PIN")
            return "ok %d" % self._pin(words[1]).level
        if cmd == "set":
            self._args(words, 2, 2, "set PIN 0|1")
            p = self._pin(words[1])
            if words[2] not in ("0", "1"):
                raise ValueError("value must be 0 or 1, got %r" % words[2])
            if p.output:
                raise ValueError("%s is an output (driven by the firmware)" % p.name)
            p.drive(int(words[2]))
            return "ok %s=%d" % (p.name, p.level)
        if cmd == "pulse":
            self._args(words, 1, 2, "pulse PIN [width_us]")
            p = self._pin(words[1])
            width = 100
            if len(words) > 2:
                width = _int(words[2], "width_us")
                if width < 0 or width > 10000000:
                    raise ValueError("width_us must be 0..10000000")
            if p.output:
                raise ValueError("%s is an output (driven by the firmware)" % p.name)
            v = p.level
            hw.stimulate([p], [(0, 0, 1 - v), (width, 0, v)])
            return "ok %s pulsing %d us" % (p.name, width)
        if cmd in ("bounce", "train", "quad"):
            return self._stimulus(cmd, words)
        if cmd == "state":
            self._args(words, 0, 0, "state")
            st = hw.ctrl.state()
            st["uart"] = {"received": hw.uart.received, "dropped": hw.uart.dropped}
            st["schedule"] = hw.schedq.counters() if hw.schedq is not None else {}
            st["bench"] = {"clients": len(self.clients), "dropped_clients": self.dropped_clients,
                           "refused_clients": self.refused_clients, "tcp": self.tcp,
                           "stimulus_active": len(hw.trains),
                           "paced_slip_us": EdgeTrain.slip_us}
            st["timers"] = len([t for t in hw.timers if t.active])
            st["timer_periods_us"] = [t.period_us for t in hw.timers if t.active]
            return "ok " + json.dumps(st)
        if cmd == "rxtrace":
            self._args(words, 0, 1, "rxtrace [on|off]")
            if len(words) == 1:
                return "ok " + json.dumps(rxtrace.report())
            if words[1] == "on":
                rxtrace.start()
            elif words[1] == "off":
                rxtrace.stop()
            else:
                raise ValueError("usage: rxtrace [on|off]")
            return "ok rxtrace " + words[1]
        if cmd == "soft":
            self._args(words, 2, 3, "soft N RATE_HZ [LINE]")
            n = _int(words[1], "N")
            rate = _int(words[2], "RATE_HZ")
            if n < 1 or n > 10000000:
                raise ValueError("N must be 1..10000000")
            if rate < 1 or rate > 1000000:
                raise ValueError("RATE_HZ must be 1..1000000")
            name = words[3] if len(words) > 3 else "SWI"
            L = hw.ctrl.by_name.get(name)
            if L is None:
                raise ValueError("no interrupt line %s" % name)
            hw.inject(name, n, rate)
            if L.handler is None:   # raised with no handler: each one only counted, coalesced
                return ("ok injecting %d on %s at %d Hz; nothing attached to %s: every "
                        "event will only be counted as coalesced" % (n, name, rate, name))
            return "ok injecting %d on %s at %d Hz" % (n, name, rate)
        if cmd == "raise":
            self._args(words, 1, 1, "raise LINE")
            L = hw.ctrl.by_name.get(words[1])
            if L is None:
                raise ValueError("no interrupt line %s (have: %s)" % (
                    words[1], " ".join([x.name for x in hw.ctrl.lines])))
            hw.ctrl.raise_line(L)
            return "ok raised %s" % L.name
        if cmd == "nmi":
            self._args(words, 0, 0, "nmi")
            hw.ctrl.raise_line(hw.ctrl.by_name["NMI"])
            return "ok raised NMI"
        if cmd == "basepri":
            self._args(words, 1, 1, "basepri P|none")
            if words[1] == "none":
                hw.ctrl.set_basepri(None)
            else:
                hw.ctrl.set_basepri(_int(words[1], "P"))
            return "ok basepri=%s" % words[1]
        if cmd == "reset-stats":
            for L in hw.ctrl.lines:
                L.raised = L.runs = L.coalesced = 0
            return "ok"
        return "err unknown command %r (try help)" % words[0]


def bounce_steps(k, level, n, t_us, settle):
    """n edges spread over t_us on pad k, then the settle level (one more edge if needed)."""
    steps = Steps(n + 1)
    v = level
    gap = t_us // n if n else 0
    for i in range(n):
        v = 1 - v
        steps.add(i * gap, k, v)
    if v != settle:
        steps.add(t_us, k, settle)
    return steps


def quad_steps(a, b, n, period_us, bounce):
    """Gray-code steps on pads 0 (A) and 1 (B): n > 0 forward (A leads), n < 0 reverse.
    Each change may chatter `bounce` extra edges (even: the new level stays) 1 us apart,
    all within a quarter of the step period. Paced (EdgeTrain): a late step delays the
    rest, so steps never bunch up as no turning shaft's can."""
    steps = Steps(abs(n) * (1 + bounce), paced=True)
    fwd = n > 0
    for i in range(abs(n)):
        t = i * period_us
        # forward order of (A,B): 00 -> 10 -> 11 -> 01 -> 00: flip A when A == B
        flip_a = (a == b) if fwd else (a != b)
        k = 0 if flip_a else 1
        new = 1 - (a if flip_a else b)
        for j in range(bounce):
            steps.add(t + j, k, new if j % 2 == 0 else 1 - new)
        steps.add(t + bounce, k, new)
        if flip_a:
            a = new
        else:
            b = new
    return steps

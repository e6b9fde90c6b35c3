# The simulator's bench channel: a unix stream socket the host uses like the wire from a
# signal generator. Line based; every command gets exactly one line back:
#   "ok ..." or "err <reason>". Bad input never stops the board.
import json
import select
import socket
import os

from simboard.runtime import sockaddr_un, sleep_us
from simboard.peripherals import TRIGGERS

MAX_LINE = 1024

HELP = ("commands: help | pins | get PIN | set PIN 0|1 | pulse PIN [width_us] | state | "
        "soft N RATE_HZ [LINE] | raise LINE | nmi | basepri P|none | reset-stats")


def _int(text, what):
    try:
        return int(text)
    except ValueError:
        raise ValueError("%s must be an integer, got %r" % (what, text))


class BenchServer:
    def __init__(self, hw, path):
        self.hw = hw
        self.path = path
        try:
            os.remove(path)
        except OSError:
            pass
        self.ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ls.bind(sockaddr_un(path))
        self.ls.listen(4)
        self.clients = {}
        self.running = 1

    def close(self):
        self.running = 0
        try:
            self.ls.close()
        except OSError:
            pass

    def serve(self):
        p = select.poll()
        p.register(self.ls, select.POLLIN)
        lsfd = self.ls.fileno()
        while self.running:
            try:
                events = p.poll(500)
            except OSError:
                continue
            for obj, ev in events:
                fd = obj if isinstance(obj, int) else obj.fileno()
                if fd == lsfd:
                    try:
                        s = self.ls.accept()[0]
                    except OSError:
                        continue
                    self.clients[s.fileno()] = [s, b"", 0]
                    p.register(s, select.POLLIN)
                    continue
                c = self.clients.get(fd)
                if c is None:
                    continue
                try:
                    data = c[0].recv(512)
                except OSError:
                    data = b""
                if not data:
                    p.unregister(c[0])
                    c[0].close()
                    del self.clients[fd]
                    continue
                buf = c[1] + data
                while True:
                    i = buf.find(b"\n")
                    if i < 0:
                        break
                    line = buf[:i]
                    buf = buf[i + 1:]
                    if c[2]:  # the end of an over-long line: one reply for it
                        c[2] = 0
                        self._reply(c[0], "err malformed: line longer than %d bytes" % MAX_LINE)
                    else:
                        self._reply(c[0], self.handle_bytes(line))
                if len(buf) > MAX_LINE:
                    buf = b""
                    c[2] = 1  # discard up to the next newline
                c[1] = buf

    def _reply(self, s, text):
        data = (text + "\n").encode()
        try:
            while data:
                n = s.send(data)
                data = data[n:]
        except OSError:
            pass

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
            p.drive(1 - v)
            if width:
                sleep_us(width)
            p.drive(v)
            return "ok %s pulsed %d us" % (p.name, width)
        if cmd == "state":
            self._args(words, 0, 0, "state")
            st = hw.ctrl.state()
            st["uart"] = {"received": hw.uart.received, "dropped": hw.uart.dropped}
            st["schedule"] = hw.schedq.counters() if hw.schedq is not None else {}
            st["timers"] = len([t for t in hw.timers if t.active])
            st["timer_periods_us"] = [t.period_us for t in hw.timers if t.active]
            return "ok " + json.dumps(st)
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

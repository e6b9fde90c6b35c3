# The board personality: what this simulated board's `machine` offers, read from the
# board file's "sim" section (data, not code branches). The launcher passes the board file
# as JSON in IRQKIT_SIM_BOARD; without it the board is the default `sim` board.
#
# Keys (boards/README.md documents them):
#   pins            list of pin ids as the port names them ("P0", 15, "D2"), or
#                   {"first": 0, "last": 29} for numbered GPIOs
#   pin_error       the ValueError text the port gives for a pin it does not have
#   pin_hard        Pin.irq takes hard= (False: hard= is a TypeError, as on esp32)
#   timer           {"ids": [...], "model": "rp2_us" | "extmod_ms" | "hw_us" | "nrf_us",
#                    "hard": bool, "api": "machine" | "nrf", "callback": "any" | "function"}
#                   rp2_us: period/tick_hz exact in us, freq= through single-precision
#                   float (rp2); extmod_ms: extmod's soft timer, whole milliseconds;
#                   hw_us: a hardware timer counting us (esp32); nrf_us: period= in us,
#                   exact, 24-bit compare (ports/nrf/modules/machine/timer.c)
#                   api "machine": Timer(id, mode=, freq=, period=, ..., callback=) + init()
#                   and ONE_SHOT; api "nrf": Timer(id, period=, mode=, callback=) only, no
#                   init(), start()/stop()/deinit(), ONESHOT (the nrf port's own class)
#                   callback "function": only a plain function (mp_obj_is_fun: no bound
#                   method, no closure), else ValueError (nrf)
#   schedule_depth  micropython.schedule queue depth of the port (mpconfigport.h)
#   console_uart    id of the machine.UART that carries the console (None: USB CDC)
#   uart_hard       UART.irq takes hard=
#   priorities      NVIC-like priority per peripheral kind (higher = more urgent)
import json
import os

DEFAULT = {
    "pins": ["P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7"],
    "pin_error": "Pin(%s) doesn't exist",
    "pin_hard": True,
    "timer": {"ids": [-1], "model": "rp2_us", "hard": True},
    "schedule_depth": 8,
    "console_uart": 0,
    "uart_hard": True,
    "priorities": {"timer": 4, "gpio": 3, "uart": 2},
}


class Personality:
    def __init__(self, board):
        sim = dict(DEFAULT)
        sim.update(board.get("sim") or {})
        self.name = board.get("name", "sim")
        self.clock_hz = board.get("clock_hz") or 0
        pins = sim["pins"]
        if isinstance(pins, dict):
            pins = list(range(pins["first"], pins["last"] + 1))
        self.pins = pins
        self.pin_names = [str(p) for p in pins]
        self.pin_error = sim["pin_error"]
        self.pin_hard = bool(sim["pin_hard"])
        t = sim["timer"]
        self.timer_ids = t["ids"]
        self.timer_model = t["model"]
        self.timer_hard = bool(t.get("hard", False))
        self.timer_api = t.get("api", "machine")
        self.timer_callback = t.get("callback", "any")
        self.schedule_depth = sim["schedule_depth"]
        self.console_uart = sim["console_uart"]
        self.uart_hard = bool(sim["uart_hard"])
        prio = dict(DEFAULT["priorities"])
        prio.update(sim.get("priorities") or {})
        self.prio_timer = prio["timer"]
        self.prio_gpio = prio["gpio"]
        self.prio_uart = prio["uart"]

    def pin_name(self, pin_id):
        """The pad name of a pin id, or the port's own ValueError."""
        for p in self.pins:
            if p == pin_id:
                return str(p)
        raise ValueError(self.pin_error % (pin_id,) if "%" in self.pin_error else self.pin_error)


def load():
    text = os.getenv("IRQKIT_SIM_BOARD")
    board = {}
    if text:
        try:
            board = json.loads(text)
        except ValueError:
            board = {}
    return Personality(board)


_current = [None]


def current():
    if _current[0] is None:
        _current[0] = load()
    return _current[0]

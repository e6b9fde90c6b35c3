# The MicroPython board port's decisions (hard -> soft fallback, timer setup, PRIMASK
# pass-through). No board is attached here, so a stand-in `machine` module records the
# calls — it models only the behaviour the port branches on (hard= refused with TypeError,
# as esp32 does). The real machine.disable_irq runs on the QEMU micro:bit tests.
import sys


class _Pin:
    IN = 0
    OUT = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2
    accept_hard = True

    def __init__(self, pin, mode=0):
        self.pin = pin
        self.calls = []
        self.level = 0

    def irq(self, handler=None, trigger=0, hard=None):
        if hard is not None and not _Pin.accept_hard:
            raise TypeError("unexpected keyword argument 'hard'")
        self.calls.append((trigger, hard))

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v


class _Timer:
    PERIODIC = 1
    ONE_SHOT = 0
    accept_hard = True

    def __init__(self, tid):
        self.tid = tid
        self.inits = []

    def init(self, mode=1, freq=-1, period=-1, tick_hz=1000, callback=None, hard=None):
        if hard is not None and not _Timer.accept_hard:
            raise TypeError("unexpected keyword argument 'hard'")
        self.inits.append((mode, period * 1000000 // tick_hz, hard))

    def deinit(self):
        self.inits.append("deinit")


class _Machine:
    Pin = _Pin
    Timer = _Timer

    def __init__(self):
        self.state = 0
        self.log = []

    def disable_irq(self):
        self.log.append("d")
        s = self.state
        self.state = 1
        return s

    def enable_irq(self, s):
        self.log.append("e%d" % s)
        self.state = s


def _port(**kw):
    fake = _Machine()
    saved = sys.modules.get("machine")
    sys.modules["machine"] = fake
    try:
        if "irqkit.ports.machine_port" in sys.modules:
            del sys.modules["irqkit.ports.machine_port"]
        from irqkit.ports.machine_port import MachinePort
        return MachinePort(**kw), fake
    finally:
        if saved is None:
            del sys.modules["machine"]
        else:
            sys.modules["machine"] = saved


def _h(arg):
    pass


def test_hard_pin_irq_when_the_port_has_it():
    _Pin.accept_hard = True
    port, fake = _port()
    assert port.gpio_irq("X1", "both", _h) == "hard"
    assert port.pins["X1"].calls == [(3, True)]


def test_falls_back_to_soft_and_says_so():
    _Pin.accept_hard = False
    try:
        port, fake = _port()
        assert port.gpio_irq(15, "rising", _h) == "soft"
        assert port.pins[15].calls == [(1, None)]
    finally:
        _Pin.accept_hard = True


def test_timer_hard_then_soft_fallback():
    _Timer.accept_hard = False
    try:
        port, fake = _port(timer_id=2)
        h = port.timer(1000, True, _h)
        assert h.mode == "soft" and h.timer.tid == 2
        assert h.timer.inits == [(1, 1000, None)]
        h.deinit()
        assert h.timer.inits[-1] == "deinit"
    finally:
        _Timer.accept_hard = True
    port, fake = _port()
    assert port.timer(500, False, _h).mode == "hard"


def test_critical_section_maps_to_machine_disable_irq():
    from irqkit.critical import Critical
    port, fake = _port()
    c = Critical(port)
    with c:
        with c:
            pass
    assert fake.log == ["d", "d", "e0"] and fake.state == 0


def test_usb_link_has_no_rx_irq_and_says_so():
    port, fake = _port()
    try:
        port.uart_rx_irq(_h)
    except NotImplementedError as e:
        assert "poll" in str(e)
    else:
        raise AssertionError("expected NotImplementedError")


class _UartNoRxTrigger:
    """A UART whose port has irq() but no RX trigger constant (the old code passed
    trigger 0 — a handler that never runs — and still reported "hard")."""

    def __init__(self):
        self.calls = []

    def irq(self, handler=None, trigger=0, hard=False):
        self.calls.append((trigger, hard))


def test_uart_without_rx_trigger_refuses_instead_of_reporting_hard():
    port, fake = _port(uart=_UartNoRxTrigger())
    try:
        port.uart_rx_irq(_h)
    except NotImplementedError as e:
        assert "RX interrupt" in str(e)
    else:
        raise AssertionError("expected NotImplementedError")
    assert port.uart.calls == []

# Critical sections: nesting, interrupts held off until the outermost exit, max time.
from irqkit.critical import Critical
from irqkit.compat import ticks_us, ticks_diff
from fwtest import raises


class RecordingPort:
    """Counts like PRIMASK: disable returns the previous state, enable restores it."""

    def __init__(self):
        self.enabled = True
        self.calls = []

    def disable_irq(self):
        prev = self.enabled
        self.enabled = False
        self.calls.append("d")
        return prev

    def enable_irq(self, state):
        self.enabled = state
        self.calls.append("e%d" % state)


def _busy(us):
    t0 = ticks_us()
    while ticks_diff(ticks_us(), t0) < us:
        pass


def test_nested_sections_restore_only_at_outermost_exit():
    port = RecordingPort()
    c = Critical(port)
    with c:
        assert not port.enabled and c.depth == 1
        with c:
            assert c.depth == 2
            c.enter()
            c.exit()
        assert not port.enabled, "an inner exit must not re-enable interrupts"
    assert port.enabled and c.depth == 0
    assert port.calls[-1] == "e1" and port.calls.count("e1") == 1
    assert c.entries == 1


def test_max_masked_interval_is_measured():
    port = RecordingPort()
    c = Critical(port)
    with c:
        _busy(3000)
    first = c.max_us
    assert first >= 3000
    with c:
        pass
    assert c.max_us == first, "a shorter section must not lower the maximum"


def test_exception_inside_still_restores():
    port = RecordingPort()
    c = Critical(port)
    try:
        with c:
            raise KeyError("x")
    except KeyError:
        pass
    assert port.enabled and c.depth == 0


def test_unbalanced_exit_is_an_error():
    c = Critical(RecordingPort())
    raises(RuntimeError, c.exit)


def test_sections_keep_the_inproc_hardware_out():
    # With the in-process port, an "ISR" fired from another thread must wait until the
    # critical section ends.
    from fwtest import skip
    try:
        import _thread
    except ImportError:
        skip("no _thread on this runtime")
    from irqkit.ports.inproc import InprocPort
    from irqkit.compat import sleep_ms
    port = InprocPort()
    c = Critical(port)
    log = []
    done = []

    def isr(arg):
        log.append("isr")

    def hw():
        port.fire(isr)
        done.append(1)

    with c:
        _thread.start_new_thread(hw, ())
        sleep_ms(50)
        log.append("main-in-critical")
    t0 = ticks_us()
    while not done and ticks_diff(ticks_us(), t0) < 5000000:
        sleep_ms(1)
    assert log == ["main-in-critical", "isr"]

# The deferral fast path (irqkit.fastpath, issue 12.6): Source.capture and Scheduler.step
# compiled native where the VM has the emitter. The heap-locked ISR + dispatch rig of
# test_isr_alloc runs with the native methods installed and again with the plain ones,
# beside a native function that allocates and must fail under the same lock.
from irqkit.compat import HEAP_LOCK_REAL
from irqkit.report import stats
from irqkit.source import Source
from irqkit.sched import Scheduler
from fwtest import skip
import test_isr_alloc as A


def _fastpath():
    if not HEAP_LOCK_REAL:
        skip("the native fast path and heap_lock() exist only on MicroPython; the VM run counts")
    try:
        from irqkit import fastpath
    except (ImportError, SyntaxError) as e:
        skip("no native emitter on this VM: %s" % e)
    return fastpath


def _run_rig():
    rig = A._Rig()
    A._locked(rig.body)
    st = stats(rig.sched)["sources"]
    assert st["soft"]["pending"] == 4 and st["soft"]["overflow"] == 6
    assert st["merged"]["delivered"] == 10
    assert st["tim"]["delivered"] + st["tim"]["overflow"] == 10
    assert st["gpio"]["triggers"] == 10
    assert rig.hits.n == (st["merged"]["taken"] + st["tim"]["taken"] + st["gpio"]["taken"]
                          + st["uart"]["taken"])


def test_native_capture_and_step_allocate_nothing_and_plain_is_restored():
    fp = _fastpath()
    plain = (Source.capture, Scheduler.step)
    assert fp.install() == "native"
    try:
        assert Source.capture is fp.capture and Scheduler.step is fp.step
        _run_rig()
    finally:
        fp.uninstall()
    assert (Source.capture, Scheduler.step) == plain
    _run_rig()                       # the plain path, same rig, same lock


def test_an_allocating_native_function_does_fail_under_the_lock():
    fp = _fastpath()
    sink = []

    def bad():
        fp._alloc_check(sink)

    try:
        A._locked(bad)
    except MemoryError:
        return
    raise AssertionError("allocation in native code under heap_lock did not raise")

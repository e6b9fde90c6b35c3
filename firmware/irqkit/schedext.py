# The scheduler's parts a small board's build leaves out (irqkit.sched attaches them to
# Scheduler when this module exists; the micro:bit build has no IRQ handlers to detach
# and no heap for tracebacks, and only counts task errors):
# - show(): a failing task's first error, printed on the console from step() in the main
#   loop, never from an ISR. Every error is counted in sched.errors and its source's
#   `errors`; the first exception of each source is also printed with its traceback, so
#   a bug is visible and not only a counter. Later errors of that source are counted
#   only (a task failing on every event would flood the link).
# - close(): the counterpart of every add().
import sys

try:
    print_exception = sys.print_exception
except AttributeError:  # CPython
    from irqkit.compat_host import print_exception


def show(sched, src, e):
    """Print "irqkit: task of source NAME raised ..." and e's traceback on the console
    (or to sched.console, a stream, if one was set). Never raises: with no heap to
    print with, the counters still have it."""
    msg = ("irqkit: task of source '%s' raised (its first error; sched.errors counts "
           "them all):" % src.name)
    out = getattr(sched, "console", None)
    try:
        if out is None:
            print(msg)
            print_exception(e)
        else:
            print(msg, file=out)
            print_exception(e, out)
    except Exception:
        pass


def close(sched):
    """Stop, detach every handler the scheduler installed (GPIO, timer, UART RX:
    remove() for each source; the sources keep their counters), and give the console
    its Ctrl-C back (micropython.kbd_intr(3))."""
    sched.running = False
    for src in list(sched.sources):
        sched.remove(src)
    try:
        import micropython
        micropython.kbd_intr(3)
    except (ImportError, AttributeError):
        pass

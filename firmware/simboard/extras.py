# Sim-only extras: what only a simulator can do, documented, beside MicroPython's API (not
# a second port). Software-interrupt lines (raised by the bench's `soft N RATE` / `raise`,
# or by pend()), the NMI line (runs even while interrupts are disabled), a BASEPRI-like
# level. Handlers attached here run as hard handlers, like machine's hard=True.
from simboard import board as _board


def soft_irq(handler, priority=1, line="SWI"):
    _board.board().ctrl.attach(line, handler, None, priority)


def nmi_irq(handler):
    _board.board().ctrl.attach("NMI", handler, None, 255, True)


def pend(line):
    """Set a line pending from code (like NVIC->ISPR)."""
    _board.board().ctrl.pend(line)


def detach(line):
    _board.board().ctrl.detach(line)


def set_basepri(prio):
    """Lines with priority < prio stay pending (None: off)."""
    _board.board().ctrl.set_basepri(prio)

# `micropython` on the simulator board: the VM's own module (const, heap_lock, mem_info,
# ...) with the parts a board has and the unix VM lacks or has differently:
# - schedule(): the port's queue at the personality's depth (simboard/schedq.py);
# - alloc_emergency_exception_buf(n): accepted, as on a board (the unix VM has none: its
#   heap-locked MemoryError needs no buffer);
# - kbd_intr(ch): the simulated console's Ctrl-C character (-1: Ctrl-C is data).
# The console installs it as sys.modules["micropython"]. On CPython only const, schedule,
# alloc_emergency_exception_buf and kbd_intr exist (no heap_lock: irqkit.compat then says
# the heap lock is a no-op, which it is there).
from simboard import board as _board
from simboard.runtime import MP

if MP:
    import micropython as _vm

    for _k in dir(_vm):
        if _k[:2] != "__":
            globals()[_k] = getattr(_vm, _k)
else:
    def const(x):
        return x


def schedule(fn, arg):
    _board.board().schedq.schedule(fn, arg)


def alloc_emergency_exception_buf(size):
    return None


def kbd_intr(ch):
    _board.board().kbd_intr(ch)

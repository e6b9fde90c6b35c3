"""The targets layer: boards irqkit can start on this machine, looked up by name.

A board file's ``"target"`` names one (``boards/sim.json``: ``"sim"``,
``boards/microbit-v1.json``: ``"qemu-microbit"``); a board without one is a physical
board behind a serial port. Each launcher is a :class:`~.process.ManagedProcess`:

- :mod:`.sim` — the simulator board (MicroPython unix VM on a pty), :mod:`.bench` its
  bench-channel client;
- :mod:`.qemu` — the BBC micro:bit's MicroPython 1.9.2 in QEMU, its UART bridged to a pty
  by :mod:`.ptybridge`.

Add a target by adding an entry to :data:`TARGETS` (as pyserial maps URL schemes to handlers).
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

from ..errors import TargetError
from .qemu import start_microbit
from .sim import start_sim


class RunningTarget(Protocol):
    """What every started target offers (a context manager that stops it)."""

    title: str           # "simulator", "QEMU micro:bit"
    port: str            # the serial port its console is on
    runtime: str
    frozen: bool         # irqkit is in its ROM, as frozen modules: nothing to deploy first

    @property
    def bench(self) -> str | None:
        """The bench channel's URL, None when the target has none."""

    @property
    def serving(self) -> bool:
        """False once the target stopped on its own (stop() was not called)."""

    def banner(self) -> list[str]:
        """Lines describing it, printed by ``irqkit sim`` after ``port:``."""

    def farewell(self) -> str:
        """A line for stderr after stop() ("" for none)."""

    def exit_reason(self) -> str:
        """Why it stopped serving on its own (one line)."""

    def stop(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...


def _start_sim(board: dict[str, Any], runtime: str | None, flash: str | None,
               bench: str | None) -> RunningTarget:
    return start_sim(runtime=runtime, flash=flash, board=board["name"], bench=bench)


def _start_qemu_microbit(board: dict[str, Any], runtime: str | None, flash: str | None,
                         bench: str | None) -> RunningTarget:
    if bench:
        raise TargetError(f"board {board['name']!r} runs in QEMU: it has no bench channel (--bench)")
    return start_microbit()


#: target name (board file) -> starter(board, runtime, flash, bench)
TARGETS: dict[str, Callable[[dict[str, Any], str | None, str | None, str | None], RunningTarget]] = {
    "sim": _start_sim,
    "qemu-microbit": _start_qemu_microbit,
}


def can_start(board: dict[str, Any]) -> bool:
    """True when the board names a target this machine can start."""
    return board.get("target") in TARGETS


def start_target(board: dict[str, Any], *, runtime: str | None = None,
                 flash: str | None = None, bench: str | None = None) -> RunningTarget:
    """Start the board's target; raise :class:`TargetError` for a board without one."""
    name = board.get("target")
    starter = TARGETS.get(name) if isinstance(name, str) else None
    if starter is None:
        raise TargetError(f"board {board['name']!r} names no target irqkit can start "
                          f"(known targets: {', '.join(sorted(TARGETS))})")
    return starter(board, runtime, flash, bench)

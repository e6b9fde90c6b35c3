"""The raw REPL of a device on a serial port, for end-to-end tests."""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator


@contextlib.contextmanager
def raw_repl(port: str) -> Iterator[object]:
    """mpremote's serial transport on port, in the raw REPL, closed (friendly REPL again) after."""
    from mpremote.transport_serial import SerialTransport

    tr = SerialTransport(port, baudrate=115200)
    try:
        tr.enter_raw_repl()
        yield tr
    finally:
        try:
            tr.exit_raw_repl()
        finally:
            tr.close()


def fresh_vm(board: object, setup: str = "") -> object:
    """mpremote's transport on a simulator board after a soft reset (a fresh VM: no
    handlers left from other tests), with ``setup`` run; close it with :func:`close`."""
    from mpremote.transport_serial import SerialTransport

    tr = SerialTransport(board.port, baudrate=115200)  # type: ignore[attr-defined]
    tr.enter_raw_repl(soft_reset=True)
    board.wait_ready()  # type: ignore[attr-defined]
    if setup:
        tr.exec(setup)
    return tr


def close(tr: object) -> None:
    """Back to the friendly REPL, then close the port."""
    try:
        tr.exit_raw_repl()  # type: ignore[attr-defined]
    finally:
        tr.close()  # type: ignore[attr-defined]


@contextlib.contextmanager
def fresh_vms(open_board: Callable[..., object]) -> Iterator[Callable[..., tuple[object, object]]]:
    """A fixture's opener: open_(*args) -> (open_board(*args), a fresh VM on it); every VM
    opened is closed when the block ends."""
    opened: list[object] = []

    def open_(*args: object) -> tuple[object, object]:
        b = open_board(*args)
        t = fresh_vm(b)
        opened.append(t)
        return b, t

    try:
        yield open_
    finally:
        for t in opened:
            close(t)


@contextlib.contextmanager
def fresh_repl(board: object, setup: str = "") -> Iterator[object]:
    """:func:`fresh_vm` as a context manager."""
    tr = fresh_vm(board, setup)
    try:
        yield tr
    finally:
        close(tr)


def ev(tr: object, code: str) -> object:
    """Evaluate an expression on the board; return it parsed as JSON."""
    import json

    return json.loads(tr.eval("__import__('json').dumps(%s)" % code, parse=False))  # type: ignore[attr-defined]


class SimPool:
    """Simulator boards started on first use, one per (personality, runtime), for a module."""

    def __init__(self) -> None:
        self.started: dict[tuple[str, str], object] = {}

    def get(self, name: str, runtime: str = "micropython") -> object:
        from irqkit_host.targets.sim import start_sim

        key = (name, runtime)
        if key not in self.started:
            self.started[key] = start_sim(runtime=runtime, board=name, log=lambda m: None)
        return self.started[key]

    def stop(self) -> None:
        for b in self.started.values():
            b.stop()  # type: ignore[attr-defined]

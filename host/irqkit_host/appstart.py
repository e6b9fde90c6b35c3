"""The code that starts the latency responder (the app) on a board, from its board file's
``firmware`` section (port name, constructor arguments, or a small board's own app).

Here, not in the deploy layer, because starting the app is also what a board whose firmware
needs no deploy gets (the simulator has irqkit frozen in its ROM): `irqkit measure` on it
does not load the deploy layer. :mod:`irqkit_host.deploy.firmware` re-exports it.
"""
from __future__ import annotations

from typing import Any

from .errors import DeployError

# port name (board file) -> (its layer, module, class)
PORTS: dict[str, tuple[str, str, str]] = {
    "machine": ("port-machine", "irqkit.ports.machine_port", "MachinePort"),
    "circuitpython": ("port-circuitpython", "irqkit.ports.circuitpython", "CircuitPythonPort"),
}


def port_spec(board: dict[str, Any]) -> tuple[str, str, str]:
    name = board["firmware"]["port"]
    if name not in PORTS:
        raise DeployError(f"board {board['name']!r}: firmware port {name!r} is not built yet")
    return PORTS[name]


def app_start_code(board: dict[str, Any]) -> list[str]:
    """Raw-REPL commands that start the latency responder on this board: all but the last
    run to completion, the last starts the app (and does not return). DeviceSession runs
    the last one behind its prelude (Ctrl-C off, then a ready marker)."""
    app = board["firmware"].get("app")
    if app is not None:
        # A small board's own responder: each module imported by a command of its own,
        # in order, with a collection after it, so that each compiles in the largest
        # free block the previous ones left (the micro:bit cannot compile them from one
        # command: the command's own code takes the room).
        steps = [f"import gc\nimport {m}\ngc.collect()" for m in app["imports"]]
        return steps + [f"from {app['main']} import main\nmain(board={board['name']!r})\n"]
    _, module, cls = port_spec(board)
    args = board["firmware"].get("port_args", {})
    gpio = board.get("gpio") or {}
    has_gpio = "gpio" in board.get("sources", [])
    pin = gpio.get("trigger_pin") if has_gpio else None
    resp = gpio.get("response_pin") if has_gpio else None
    return [
        f"from irqkit.app import main\n"
        f"from {module} import {cls}\n"
        f"main({cls}(**{args!r}), board={board['name']!r}, gpio_pin={pin!r}, response_pin={resp!r})\n"
    ]

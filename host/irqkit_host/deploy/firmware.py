"""Which firmware files a board gets, and the code that starts the app on it.

Driven by the board file's ``firmware`` section (port name, constructor arguments,
filesystem layout), so a new board is data, not a code branch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import irqkit

from ..errors import DeployError

# Every board gets these (paths relative to the irqkit package).
CORE_FILES = (
    "__init__.py", "clock.py", "compat.py", "compat_host.py", "ring.py", "source.py", "critical.py", "polled.py", "sched.py",
    "report.py", "hwsource.py", "frame.py", "framev.py", "proto.py", "app.py", "ports/__init__.py",
)

# port name (board file) -> (file under irqkit/ports, module, class)
PORTS: dict[str, tuple[str, str, str]] = {
    "machine": ("ports/machine_port.py", "irqkit.ports.machine_port", "MachinePort"),
    "circuitpython": ("ports/circuitpython.py", "irqkit.ports.circuitpython", "CircuitPythonPort"),
}


@dataclass(frozen=True)
class FirmwareFile:
    local: Path    # on this machine
    device: str    # path on the device, relative to its filesystem root


def firmware_dir() -> Path:
    """The irqkit firmware package on this machine (source tree or installed)."""
    return Path(irqkit.__file__).resolve().parent


def port_spec(board: dict[str, Any]) -> tuple[str, str, str]:
    name = board["firmware"]["port"]
    if name not in PORTS:
        raise DeployError(f"board {board['name']!r}: firmware port {name!r} is not built yet")
    return PORTS[name]


def files_for(board: dict[str, Any]) -> list[FirmwareFile]:
    """The files to install: the board's own ``firmware.files`` list when it has one (boards
    too small for everything, e.g. the micro:bit), else the core, the port and the app."""
    root = firmware_dir()
    listed = board["firmware"].get("files")
    if listed:
        for rel in listed:
            if not (root / rel).is_file():
                raise DeployError(f"board {board['name']!r}: firmware file {rel!r} is not in {root}")
        rels = list(listed) + list(board["firmware"].get("app", {}).get("files", []))
    else:
        rels = list(CORE_FILES) + [port_spec(board)[0]]
    return [FirmwareFile(root / rel, "irqkit/" + rel) for rel in rels]


def app_start_code(board: dict[str, Any]) -> list[str]:
    """Raw-REPL commands that start the latency responder on this board: all but the last
    run to completion, the last starts the app (and does not return)."""
    kbd_off = "try:\n import micropython\n micropython.kbd_intr(-1)\nexcept (ImportError, AttributeError):\n pass\n"
    app = board["firmware"].get("app")
    if app is not None:
        # A small board's own responder: each module imported by a command of its own,
        # in order, with a collection after it, so that each compiles in the largest
        # free block the previous ones left (the micro:bit cannot compile them from one
        # command: the command's own code takes the room).
        steps = [f"import gc\nimport {m}\ngc.collect()" for m in app["imports"]]
        return steps + [kbd_off + f"from {app['main']} import main\nmain(board={board['name']!r})\n"]
    _, module, cls = port_spec(board)
    args = board["firmware"].get("port_args", {})
    gpio = board.get("gpio") or {}
    has_gpio = "gpio" in board.get("sources", [])
    pin = gpio.get("trigger_pin") if has_gpio else None
    resp = gpio.get("response_pin") if has_gpio else None
    # Ctrl-C handling off first: the host sends HELLO while the app imports, and a 0x03
    # inside that frame must not interrupt the import on a board.
    return [
        kbd_off +
        f"from irqkit.app import main\n"
        f"from {module} import {cls}\n"
        f"main({cls}(**{args!r}), board={board['name']!r}, gpio_pin={pin!r}, response_pin={resp!r})\n"
    ]

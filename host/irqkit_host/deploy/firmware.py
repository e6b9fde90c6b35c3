"""Which firmware files a board gets (and, from :mod:`irqkit_host.appstart`, the code that
starts the app on it).

Driven by the board file's ``firmware`` section (port name, constructor arguments,
filesystem layout), so a new board is data, not a code branch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import irqkit

from ..appstart import app_start_code as app_start_code  # (re-exported: part of the deploy API)
from ..appstart import port_spec
from ..errors import DeployError
from .manifest import layer_files

#: The layers every board gets unless its board file lists its own (``firmware.layers``),
#: plus its port's layer: see firmware/irqkit/manifests/ and :mod:`.manifest`.
DEFAULT_LAYERS = ("app", "extras")
#: What firmware/package.json holds (`mpremote mip install`): a `machine` board's deploy.
MIP_LAYERS = DEFAULT_LAYERS + ("port-machine",)


@dataclass(frozen=True)
class FirmwareFile:
    local: Path    # on this machine
    device: str    # path on the device, relative to its filesystem root


def firmware_dir() -> Path:
    """The irqkit firmware package on this machine (source tree or installed)."""
    return Path(irqkit.__file__).resolve().parent


def board_layers(board: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(the layers a board gets, its small responder's layers): the board file's
    ``firmware.layers`` / ``firmware.app.layers``, else the defaults and its port's layer."""
    fw = board["firmware"]
    listed = fw.get("layers")
    layers = list(listed) if listed else list(DEFAULT_LAYERS) + [port_spec(board)[0]]
    return layers, list(fw.get("app", {}).get("layers", []))


def files_for(board: dict[str, Any]) -> list[FirmwareFile]:
    """The files to install, from the board's layers' manifests (boards too small for
    everything, e.g. the micro:bit, name their own layers); the small responder's last."""
    root = firmware_dir()
    layers, app_layers = board_layers(board)
    try:
        rels = layer_files(*layers)
        rels += [f for f in layer_files(*app_layers) if f not in rels] if app_layers else []
    except DeployError as exc:
        raise DeployError(f"board {board['name']!r}: {exc}") from None
    return [FirmwareFile(root / rel, "irqkit/" + rel) for rel in rels]


def app_only_files(board: dict[str, Any]) -> set[str]:
    """Files of the small responder's layers that the board's own layers do not hold (not
    import-checked at deploy: the responder is imported when it starts)."""
    layers, app_layers = board_layers(board)
    return set(layer_files(*app_layers)) - set(layer_files(*layers)) if app_layers else set()

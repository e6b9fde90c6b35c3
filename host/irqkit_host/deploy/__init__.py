"""The deploy layer: put the firmware on a device, as the board file says.

- :mod:`.firmware` — which files a board gets, and the code that starts its app;
- :mod:`.device` — file operations over mpremote's ``Transport.fs_*``;
- :mod:`.package` / :mod:`.flat` — the two filesystem layouts (``firmware.layout``);
- :mod:`.mpyinfo` — what ``.mpy`` a device loads, and mpy-cross; :mod:`.minify` — stripped
  source and flat names for boards that compile on the device.

The layout is looked up by name in :data:`LAYOUTS` (no branch per board).
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import DeployError
from ..link.session import DeviceSession
from .device import DeployResult, Device
from .firmware import FirmwareFile, app_start_code, files_for, firmware_dir
from .flat import FlatDeployResult, deploy_flat
from .package import deploy_package

__all__ = [
    "LAYOUTS",
    "DeployResult",
    "Device",
    "FirmwareFile",
    "FlatDeployResult",
    "app_start_code",
    "deploy",
    "deploy_flat",
    "deploy_package",
    "files_for",
    "firmware_dir",
    "verify",
]

#: ``firmware.layout`` in a board file -> deploy function(port, board, mpy=, log=)
LAYOUTS: dict[str, Callable[..., DeployResult]] = {
    "package": deploy_package,
    "flat": deploy_flat,   # no directories, no rename (the micro:bit)
}


def deploy(port: str, board: dict[str, Any], mpy: bool = False,
           log: Callable[[str], None] = lambda s: None) -> DeployResult:
    """Install the board's firmware on the device at ``port`` with the board's layout."""
    layout = board["firmware"].get("layout", "package")
    if layout not in LAYOUTS:
        raise DeployError(f"board {board['name']!r}: unknown firmware layout {layout!r}")
    return LAYOUTS[layout](port, board, mpy=mpy, log=log)


def verify(port: str, board: dict[str, Any]) -> dict[str, Any]:
    """Start the app, ask HELLO, stop it: proves the deployed firmware runs."""
    with DeviceSession(port, app_start_code(board)) as s:
        return s.hello_info

"""The package layout: copy the firmware to a device as ``irqkit/...`` with mpremote's transport.

Only files whose SHA-256 differs from the device's copy are written (the device hashes
its own files with hashlib; where it has none, the file is read back and compared).
Each file is written to ``NAME.tmp`` and then renamed, so a device that stops answering
mid-copy never leaves a half-written file as the only copy. The file operations are
mpremote's ``Transport.fs_*`` calls (:mod:`.device`), which need no ``os.stat`` on the
device (``mpremote cp`` does).
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Any, Callable

from mpremote.transport import TransportError

from ..errors import DeployError, LinkError
from ..link.repl import enter_raw_repl, open_transport
from .device import DeployResult, Device
from .firmware import FirmwareFile, files_for
from .mpyinfo import compile_mpy


def deploy_package(port: str, board: dict[str, Any], mpy: bool = False,
                   log: Callable[[str], None] = lambda s: None) -> DeployResult:
    """Install the board's files under ``irqkit/``; only changed files are written."""
    files = files_for(board)
    transport = open_transport(port)
    result = DeployResult()
    try:
        enter_raw_repl(transport, port)
        dev = Device(transport, port)
        result.runtime, result.mpy_version = dev.probe()
        if mpy and result.mpy_version < 0:
            raise DeployError(f"{port}: this device cannot load .mpy files (no sys.implementation._mpy)")
        for d in sorted({str(Path(f.device).parent) for f in files}):
            dev.mkdir(d)
        with tempfile.TemporaryDirectory() as tmp:
            for f in files:
                _deploy_one(dev, f, mpy, result, Path(tmp), log)
        if result.copied or result.removed:
            # soft reset: modules imported before the copy must not outlive it
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    transport.enter_raw_repl(soft_reset=True, timeout_overall=10)
                except TransportError:
                    raise LinkError(f"{port}: the device did not come back from a soft reset") from None
        transport.exit_raw_repl()
    finally:
        transport.close()
    return result


SOURCE_ONLY = ("__init__.py", "framev.py")


def _deploy_one(dev: Device, f: FirmwareFile, mpy: bool, result: DeployResult,
                tmp: Path, log: Callable[[str], None]) -> None:
    # a package's __init__ stays source; so does the viper codec: bytecode-only mpy-cross
    # refuses native code, and the device's own compiler knows its emitter (or falls back)
    as_mpy = mpy and f.local.name not in SOURCE_ONLY
    if as_mpy:
        data = compile_mpy(f.local, result.mpy_version, tmp)
        dest, stale = f.device[:-3] + ".mpy", f.device
    else:
        data = f.local.read_bytes()
        dest, stale = f.device, f.device[:-3] + ".mpy"
    # A stale twin would shadow or confuse the import: .py wins over .mpy on MicroPython.
    if f.local.name != "__init__.py" and dev.remove(stale):
        result.removed.append(stale)
    if dev.same(dest, data):
        result.skipped.append(dest)
        return
    dev.write(dest, data)
    result.copied.append(dest)
    log(f"copied {dest} ({len(data)} bytes)")

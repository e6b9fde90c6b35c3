"""The package layout: copy the firmware to a device as ``irqkit/...`` with mpremote's transport.

Only files whose SHA-256 differs from the device's copy are written. The comparison is one
device call for all files (:meth:`~.device.Device.survey`: it also makes the directories and
removes stale ``.py``/``.mpy`` twins); where the device has no hashlib, each file is read back
and compared.
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
from .device import DeployResult, Device, same_digest
from .firmware import FirmwareFile, files_for
from .mpyinfo import compile_mpy


def deploy_package(port: str, board: dict[str, Any], mpy: bool = False,
                   log: Callable[[str], None] = lambda s: None) -> DeployResult:
    """Install the board's files under ``irqkit/``; only changed files are written."""
    files = files_for(board)
    transport = open_transport(port, guarded=True)
    result = DeployResult()
    try:
        enter_raw_repl(transport, port)
        dev = Device(transport, port)
        result.runtime, result.mpy_version = dev.probe()
        if mpy and result.mpy_version < 0:
            raise DeployError(f"{port}: this device cannot load .mpy files (no sys.implementation._mpy)")
        with tempfile.TemporaryDirectory() as tmp:
            plan = [_plan(f, mpy, result.mpy_version, Path(tmp)) for f in files]
        # one device call: directories, stale twins, the device's hash of every file
        dirs = sorted({str(Path(f.device).parent) for f in files})
        digests, result.removed = dev.survey(dirs, [(dest, stale) for dest, stale, _ in plan])
        result.compare_calls = 1
        for dest, _, data in plan:
            same = same_digest(digests[dest], data)
            if same is None:        # no hashlib on the device: read it back
                same = dev.same(dest, data)
                result.compare_calls += 1
            if same:
                result.skipped.append(dest)
                continue
            dev.write(dest, data)
            result.copied.append(dest)
            log(f"copied {dest} ({len(data)} bytes)")
        if result.copied or result.removed:
            # soft reset: modules imported before the copy must not outlive it
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    transport.enter_raw_repl(soft_reset=True, timeout_overall=10)
                except TransportError:
                    raise LinkError(f"{port}: the device did not come back from a soft reset") from None
        transport.exit_raw_repl()
    finally:
        transport.close()   # quiet: a port whose other end is gone does not hide the error
    return result


#: Code emitters mpy-cross (bytecode-only, no -march) refuses: a module using one stays
#: source with --mpy, and the device's own compiler knows its emitter (or falls back).
NATIVE_DECORATORS = ("@micropython.native", "@micropython.viper")


def stays_source(f: FirmwareFile) -> bool:
    """With --mpy: a package's __init__ and modules with native/viper code stay source."""
    if f.local.name == "__init__.py":
        return True
    text = f.local.read_text(encoding="utf-8")
    return any(d in text for d in NATIVE_DECORATORS)


def _plan(f: FirmwareFile, mpy: bool, mpy_version: int, tmp: Path) -> tuple[str, str | None, bytes]:
    """(destination on the device, stale twin to remove or None, bytes to write)."""
    if mpy and not stays_source(f):
        dest, stale, data = f.device[:-3] + ".mpy", f.device, compile_mpy(f.local, mpy_version, tmp)
    else:
        dest, stale, data = f.device, f.device[:-3] + ".mpy", f.local.read_bytes()
    # A stale twin would shadow or confuse the import: .py wins over .mpy on MicroPython.
    return dest, (None if f.local.name == "__init__.py" else stale), data

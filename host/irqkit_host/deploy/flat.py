"""Deploy to a board whose filesystem has no directories (board file: ``"layout": "flat"``).

The BBC micro:bit's MicroPython 1.9.2 is the case this is for: a flat ~14 KB filesystem,
no ``os.rename``/``os.stat``/``os.mkdir``/``hashlib``, no ``.mpy`` import, and a ~9 KB heap
that compiles every module from source.  So each file is

- stripped of comments and docstrings (:func:`irqkit_host.deploy.minify.strip_source`: less flash,
  and the 1.9.2 parser keeps docstrings on the heap),
- named so that ``from irqkit.ring import Ring`` still works there
  (:func:`irqkit_host.deploy.minify.microbit_fs_name`: ``irqkit/ring.py`` -> ``irqkit.py/ring.py``),
- compared with the device's copy by reading it back (no hash on the device); only
  changed files are written,
- written with mpremote's ``fs_writefile``, read back and compared; a mismatch is
  rewritten (up to ``ATTEMPTS`` times).  There is no rename on this filesystem, so a
  device that stops answering mid-write can leave a damaged file: the next deploy sees
  that it differs and writes it again.

Other ``irqkit`` files on the device that the board's list does not name are removed
(the filesystem is small).  Afterwards the device is soft-reset and the deployed modules
are imported, in the listed order, one raw-REPL command each: :attr:`FlatDeployResult.imported`
lists those that loaded, :attr:`~FlatDeployResult.import_error` says why the next one did not
(on the micro:bit: the heap is full -- a partial core is still usable), and
:attr:`~FlatDeployResult.mem_free` is ``gc.mem_free()`` after the last successful import.

Called by :func:`irqkit_host.deploy.deploy` when the board's layout is ``flat``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from mpremote.transport import TransportError

from ..errors import DeployError, LinkError
from ..link.repl import LinkFault, enter_raw_repl, fault_text, open_transport
from .device import DeployResult, Device
from .firmware import FirmwareFile, app_only_files, files_for
from .minify import microbit_fs_name, strip_source
from .smallbuild import flat_build

#: Writes per file before giving up when the read-back differs.
ATTEMPTS = 3

# Names of irqkit files on the device, one per line (1.9.2 has os.listdir, no os.ilistdir).
_LIST = "import os\nfor n in os.listdir():\n if n.startswith('irqkit.py'):\n  print(n)\n"


@dataclass
class FlatDeployResult(DeployResult):
    #: gc.mem_free() after a soft reset and importing every deployed module (None: not checked).
    mem_free: int | None = None
    #: Bytes written to the device's filesystem by this deploy (stripped sources).
    bytes_written: int = 0
    #: Modules that imported after the deploy, in order.
    imported: list[str] = field(default_factory=list)
    #: "module: error" for the first module that did not import ("" when all did).
    import_error: str = ""


def device_name(f: FirmwareFile) -> str:
    """Where a package file lives on a flat filesystem (``irqkit/ring.py`` -> ``irqkit.py/ring.py``)."""
    return microbit_fs_name(f.device)


def module_name(f: FirmwareFile) -> str:
    """The import name of a package file (``irqkit/ring.py`` -> ``irqkit.ring``)."""
    parts = f.device[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def flat_payload(f: FirmwareFile, generated: dict[str, str] | None = None) -> bytes:
    """What is written for a file: its source (as :func:`irqkit_host.deploy.smallbuild.flat_build`
    generated it, when given) without comments and docstrings."""
    src = generated[f.device] if generated is not None else f.local.read_text(encoding="utf-8")
    return strip_source(src).encode()


def _read(dev: Device, name: str) -> bytes | None:
    """The device's copy, or None when it has none."""
    try:
        return bytes(dev.t.fs_readfile(name))
    except FileNotFoundError:
        return None
    except TransportError as exc:  # open() failed in another way on the device: treat as absent
        if not isinstance(exc, LinkFault) and ("OSError" in str(exc) or "ENOENT" in str(exc)):
            return None
        raise LinkError(f"device on {dev.port} {fault_text(exc)} while reading {name}") from None
    except OSError as exc:
        raise LinkError(f"device on {dev.port} disconnected while reading {name}: {exc}") from None


def _write_verified(dev: Device, name: str, data: bytes) -> None:
    for _ in range(ATTEMPTS):
        try:
            dev.t.fs_writefile(name, data, chunk_size=256)
        except TransportError as exc:
            raise LinkError(f"device on {dev.port} {fault_text(exc)} while writing {name}") from None
        except OSError as exc:
            if getattr(exc, "errno", None) == 28:  # ENOSPC, as mpremote converts it
                raise LinkError(f"{dev.port}: no space left on the device's filesystem writing {name}") from None
            raise LinkError(f"device on {dev.port} disconnected while writing {name}: {exc}") from None
        if _read(dev, name) == data:
            return
    raise LinkError(f"{dev.port}: {name} read back differently {ATTEMPTS} times")


def deploy_flat(port: str, board: dict[str, Any], mpy: bool = False,
                log: Callable[[str], None] = lambda s: None, check_import: bool = True) -> FlatDeployResult:
    """Install the board's firmware files on a flat filesystem; see the module docstring."""
    if mpy:
        raise DeployError(f"board {board['name']!r} cannot import .mpy files: deploy without --mpy")
    files, generated = flat_build(board, files_for(board))
    transport = open_transport(port, guarded=True)
    result = FlatDeployResult()
    try:
        enter_raw_repl(transport, port)
        dev = Device(transport, port)
        _soft_reset(transport, dev)  # a clean heap: on ~9 KB even fs_readfile may not compile
        result.runtime, result.mpy_version = dev.probe()
        wanted = {device_name(f) for f in files}
        for name in dev.run(_LIST).split():
            if name not in wanted and dev.remove(name):
                result.removed.append(name)
                log(f"removed {name}")
        for f in files:
            name = device_name(f)
            data = flat_payload(f, generated)
            if _read(dev, name) == data:
                result.skipped.append(name)
                continue
            _write_verified(dev, name, data)
            result.copied.append(name)
            result.bytes_written += len(data)
            log(f"copied {name} ({len(data)} bytes)")
        if check_import:
            app_only = app_only_files(board)
            _import_all(transport, dev, [f for f in files if f.device[len("irqkit/"):] not in app_only], result)
            if result.import_error:
                log(f"warning: only {', '.join(result.imported) or 'nothing'} fit(s) in the device's heap; "
                    f"{result.import_error}")
        transport.exit_raw_repl()
    finally:
        transport.close()
    return result


def _soft_reset(transport: Any, dev: Device) -> None:
    try:
        transport.exit_raw_repl()
        transport.enter_raw_repl(soft_reset=True)
    except TransportError as exc:
        raise LinkError(f"device on {dev.port} did not come back from a soft reset: {fault_text(exc)}") from None


def _import_all(transport: Any, dev: Device, files: list[FirmwareFile], result: FlatDeployResult) -> None:
    """Soft reset, import each module in order (one command each: each compiles with the
    heap the previous ones left); fill result.imported / import_error / mem_free."""
    _soft_reset(transport, dev)
    for f in files:
        mod = module_name(f)
        try:
            dev.run(f"import {mod}", timeout=30)
        except LinkError as exc:
            if "device error" not in str(exc):  # the link failed, not the import
                raise
            result.import_error = f"import {mod}: {str(exc).split(': ', 1)[-1]}"
            break
        result.imported.append(mod)
    result.mem_free = int(dev.run("import gc\ngc.collect()\nprint(gc.mem_free())"))

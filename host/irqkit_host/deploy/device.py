"""File operations on a device in raw REPL mode, over mpremote's ``Transport.fs_*``.

:class:`Device` adds what deploy needs on top of the transport: one-line
:class:`~irqkit_host.errors.LinkError` messages, "is the device's copy the same?" (the
device hashes its own file with ``fs_hashfile``; where it has no hashlib mpremote reads it
back and hashes here), writes through ``NAME.tmp`` and a rename, and the runtime probe.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from mpremote.transport import TransportError

from ..errors import LinkError

T = TypeVar("T")

PROBE = (
    "import sys\n"
    "try:\n"
    " m=sys.implementation._mpy\n"
    "except AttributeError:\n"
    " m=-1\n"
    "print(sys.implementation.name, m)\n"
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

    def _fs(self, what: str, op: Callable[..., T], *args: Any) -> T:
        """Run a ``Transport.fs_*`` call. "No such file" / "exists" are the caller's to
        handle; any other failure becomes a one-line LinkError."""
        try:
            return op(*args)
        except (FileNotFoundError, FileExistsError):
            raise
        except TransportError as exc:
            raise LinkError(f"device on {self.port} stopped answering while {what}: {exc}") from None
        except OSError as exc:
            raise LinkError(f"device on {self.port} failed while {what}: {exc}") from None

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

    def read(self, path: str) -> bytes | None:
        try:
            return bytes(self.t.fs_readfile(path))
        except (TransportError, FileNotFoundError):
            return None

    def mkdir(self, path: str) -> None:
        try:
            self._fs(f"making {path}", self.t.fs_mkdir, path)
        except FileExistsError:
            pass

    def remove(self, path: str) -> bool:
        try:
            self._fs(f"removing {path}", self.t.fs_rmfile, path)
        except FileNotFoundError:
            return False
        return True

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
        # (mpremote's transport has no rename.)
        self.run(
            "import os\n"
            f"try:\n os.rename({tmp!r},{path!r})\nexcept OSError:\n"
            f" os.remove({path!r})\n os.rename({tmp!r},{path!r})\n"
        )

    def same(self, path: str, data: bytes) -> bool:
        """True when the device holds exactly ``data`` at ``path``."""
        try:
            remote = self._fs(f"hashing {path}", self.t.fs_hashfile, path, "sha256")
        except FileNotFoundError:
            return False
        return bytes(remote) == hashlib.sha256(data).digest()

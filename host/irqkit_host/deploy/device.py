"""File operations on a device in raw REPL mode, over mpremote's ``Transport.fs_*``.

:class:`Device` adds what deploy needs on top of the transport: one-line
:class:`~irqkit_host.errors.LinkError` messages, "which of these files does the device hold
already?" in one device call (:meth:`Device.survey`: the device hashes its own files; where it
has no hashlib, :meth:`Device.same` reads a file back and hashes it here), writes through
``NAME.tmp`` and a rename, and the runtime probe.

Deploy opens the port with ``open_transport(guarded=True)``: after the first fault (the
device rebooted, stopped answering, the port closed) nothing more is sent, and the message
carries none of the device's raw output (:mod:`irqkit_host.link.repl`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from mpremote.transport import TransportError

from ..errors import DeployError, LinkError
from ..link.repl import fault_text

T = TypeVar("T")

PROBE = (
    "import sys\n"
    "try:\n"
    " m=sys.implementation._mpy\n"
    "except AttributeError:\n"
    " m=-1\n"
    "print(sys.implementation.name, m)\n"
)

# One device call for a whole deploy's bookkeeping: make the directories, remove stale
# twins, hash every destination. Prints "M dir errno" (mkdir failed), "R path" (removed),
# "H hex path" / "H - path" (missing) / "H ? path" (no hashlib). MicroPython 1.9 syntax.
SURVEY = """import os
try:
 import hashlib,binascii
except ImportError:
 hashlib=None
def _h(p):
 if not hashlib:
  return '?'
 try:
  f=open(p,'rb')
 except OSError:
  return '-'
 h=hashlib.sha256()
 b=bytearray(256)
 m=memoryview(b)
 while 1:
  n=f.readinto(b)
  if not n:
   break
  h.update(m[:n])
 f.close()
 return binascii.hexlify(h.digest()).decode()
for d in %r:
 try:
  os.mkdir(d)
 except OSError as e:
  if e.args[0]!=17:
   print('M',e.args[0],d)
for d,s in %r:
 if s:
  try:
   os.remove(s)
   print('R',s)
  except OSError:
   pass
 print('H',_h(d),d)
"""


@dataclass
class DeployResult:
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    runtime: str = ""
    mpy_version: int = -1
    #: device calls that compared the device's files with ours (1 with hashlib on the device)
    compare_calls: int = 0


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
            raise LinkError(f"device on {self.port} {fault_text(exc)} while {what}") from None
        except OSError as exc:
            if exc.errno == 28:  # ENOSPC, as mpremote converts it
                raise LinkError(f"{self.port}: no space left on the device's filesystem {what}") from None
            raise LinkError(f"device on {self.port} failed while {what}: {exc}") from None

    def run(self, code: str, timeout: float = 10, what: str = "running a command") -> str:
        try:
            out, err = self.t.exec_raw(code, timeout=timeout)
        except TransportError as exc:
            raise LinkError(f"device on {self.port} {fault_text(exc)} while {what}") from None
        except OSError as exc:
            raise LinkError(f"device on {self.port} disconnected while {what}: {exc}") from None
        if err:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            raise LinkError(f"device error: {lines[-1] if lines else err!r}")
        return out.decode("utf-8", "replace").strip()

    def probe(self) -> tuple[str, int]:
        name, mpy = self.run(PROBE, what="asking its runtime").split()
        return name, int(mpy)

    def read(self, path: str) -> bytes | None:
        """The device's copy; None when it has none or cannot read it (a device-side error,
        e.g. out of memory); a link fault raises."""
        try:
            return bytes(self._fs(f"reading {path}", self.t.fs_readfile, path))
        except FileNotFoundError:
            return None
        except LinkError:
            if getattr(self.t, "fault", None) is not None:
                raise
            return None

    def survey(self, dirs: list[str], files: list[tuple[str, str | None]]) -> tuple[dict[str, str], list[str]]:
        """One device call: make ``dirs``, remove each stale twin (the second of a pair, when
        given), hash each destination. -> ({dest: hex sha256, "-" missing, "?" no hashlib on
        the device}, [removed twins])."""
        out = self.run(SURVEY % (dirs, files), timeout=30, what="comparing its files")
        digests: dict[str, str] = {}
        removed: list[str] = []
        for line in out.splitlines():
            kind, _, rest = line.strip().partition(" ")
            if kind == "M":
                code, _, d = rest.partition(" ")
                raise DeployError(f"{self.port}: cannot make directory {d} on the device (errno {code})")
            if kind == "R":
                removed.append(rest)
            elif kind == "H":
                digest, _, path = rest.partition(" ")
                digests[path] = digest
        missing = [d for d, _ in files if d not in digests]
        if missing:
            raise LinkError(f"device on {self.port} did not report {len(missing)} file(s) while comparing its files")
        return digests, removed

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
        self._fs(f"writing {path}", self.t.fs_writefile, tmp, data, 256)
        # rename over the old file where the filesystem allows (POSIX, littlefs); FAT
        # refuses, then the old one goes first — the complete new copy is already there.
        # (mpremote's transport has no rename.)
        self.run(what=f"renaming {path}", code=
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


def same_digest(digest: str, data: bytes) -> bool | None:
    """A :meth:`Device.survey` digest against ``data``; None when the device could not hash."""
    if digest == "?":
        return None
    return digest == hashlib.sha256(data).hexdigest()

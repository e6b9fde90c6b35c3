"""Running simulators, so other commands find one by itself (``irqkit bench pulse P0``).

``irqkit sim`` writes one small JSON file per running board into a per-user directory
(``$XDG_RUNTIME_DIR/irqkit/sims``, else ``<tmp>/irqkit-<uid>/sims``, mode 0700; the environment
variable ``IRQKIT_SIM_REGISTRY`` names another directory, e.g. one per test) and removes it
when it stops. An entry names its launcher by pid and process start time: entries of
launchers that died without cleaning up (SIGKILL) are ignored and removed when read.

    entry = find_sim()            # the only running simulator, or a one-line SimError
    BenchClient(entry.bench).pulse("P0")
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import SimError
from .sim import _owner_alive, _start_time

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class SimEntry:
    name: str
    pid: int
    started: str        # the launcher's start time (/proc/PID/stat), "" where unknown
    port: str
    bench: str | None
    board: str
    runtime: str
    link: str | None = None

    @property
    def alive(self) -> bool:
        return _owner_alive(f"{self.pid} {self.started}")


def registry_dir(base: str | None = None) -> Path:
    """The per-user directory the entries live in (created 0700 on first use)."""
    base = base or os.environ.get("IRQKIT_SIM_REGISTRY") or None
    if base is None:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK):
            root = Path(runtime) / "irqkit"
        else:
            root = Path(tempfile.gettempdir()) / f"irqkit-{os.getuid()}"
        d = root / "sims"
    else:
        d = Path(base)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise SimError(f"simulator name {name!r}: use letters, digits, '.', '_' or '-' "
                       "(at most 64, starting with a letter or digit)")
    return name


def running(base: str | None = None) -> list[SimEntry]:
    """Live entries, sorted by name; stale ones (dead launcher, unreadable) are removed."""
    out = []
    for f in sorted(registry_dir(base).glob("*.json")):
        try:
            entry = SimEntry(**json.loads(f.read_text()))
        except (OSError, ValueError, TypeError):
            _unlink(f)
            continue
        if entry.alive:
            out.append(entry)
        else:
            _unlink(f)
    return out


def free_name(prefix: str, base: str | None = None) -> str:
    """``prefix`` if no running simulator has it, else ``prefix-2``, ``prefix-3``..."""
    taken = {e.name for e in running(base)}
    if prefix not in taken:
        return prefix
    n = 2
    while f"{prefix}-{n}" in taken:
        n += 1
    return f"{prefix}-{n}"


def register(name: str, *, port: str, bench: str | None, board: str, runtime: str,
             link: str | None = None, base: str | None = None) -> Path:
    """Record this process's simulator under ``name``; -> the entry's file (remove it with
    :func:`unregister`). A name a live simulator holds is refused."""
    check_name(name)
    path = registry_dir(base) / f"{name}.json"
    if any(e.name == name for e in running(base)):
        raise SimError(f"a simulator named {name!r} is already running (pick another --name)")
    entry = SimEntry(name=name, pid=os.getpid(), started=_start_time(os.getpid()), port=port,
                     bench=bench, board=board, runtime=runtime, link=link)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(asdict(entry)))
    os.replace(tmp, path)
    return path


def unregister(path: Path) -> None:
    """Remove an entry this process wrote (only if it is still this process's)."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def find_sim(name: str | None = None, base: str | None = None) -> SimEntry:
    """The running simulator called ``name``, or the only one running; else a SimError
    that says what runs."""
    live = running(base)
    names = ", ".join(e.name for e in live)
    if name is not None:
        for e in live:
            if e.name == name:
                return e
        raise SimError(f"no running simulator named {name!r} "
                       + (f"(running: {names})" if live else "(none is running: start one with `irqkit sim`)"))
    if not live:
        raise SimError("no simulator is running (start one with `irqkit sim`, or give --bench URL)")
    if len(live) > 1:
        raise SimError(f"{len(live)} simulators are running ({names}): pick one with --name")
    return live[0]


def bench_for_port(port: str, base: str | None = None) -> str | None:
    """The bench URL of the running simulator whose pty (or --link) is ``port``, else None."""
    real = os.path.realpath(port)
    for e in running(base):
        if real in (os.path.realpath(e.port), os.path.realpath(e.link or e.port)):
            return e.bench
    return None


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass

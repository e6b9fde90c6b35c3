"""``irqkit sim [--board NAME] [--name NAME] [--link PATH]``: start the board's target, print
its port, serve until SIGINT/SIGTERM (or until the target stops on its own: exit 1).

While it serves, the board is in the registry of running simulators
(:mod:`irqkit_host.targets.simregistry`) under its name, so ``irqkit bench``/``run`` find it;
``--link PATH`` is a symlink to its pty, the same path at every start."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from ..boards import list_boards, load_board
from ..errors import TargetError, UsageError
from ..targets import RunningTarget, can_start, start_target
from ..targets.simregistry import check_name, free_name, register, running, unregister


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runtime", choices=("micropython", "cpython"), default=None,
                   help="VM to run the firmware on (default: micropython if available)")
    p.add_argument("--flash", metavar="DIR", default=None,
                   help="the board's filesystem / working directory (default: a temporary directory)")
    p.add_argument("--board", default="sim",
                   help="board to emulate: sim, microbit-v1 (QEMU) or any board file with a \"sim\" personality (default: sim)")
    p.add_argument("--name", default=None,
                   help="name other commands find it by (`irqkit bench --name NAME`; default: the board's name, "
                        "or NAME-2, -3... when taken)")
    p.add_argument("--link", metavar="PATH", default=None,
                   help="make PATH a symlink to the pty (a stable port path: `mpremote connect PATH`)")

    p.add_argument("--bench", metavar="tcp:[HOST:]PORT", default=None,
                   help="serve the bench channel on TCP too, for a simulator on another machine "
                        "(HOST defaults to 127.0.0.1; any other address gets a random token, "
                        "printed in the bench: URL; PORT 0 picks a free one)")

def check_link(path: str) -> str:
    """--link PATH may be new or an old symlink (replaced), never a file or directory."""
    if os.path.lexists(path) and not os.path.islink(path):
        raise UsageError(f"--link {path}: exists and is not a symlink (irqkit replaces only symlinks)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"--link {path}: directory {parent} does not exist")
    return path


def make_link(path: str, port: str) -> None:
    tmp = f"{path}.irqkit-{os.getpid()}"
    try:
        os.symlink(port, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"--link {path}: {exc.strerror or exc}") from None


def remove_link(path: str, port: str) -> None:
    """Remove the symlink if it still points at our pty (a later sim may have taken it)."""
    with contextlib.suppress(OSError):
        if os.readlink(path) == port:
            os.unlink(path)


def serve(target: RunningTarget, board: str, name: str, link: str | None) -> contextlib.ExitStack:
    """Publish a started target: its --link symlink and its registry entry (undone on close)."""
    stack = contextlib.ExitStack()
    try:
        if link:
            make_link(link, target.port)
            stack.callback(remove_link, link, target.port)
        entry = register(name, port=target.port, bench=target.bench, board=board,
                         runtime=target.runtime, link=os.path.abspath(link) if link else None)
        stack.callback(unregister, entry)
    except BaseException:
        stack.close()
        raise
    return stack


def run(args: argparse.Namespace) -> int:
    board = load_board(getattr(args, "board", None) or "sim")
    if not can_start(board):
        startable = [b["name"] for b in list_boards() if can_start(b)]
        raise UsageError(f"board {board['name']!r} has no simulator personality (no \"target\" in "
                         f"its board file); irqkit sim runs {', '.join(repr(n) for n in startable)}")
    name = check_name(args.name) if getattr(args, "name", None) else None
    if name and any(e.name == name for e in running()):
        raise UsageError(f"--name {name}: a simulator with that name is already running")
    link = check_link(args.link) if getattr(args, "link", None) else None
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    in_main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if in_main else {}
    try:
        target = start_target(board, runtime=getattr(args, "runtime", None), flash=getattr(args, "flash", None),
                              bench=getattr(args, "bench", None))
        try:
            name = name or free_name(board["name"])
            with serve(target, board["name"], name, link):
                print(f"port: {target.port}", flush=True)
                for line in target.banner():
                    print(line, flush=True)
                print(f"name: {name}", flush=True)
                if link:
                    print(f"link: {link} -> {target.port}", flush=True)
                while not stop.wait(0.5):
                    if not target.serving:
                        raise TargetError(target.exit_reason())
        finally:
            target.stop()
            if target.farewell():
                print(target.farewell(), file=sys.stderr, flush=True)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return 0

"""The one child-process base every target launcher builds on.

A target (the simulator's VM, QEMU) runs in its own session so a Ctrl-C at the terminal
reaches the launcher only; so that it never outlives the launcher it is started with
PR_SET_PDEATHSIG (Linux), stopped with SIGTERM then SIGKILL to its process group, and its
stderr is drained by a thread that keeps the last lines for error messages.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from typing import IO, Any, Callable


def _load_prctl() -> Callable[..., int] | None:
    """libc's prctl, resolved in the parent: the forked child must not import or allocate much."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except Exception:
        return None


_PRCTL = _load_prctl()


def _die_with(sig: int) -> Callable[[], None]:
    def _in_child() -> None:  # between fork and exec
        if _PRCTL is not None:
            _PRCTL(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG
    return _in_child


class ManagedProcess:
    """Owns one child process at a time (``.proc``); subclasses say what to run.

    ``parent_death_signal``: what the child gets when the launcher dies (even by SIGKILL).
    ``tail_lines``: how many stderr lines :meth:`output_tail` keeps.
    """

    parent_death_signal: int = signal.SIGTERM
    tail_lines: int = 40

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self._tail: deque[str] = deque(maxlen=self.tail_lines)

    def _launch(self, command: list[str], *, stdin: int | IO[Any] | None, stdout: int | IO[Any] | None,
                cwd: str | os.PathLike[str] | None = None,
                env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``command`` (stderr piped to the drain thread); it becomes ``.proc``."""
        proc = subprocess.Popen(
            command, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, cwd=cwd, env=env,
            start_new_session=True, close_fds=True,
            preexec_fn=_die_with(int(self.parent_death_signal)) if _PRCTL is not None else None)
        self.proc = proc
        tail: deque[str] = deque(maxlen=self.tail_lines)
        self._tail = tail
        threading.Thread(target=self._drain_stderr, args=(proc, tail),
                         name=f"{type(self).__name__}-stderr-{proc.pid}", daemon=True).start()
        return proc

    def _drain_stderr(self, proc: subprocess.Popen[bytes], tail: deque[str]) -> None:
        stream = proc.stderr
        if stream is None:
            return
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace").rstrip()
                tail.append(line)
                self.on_stderr_line(line)
            stream.close()
        except (OSError, ValueError):
            return
        self.on_stderr_end("\n".join(tail))

    def on_stderr_line(self, line: str) -> None:
        """Called for each line the child writes to stderr (default: only kept in the tail)."""

    def on_stderr_end(self, tail: str) -> None:
        """Called when the child closed its stderr, with the kept tail."""

    def output_tail(self) -> str:
        """The last lines the current child wrote to stderr."""
        return "\n".join(self._tail)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _terminate(self, timeout: float) -> None:
        """SIGTERM the child's process group, SIGKILL it after ``timeout``; reap it."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)  # own session: its process group id is its pid
                except ProcessLookupError:
                    break
                except PermissionError:
                    proc.send_signal(sig)
                try:
                    proc.wait(timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
        proc.wait()

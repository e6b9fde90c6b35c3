"""Board definitions: schema, cross-field rules, loader errors and `irqkit boards`."""
from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest

from irqkit_host import boards
from irqkit_host.boards import BoardError
from irqkit_host.cli import main

ROOT = Path(__file__).resolve().parents[2]
BOARDS_DIR = ROOT / "boards"
SCHEMA = json.loads((BOARDS_DIR / "schema.json").read_text())
BOARD_FILES = sorted(p for p in BOARDS_DIR.glob("*.json") if p.name != "schema.json")
REQUIRED = {"pico", "pico2", "pyboard", "nucleo-f446re", "feather-m4", "teensy41", "microbit-v1", "sim"}

# How each runtime/port names pins (see the notes in each board file for the sources):
# rp2 quickref uses GPIO numbers, pyboard X/Y names, stm32 Nucleo Arduino or cpu names,
# mimxrt Teensy D/A names, micro:bit pinN, CircuitPython board.Dn/An, the simulator Pn.
PIN_STYLE: dict[str, Callable[[Any], bool]] = {
    "pico": lambda p: isinstance(p, int) and 0 <= p <= 28,
    "pico2": lambda p: isinstance(p, int) and 0 <= p <= 28,
    "pyboard": lambda p: isinstance(p, str) and re.fullmatch(r"[XY]\d{1,2}", p) is not None,
    "nucleo-f446re": lambda p: isinstance(p, str) and re.fullmatch(r"D\d{1,2}|A[0-5]|P[A-H]\d{1,2}", p) is not None,
    "teensy41": lambda p: isinstance(p, str) and re.fullmatch(r"D\d{1,2}|A\d{1,2}", p) is not None,
    "microbit-v1": lambda p: isinstance(p, str) and re.fullmatch(r"pin\d{1,2}", p) is not None,
    "feather-m4": lambda p: isinstance(p, str) and re.fullmatch(r"D\d{1,2}|A[0-5]", p) is not None,
    "sim": lambda p: isinstance(p, str) and re.fullmatch(r"P[0-7]", p) is not None,
}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(boards.ENV_VAR, raising=False)


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"].endswith("/draft/2020-12/schema")


def test_required_boards_present() -> None:
    assert REQUIRED <= {p.stem for p in BOARD_FILES}


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_board_file_validates(path: Path) -> None:
    data = _load(path)
    # The schema on its own (independent of boards.py) ...
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    # ... and the loader's schema + cross-field rules.
    boards.validate(data)
    assert data["name"] == path.stem


def test_names_unique_and_match_stems() -> None:
    loaded = boards.list_boards()
    names = [b["name"] for b in loaded]
    assert len(names) == len(set(names))
    assert names == sorted(p.stem for p in BOARD_FILES)


@pytest.mark.parametrize("name", sorted(PIN_STYLE))
def test_pin_names_follow_the_runtime(name: str) -> None:
    gpio = boards.load_board(name)["gpio"]
    for key in ("trigger_pin", "response_pin"):
        assert PIN_STYLE[name](gpio[key]), f"{name}: {key}={gpio[key]!r}"
    assert gpio["trigger_pin"] != gpio["response_pin"]


def test_microbit_has_only_soft_sources() -> None:
    b = boards.load_board("microbit-v1")
    assert b["sources"] == ["soft"]
    assert "gpio" not in b["sources"] and "timer" not in b["sources"]
    assert b["irq"]["pin_hard"] is False and b["irq"]["timer_hard"] is False
    assert b["gpio"]["trigger_backend"] is None
    assert b["core"] == "M0" and b["mpy"]["cross"] is None
    assert b["min_runtime_version"] == "1.9.2"


def test_sources_consistent_with_irq_flags_on_every_board() -> None:
    for b in boards.list_boards():
        irq, sources = b["irq"], set(b["sources"])
        if irq["pin_hard"]:
            assert "gpio" in sources, b["name"]
        if b["runtime"] == "circuitpython":
            assert not irq["pin_hard"] and not irq["timer_hard"], b["name"]
        if b["runtime"] == "micropython" and "timer" in sources:
            assert b["timers"] or b.get("hw_timers"), b["name"]
        if "gpio" in sources:
            assert b["gpio"]["trigger_backend"] is not None, b["name"]


def test_circuitpython_and_simulator_specifics() -> None:
    feather = boards.load_board("feather-m4")
    assert feather["runtime"] == "circuitpython" and feather["mcu"].startswith("ATSAMD51")
    sim = boards.load_board("sim")
    assert sim["core"] == "host" and sim["console"]["kind"] == "pty"
    assert sim["gpio"]["trigger_backend"] == "bench"
    assert set(sim["sources"]) == {"uart", "gpio", "timer", "soft"}


def _good() -> dict[str, Any]:
    return _load(BOARDS_DIR / "pico.json")


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.pop(key)


def _no_gpio_source(d: dict[str, Any]) -> None:
    d["sources"] = ["uart", "timer", "soft"]
    d["gpio"]["trigger_backend"] = None


BREAKAGES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "missing field": (_drop("mcu"), "'mcu' is a required property"),
    "bad core": (lambda d: d.update(core="M5"), "core"),
    "unknown source": (lambda d: d["sources"].append("dma"), "sources"),
    "no soft source": (lambda d: d.update(sources=["uart"]), "sources"),
    "extra field": (lambda d: d.update(colour="green"), "colour"),
    "uart console without id": (lambda d: d.update(console={"kind": "uart", "uart_id": None, "baud": 9600}), "console"),
    "bad name": (lambda d: d.update(name="Pico Board"), "name"),
    "gpio source without pins": (lambda d: d["gpio"].update(trigger_pin=None), "gpio.trigger_pin"),
    "circuitpython with hard irqs": (lambda d: d.update(runtime="circuitpython", mpy={"arch": "armv6m", "cross": "circuitpython"}), "CircuitPython"),
    "hard pin irq without gpio": (_no_gpio_source, "irq.pin_hard"),
    "backend without gpio source": (lambda d: d.update(sources=["uart", "timer", "soft"]), "gpio.trigger_backend"),
    "arch does not fit core": (lambda d: d["mpy"].update(arch="armv7emdp"), "mpy.arch"),
    "bench backend on hardware": (lambda d: d["gpio"].update(trigger_backend="bench"), "bench"),
    "timer_hard_since too old": (lambda d: d["irq"].update(timer_hard_since="1.19"), "timer_hard_since"),
}


@pytest.mark.parametrize("case", sorted(BREAKAGES))
def test_broken_board_fails_validation(case: str) -> None:
    data = _good()
    boards.validate(copy.deepcopy(data))  # the unbroken one passes
    breaker, expected = BREAKAGES[case]
    breaker(data)
    with pytest.raises(BoardError) as info:
        boards.validate(data)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_unknown_board_lists_known_names() -> None:
    with pytest.raises(BoardError) as info:
        boards.load_board("no-such-board")
    message = str(info.value)
    assert "no-such-board" in message and "\n" not in message
    for name in REQUIRED:
        assert name in message
    # Path tricks and the schema file are not boards.
    for bad in ("../boards/pico", "schema", "PICO"):
        with pytest.raises(BoardError, match="unknown board"):
            boards.load_board(bad)


def _copy_dir(tmp_path: Path, names: list[str]) -> Path:
    d = tmp_path / "boards"
    d.mkdir()
    shutil.copy(BOARDS_DIR / "schema.json", d)
    for n in names:
        shutil.copy(BOARDS_DIR / f"{n}.json", d)
    return d


def test_an_edited_copy_of_the_schema_is_checked_as_a_schema(tmp_path: Path) -> None:
    # irqkit's own schema is checked by test_schema_is_valid_draft_2020_12, not on each load
    # (#12); a copy elsewhere (`$IRQKIT_BOARDS`) still is
    d = _copy_dir(tmp_path, ["sim"])
    broken = dict(SCHEMA, type="boardish")
    (d / "schema.json").write_text(json.dumps(broken))
    with pytest.raises(jsonschema.SchemaError):
        boards.load_board("sim", d)


def test_name_must_match_file_stem(tmp_path: Path) -> None:
    d = _copy_dir(tmp_path, [])
    data = _good()
    (d / "pico-copy.json").write_text(json.dumps(data))
    with pytest.raises(BoardError, match="does not match the file name"):
        boards.list_boards(d)


def test_invalid_json_is_a_one_line_error(tmp_path: Path) -> None:
    d = _copy_dir(tmp_path, ["sim"])
    (d / "pico.json").write_text('{"name": "pico",')
    with pytest.raises(BoardError, match=r"pico\.json: not valid JSON"):
        boards.load_board("pico", d)
    assert boards.load_board("sim", d)["name"] == "sim"


def test_boards_dir_default_is_the_repository() -> None:
    assert boards.boards_dir().resolve() == BOARDS_DIR.resolve()


def test_boards_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _copy_dir(tmp_path, ["sim", "pico"])
    monkeypatch.setenv(boards.ENV_VAR, str(d))
    assert boards.boards_dir() == d
    assert [b["name"] for b in boards.list_boards()] == ["pico", "sim"]
    with pytest.raises(BoardError, match="known boards: pico, sim"):
        boards.load_board("pyboard")
    monkeypatch.setenv(boards.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(BoardError, match=boards.ENV_VAR):
        boards.boards_dir()


def test_cli_boards_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "mcu", "core", "runtime", "sources"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {p.stem for p in BOARD_FILES}
    assert rows["microbit-v1"].split()[-1] == "soft"
    assert "circuitpython" in rows["feather-m4"]
    # Aligned: every column starts at the same offset on every line.
    for col in ("mcu", "core", "runtime", "sources"):
        start = lines[0].index(col)
        for line in lines[2:]:
            assert line[start - 2:start] == "  " and line[start] != " ", (col, line)


def test_cli_boards_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in data] == sorted(p.stem for p in BOARD_FILES)
    by_name = {b["name"]: b for b in data}
    assert by_name["pyboard"]["gpio"]["trigger_pin"] == "X1"
    assert by_name["pico"] == _good()


def test_cli_boards_reports_a_broken_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    d = _copy_dir(tmp_path, ["sim"])
    data = _good()
    data["core"] = "Z80"
    (d / "pico.json").write_text(json.dumps(data))
    monkeypatch.setenv(boards.ENV_VAR, str(d))
    assert main(["boards"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("irqkit boards: error: pico.json: core")
    assert "\n" not in err


def _qemu_skip_reason() -> str | None:
    try:
        from irqkit_host.targets.qemu import qemu_available
    except ImportError as exc:  # the launcher module is another part of the project
        return f"irqkit_host.targets.qemu not importable: {exc}"
    return qemu_available()


def _repl(port: Any, line: str, timeout: float = 20.0) -> str:
    """Type one line at a friendly REPL; return what it printed before the next prompt."""
    import time

    port.reset_input_buffer()
    port.write(line.encode() + b"\r")
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\r\n>>> "):
        if time.monotonic() > deadline:
            raise AssertionError(f"no prompt after {line!r}; got {buf!r}")
        buf += port.read(256)
    text = buf.decode(errors="replace")
    body = text[: -len("\r\n>>> ")]
    return body.split("\r\n", 1)[1] if "\r\n" in body else ""  # drop the echoed line


@pytest.mark.skipif(_qemu_skip_reason() is not None, reason=f"QEMU micro:bit unavailable: {_qemu_skip_reason()}")
def test_microbit_definition_matches_the_real_firmware() -> None:
    """Boot Debian's micro:bit MicroPython in QEMU and check what microbit-v1.json claims."""
    import serial

    from irqkit_host.deploy import mpyinfo
    from irqkit_host.targets.qemu import start_microbit

    board = boards.load_board("microbit-v1")
    with start_microbit(timeout=60) as mb:
        with serial.Serial(mb.port, 115200, timeout=0.2) as port:
            assert _repl(port, "import sys, machine, micropython, microbit") == ""
            version = _repl(port, "print('.'.join(str(v) for v in sys.implementation.version))")
            assert version.strip() == board["min_runtime_version"]
            # No user IRQs: no Pin.irq (no machine.Pin), no machine.Timer, no micropython.schedule.
            assert _repl(port, "print(hasattr(machine, 'Pin'), hasattr(machine, 'Timer'))").strip() == "False False"
            assert _repl(port, "print(hasattr(micropython, 'schedule'))").strip() == "False"
            # ... but real interrupt masking for critical sections.
            assert _repl(port, "print(hasattr(machine, 'disable_irq'), hasattr(machine, 'enable_irq'))").strip() == "True True"
            # The pin names in the board file exist in the microbit module.
            for key in ("trigger_pin", "response_pin"):
                assert _repl(port, f"print(hasattr(microbit, {board['gpio'][key]!r}))").strip() == "True"
            # No .mpy support reported, as mpy.cross = null says; the probe runs on 1.9.2.
            probe = "".join(_repl(port, line) for line in mpyinfo.DEVICE_PROBE.strip().splitlines())
            assert mpyinfo.parse_probe_output(probe) is None
            assert board["mpy"]["cross"] is None


def test_boards_dir_when_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend the module lives in a site-packages with no boards/ beside it.
    fake = tmp_path / "lib" / "python3" / "site-packages" / "irqkit_host" / "boards.py"
    fake.parent.mkdir(parents=True)
    monkeypatch.setattr(boards, "__file__", str(fake))
    monkeypatch.setattr(boards.sys, "prefix", str(tmp_path / "prefix"))
    with pytest.raises(BoardError, match=boards.ENV_VAR):
        boards.boards_dir()
    shared = tmp_path / "prefix" / "share" / "irqkit"
    shared.mkdir(parents=True)
    shutil.copytree(BOARDS_DIR, shared / "boards")
    assert boards.boards_dir() == shared / "boards"
    assert len(boards.list_boards()) == len(BOARD_FILES)

"""A real type checker (mypy) runs over the ports against the runtimes' own stubs:

- firmware/irqkit/ports/circuitpython.py against ``circuitpython-stubs``;
- firmware/irqkit/ports/machine_port.py against ``micropython-rp2-rpi-pico-stubs``.

The stubs are not installed into the test environment: the MicroPython stubs put
``time.pyi``, ``sys/``, ``machine.pyi`` ... at the top of site-packages and are meant to
replace typeshed, which would disturb every other type check. Both are installed with
pip into pytest's cache directory (once; `pytest --cache-clear` redoes it):
- circuitpython-stubs into a pip-less venv, handed to mypy with --python-executable
  (mypy only finds ``*-stubs`` packages in an interpreter's site-packages);
- the MicroPython stubs merged into a custom typeshed (their reduced stdlib plus the
  board modules), handed to mypy with --custom-typeshed-dir.
The tests skip, saying so, only when pip cannot install a package (offline machine).

The port files are MicroPython-1.9 syntax without annotations, so mypy runs with
--check-untyped-defs (otherwise it checks nothing inside them) and --follow-imports=silent
(the core modules are analysed for types, their own findings are not reported here).
Each check is shown to fail on a deliberately broken copy of the port.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
CP_PORT = FIRMWARE / "irqkit" / "ports" / "circuitpython.py"
MP_PORT = FIRMWARE / "irqkit" / "ports" / "machine_port.py"

CP_STUBS = "circuitpython-stubs==10.3.1"
MP_STUBS = "micropython-rp2-rpi-pico-stubs==1.29.0.post1"
MYPY = "mypy>=1.10"
MYPY_FLAGS = ["--check-untyped-defs", "--follow-imports=silent", "--no-incremental",
              "--show-error-codes", "--no-error-summary", "--no-color-output"]


def _cache_root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("irqkit-stubs"))
    return tmp_path_factory.mktemp("irqkit-stubs")


def _pip_target(spec: str, target: Path) -> None:
    """pip install spec into target (once); skip the test if pip cannot."""
    stamp = target / ".irqkit-installed"
    if stamp.exists() and stamp.read_text() == spec:
        return
    if target.exists():
        shutil.rmtree(target)
    tmp = target.with_name(target.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
                        "--disable-pip-version-check", "--target", str(tmp), spec],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        lines = [ln for ln in (r.stderr or r.stdout).splitlines() if ln.strip()]
        pytest.skip(f"cannot install {spec} with pip: {lines[-1] if lines else r.returncode}")
    tmp.rename(target)
    stamp.write_text(spec)


class Mypy:
    """How to run mypy: from the test environment, or pip-installed into the cache."""

    def __init__(self, root: Path) -> None:
        self.env = dict(os.environ)
        self.env.pop("MYPYPATH", None)
        if importlib.util.find_spec("mypy") is None:
            target = root / "mypy"
            _pip_target(MYPY, target)
            self.env["PYTHONPATH"] = str(target)
        r = subprocess.run([sys.executable, "-c",
                            "import mypy, os; print(os.path.dirname(mypy.__file__))"],
                           capture_output=True, text=True, env=self.env, check=True)
        self.typeshed = Path(r.stdout.strip()) / "typeshed"

    def run(self, args: list[str], mypypath: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, MYPYPATH=os.pathsep.join(str(p) for p in mypypath))
        return subprocess.run([sys.executable, "-m", "mypy", *MYPY_FLAGS, *args],
                              capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def stub_root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _cache_root(request, tmp_path_factory)


@pytest.fixture(scope="module")
def mypy(stub_root: Path) -> Mypy:
    return Mypy(stub_root)


@pytest.fixture(scope="module")
def cp_python(stub_root: Path) -> Path:
    """A pip-less venv whose site-packages holds circuitpython-stubs."""
    venv = stub_root / "cp-venv"
    bindir = "Scripts" if os.name == "nt" else "bin"
    py = venv / bindir / ("python.exe" if os.name == "nt" else "python")
    if not py.exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                       timeout=120)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    site = Path(purelib)
    stamp = site / ".irqkit-installed"
    if not (stamp.exists() and stamp.read_text() == CP_STUBS):
        staged = stub_root / "cp-stubs"
        _pip_target(CP_STUBS, staged)
        for item in staged.iterdir():
            dest = site / item.name
            if item.is_dir():
                shutil.copytree(item, dest, dirs_exist_ok=True)
            else:
                shutil.copy2(item, dest)
        stamp.write_text(CP_STUBS)
    return py


@pytest.fixture(scope="module")
def mp_typeshed(stub_root: Path, mypy: Mypy, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A custom typeshed: the MicroPython stubs' reduced stdlib, with the board's modules
    (machine, micropython, time, select, rp2, ...) laid over it, and mypy_extensions
    (which mypy itself needs) from mypy's own typeshed."""
    src = stub_root / "mp-stubs"
    _pip_target(MP_STUBS, src)
    ts = tmp_path_factory.mktemp("mp-typeshed")
    std = ts / "stdlib"
    shutil.copytree(src / "stdlib", std)
    versions = (std / "VERSIONS").read_text()
    known = set(re.findall(r"^([\w.]+):", versions, re.M))
    extra = []
    for item in src.iterdir():
        if item.suffix == ".pyi":
            shutil.copy2(item, std / item.name)
            name = item.stem
        elif item.is_dir() and (item / "__init__.pyi").exists() and item.name != "stdlib":
            shutil.copytree(item, std / item.name, dirs_exist_ok=True)
            name = item.name
        else:
            continue
        if name not in known:
            extra.append(f"{name}: 3.0-\n")
    (std / "VERSIONS").write_text(versions.rstrip("\n") + "\n" + "".join(extra))
    shutil.copytree(mypy.typeshed / "stubs" / "mypy-extensions", ts / "stubs" / "mypy-extensions")
    return ts


def _errors(r: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in r.stdout.splitlines() if ": error:" in ln]


def _broken_copy(src: Path, dest: Path, edits: list[tuple[str, str]]) -> Path:
    text = src.read_text()
    for old, new in edits:
        assert old in text, f"{src.name} no longer contains {old!r}: update the broken copy"
        text = text.replace(old, new, 1)
    dest.write_text(text)
    return dest


# ---- CircuitPython ----------------------------------------------------------------------------

def _check_cp(mypy: Mypy, py: Path, target: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return mypy.run(["--python-executable", str(py), str(target)], [FIRMWARE], cwd)


def test_circuitpython_port_typechecks_against_circuitpython_stubs(
        mypy: Mypy, cp_python: Path, tmp_path: Path) -> None:
    r = _check_cp(mypy, cp_python, CP_PORT, tmp_path)
    assert r.returncode == 0 and not _errors(r), r.stdout + r.stderr


def test_circuitpython_check_fails_on_a_broken_copy(mypy: Mypy, cp_python: Path,
                                                    tmp_path: Path) -> None:
    bad = _broken_copy(CP_PORT, tmp_path / "cp_broken.py", [
        ("interval=self.interval_ms / 1000,", "interval_ms=self.interval_ms,"),
        ("now_ms = supervisor.ticks_ms()", "now_ms = supervisor.ticks_us()"),
        ('"both": countio.Edge.RISE_AND_FALL', '"both": countio.Edge.BOTH'),
        ("self.keys.deinit()", "self.keys.stop()"),
    ])
    r = _check_cp(mypy, cp_python, bad, tmp_path)
    out = r.stdout
    assert r.returncode != 0, out + r.stderr
    assert 'Unexpected keyword argument "interval_ms" for "Keys"' in out, out
    assert 'Module has no attribute "ticks_us"' in out, out
    assert '"type[Edge]" has no attribute "BOTH"' in out, out
    assert '"Keys" has no attribute "stop"' in out, out
    assert "import-not-found" not in out, out      # the stubs were used, not guessed


# ---- MicroPython ------------------------------------------------------------------------------

def _check_mp(mypy: Mypy, typeshed: Path, target: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return mypy.run(["--custom-typeshed-dir", str(typeshed), "--no-site-packages", str(target)],
                    [FIRMWARE], cwd)


def test_machine_port_typechecks_against_micropython_stubs(
        mypy: Mypy, mp_typeshed: Path, tmp_path: Path) -> None:
    r = _check_mp(mypy, mp_typeshed, MP_PORT, tmp_path)
    assert r.returncode == 0 and not _errors(r), r.stdout + r.stderr


def test_machine_port_check_fails_on_a_broken_copy(mypy: Mypy, mp_typeshed: Path,
                                                   tmp_path: Path) -> None:
    bad = _broken_copy(MP_PORT, tmp_path / "mp_broken.py", [
        ("self.disable_irq = machine.disable_irq\n", "self.disable_irq = machine.disable_irqs\n"),
        ("mode = T.PERIODIC if periodic else T.ONE_SHOT",
         "mode = T.PERIODICAL if periodic else T.ONE_SHOT"),
        ("p = machine.Pin(pin, machine.Pin.IN)", "p = machine.Pin(pin, machine.Pin.INPUT)"),
    ])
    r = _check_mp(mypy, mp_typeshed, bad, tmp_path)
    out = r.stdout
    assert r.returncode != 0, out + r.stderr
    assert 'Module has no attribute "disable_irqs"' in out, out
    assert 'has no attribute "PERIODICAL"' in out, out
    assert 'has no attribute "INPUT"' in out, out
    assert "import-not-found" not in out, out

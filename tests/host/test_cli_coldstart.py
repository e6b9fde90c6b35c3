"""`irqkit` loads only what the chosen command uses (#12): the command table names every
command with its help line, but a command's module, and the API it imports (jsonschema,
mpremote, the deploy layer, the simulator's ROM), is loaded when that command runs; and
`irqkit measure` on the simulator (irqkit frozen in its ROM) loads no deploy layer and no
ROM module. Each case runs in a fresh interpreter and reads its sys.modules afterwards."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from irqkit_host.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
ALL_COMMANDS = {"sim", "bench", "deploy", "measure", "run", "boards", "report"}
#: what no command needs to be loaded just to start: other commands' APIs
HEAVY = ("jsonschema", "mpremote", "simboard", "irqkit_host.deploy", "irqkit_host.targets",
         "irqkit_host.link", "irqkit_host.measure")

RUN = """
import json, sys
from irqkit_host.cli import main
try:
    status = main(sys.argv[2:])
except SystemExit as exc:
    status = exc.code
with open(sys.argv[1], "w") as fh:
    json.dump(sorted(sys.modules), fh)
sys.exit(status)
"""


def irqkit(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `irqkit ARGS` in a fresh interpreter: its result, and the modules it had loaded."""
    out = tmp_path / "modules.json"
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}",
               IRQKIT_SIM_REGISTRY=str(tmp_path / "registry"))
    proc = subprocess.run([sys.executable, "-c", RUN, str(out), *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)
    return proc, set(json.loads(out.read_text()))


def loaded(modules: set[str], *prefixes: str) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_help_lists_every_command_and_loads_none(tmp_path: Path) -> None:
    proc, modules = irqkit(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    assert set(COMMANDS) == ALL_COMMANDS
    lines = proc.stdout.splitlines()
    for name, help_line in COMMANDS.items():
        # argparse: "    NAME      first words of the help line ..." (long ones wrap)
        assert any(line.split()[:4] == [name, *help_line.split()[:3]] for line in lines if line.strip()), name
    assert loaded(modules, "irqkit_host.cli") == ["irqkit_host.cli"]
    assert loaded(modules, *HEAVY) == []


@pytest.mark.parametrize("name", sorted(ALL_COMMANDS))
def test_each_command_help_works_and_loads_that_command_only(tmp_path: Path, name: str) -> None:
    proc, modules = irqkit(tmp_path, name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: irqkit {name} ")
    assert f"irqkit_host.cli.{name}" in modules
    # `irqkit run` serves its simulator with `irqkit sim`'s code; no command uses another's otherwise
    users = {"sim": {"run"}}
    others = [f"irqkit_host.cli.{c}" for c in ALL_COMMANDS - {name} if name not in users.get(c, set())]
    assert loaded(modules, *others) == []


def test_a_usage_error_of_a_command_is_still_its_own(tmp_path: Path) -> None:
    proc, _ = irqkit(tmp_path, "measure", "--count", "0")
    assert proc.returncode == 2
    assert proc.stderr.startswith("irqkit measure: error: argument -n/--count")


def test_measure_on_the_simulator_loads_no_deploy_layer_and_no_rom(tmp_path: Path) -> None:
    proc, modules = irqkit(tmp_path, "measure", "--source", "soft", "-n", "20", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "irqkit frozen in its ROM" in proc.stderr     # the simulator got no deploy ...
    assert loaded(modules, "irqkit_host.deploy") == []   # ... nor was its layer loaded
    # the host reads the VM's exit statuses from their own small module, not the console
    assert loaded(modules, "simboard") == ["simboard", "simboard.exitstatus"]
    assert "jsonschema" in modules                       # the board file was validated
    assert loaded(modules, "irqkit_host.cli") == ["irqkit_host.cli", "irqkit_host.cli.args",
                                                  "irqkit_host.cli.measure", "irqkit_host.cli.measureguard"]

"""One list of files per firmware layer: the manifests in firmware/irqkit/manifests/ are what
deploy, package.json, the board files and the tests read."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from irqkit_host.boards import board_names, load_board
from irqkit_host.deploy import manifest
from irqkit_host.deploy.firmware import MIP_LAYERS, board_layers, files_for, firmware_dir
from irqkit_host.errors import DeployError

ROOT = Path(__file__).resolve().parents[2]


def firmware_modules() -> set[str]:
    root = firmware_dir()
    return {p.relative_to(root).as_posix() for p in root.rglob("*.py") if p.parent.name != "manifests"}


def test_every_firmware_module_is_in_exactly_one_layer() -> None:
    owners: dict[str, list[str]] = {}
    for name in manifest.layer_names():
        for rel in manifest.load_layer(name).own_files:
            owners.setdefault(rel, []).append(name)
    assert {f: o for f, o in owners.items() if len(o) > 1} == {}
    assert firmware_modules() - set(owners) == set(), "modules no layer lists"


def test_layer_files_come_includes_first_each_once() -> None:
    files = manifest.layer_files("app", "port-machine")
    assert len(files) == len(set(files))
    assert files[:5] == list(manifest.load_layer("kernel").own_files)   # import order on a small board
    assert files.index("frame.py") < files.index("app.py")


def test_package_json_is_generated_from_the_manifests() -> None:
    on_disk = json.loads((firmware_dir().parent / "package.json").read_text())
    assert on_disk == manifest.package_json(*MIP_LAYERS)
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_package_json.py"), "--check"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("name", board_names())
def test_every_board_deploys_files_from_its_layers(name: str) -> None:
    board = load_board(name)
    layers, app_layers = board_layers(board)
    want = manifest.layer_files(*layers)
    got = [f.device[len("irqkit/"):] for f in files_for(board)]
    assert got[:len(want)] == want
    assert set(got) == set(want) | set(manifest.layer_files(*app_layers) if app_layers else [])


def test_a_manifest_outside_the_subset_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "irqkit"
    shutil.copytree(firmware_dir(), fake)
    (fake / "manifests" / "bad.py").write_text("import os\n")
    (fake / "manifests" / "loop.py").write_text('include("loop2.py")\n')
    (fake / "manifests" / "loop2.py").write_text('include("loop.py")\n')
    (fake / "manifests" / "missing.py").write_text('package("irqkit", files=("nope.py",), base_path="../..")\n')
    monkeypatch.setattr(manifest, "manifests_dir", lambda: fake / "manifests")
    monkeypatch.setattr(manifest.irqkit, "__file__", str(fake / "__init__.py"))
    manifest.load_layer.cache_clear()
    try:
        for layer, words in (("bad", "not a manifest"), ("loop", "include each other"),
                             ("missing", "nope.py is not in"), ("nosuch", "unknown firmware layer")):
            with pytest.raises(DeployError) as info:
                manifest.layer_files(layer)
            assert words in str(info.value) and "\n" not in str(info.value)
    finally:
        manifest.load_layer.cache_clear()

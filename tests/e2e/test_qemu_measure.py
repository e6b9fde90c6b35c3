"""`irqkit deploy` + `irqkit measure --source soft` against real MicroPython 1.9.2 on the
emulated Cortex-M0 (BBC micro:bit in QEMU), the way a user with that board runs them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest

from irqkit_host.targets import qemu

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "host" / "irqkit_host" / "measure" / "measure_schema.json").read_text())

pytestmark = pytest.mark.skipif(qemu.qemu_unavailable_reason() is not None,
                                reason=f"QEMU micro:bit not installed ({qemu.qemu_unavailable_reason()}); "
                                       ".ci/run installs it")


def test_deploy_then_measure_soft_on_the_cortex_m0(tmp_path: Path, irqkit: Callable[..., Any]) -> None:
    with qemu.start_microbit() as mb:
        p = irqkit("deploy", "--port", mb.port, "--board", "microbit-v1")
        assert p.returncode == 0, p.stderr
        assert "imported irqkit, irqkit.clock, irqkit.source, irqkit.dispatch, irqkit.sched" in p.stdout
        out = tmp_path / "mb.json"
        p = irqkit("measure", "--port", mb.port, "--board", "microbit-v1", "-n", "100",
                   "--no-progress", "--json", str(out))
        assert p.returncode == 0, p.stderr
        assert "\nsoft " in p.stdout and "board: microbit-v1" in p.stdout
        data = json.loads(out.read_text())
        jsonschema.validate(data, SCHEMA)
        (soft,) = data["results"]            # the only source that firmware has
        assert soft["source"] == "soft" and soft["count"] == 100 and soft["lost"] == 0
        assert 0 < soft["device_us"]["p50"] <= soft["rtt_us"]["p50"]
        assert data["stats"]["soft.delivered"] >= 100 and data["stats"]["soft.overflow"] == 0
        # the app returned the board to its REPL: mpremote works again
        p = irqkit("deploy", "--port", mb.port, "--board", "microbit-v1")
        assert p.returncode == 0 and "0 copied" in p.stdout, p.stdout + p.stderr

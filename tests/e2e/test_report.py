"""``irqkit report`` over three simulators measured at once: three distinct targets."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def irqkit(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}")
    return subprocess.Popen([sys.executable, "-m", "irqkit_host", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_report_over_three_simulators(tmp_path: Path) -> None:
    outs = [tmp_path / f"r{i}.json" for i in range(3)]
    procs = [irqkit("measure", "--source", "soft", "-n", "20", "--no-progress", "--json", str(o))
             for o in outs]
    for p in procs:
        _out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    runs = [json.loads(o.read_text()) for o in outs]
    for r in runs:
        assert r["schema_version"] == 2 and r["requested"] == 20
        t = r["target"]
        assert t["host"] and t["started_at"] and t["irqkit_version"]
        assert "port_module" in r["hello"] and "port" not in r["hello"]
        assert {s["source"] for s in r["skipped"]} >= set()      # reasons present when any
        assert all(s["reason"] for s in r["skipped"])
    p = irqkit("report", *map(str, outs), "--csv", "-")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    measured = [r for r in rows if r["source"] == "soft"]
    assert len(measured) == 3
    assert len({(r["target"], r["device_id"], r["started_at"]) for r in measured}) == 3
    # each simulator has its own machine.unique_id(), reported in HELLO (id) -> device_id
    ids = [r["device_id"] for r in measured]
    assert len(set(ids)) == 3 and all(len(i) == 16 for i in ids), ids
    assert sorted(ids) == sorted(r["target"]["device_id"] for r in runs)
    p = irqkit("report", *map(str, outs))
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and out.strip().splitlines()[-1].startswith("3 run(s), 3 target(s)"), out


def test_report_bad_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    p = irqkit("report", str(bad), str(tmp_path / "missing.json"))
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 1 and len(err.strip().splitlines()) == 1 and "irqkit report: error:" in err

"""Reports of `irqkit measure` from a synthetic run: table, JSON (schema), CSV, PNG."""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from irqkit_host import measure as M
from irqkit_host.measure.merge import load_results, report_csv
from irqkit_host.measure.stats import percentile, summarize

SCHEMA = json.loads((Path(M.__file__).parent / "measure_schema.json").read_text())


def _run() -> M.Run:
    rnd = random.Random(1)
    run = M.Run(port="/dev/pts/9", board="sim", runtime="micropython")
    base = [50 + rnd.random() * 10 for _ in range(200)]
    for src in ("uart", "soft", "timer"):
        r = M.SourceResult(src, 200, mode="hard", baseline_rtt_us=base)
        for i in range(200):
            r.samples.append(M.Sample(i, i + 1, 80 + rnd.random() * 40, 5 + rnd.random() * 5))
        run.results.append(r)
    run.results[-1].extra["period_us"] = 1000
    run.results[-1].extra["period_error_us"] = summarize([1.0, 2.0, 3.0])
    run.stats = {"soft.delivered": 200, "soft.overflow": 0}
    return run


def test_percentiles_interpolate_like_numpy() -> None:
    vals = list(range(1, 101))
    assert percentile(vals, 50) == pytest.approx(50.5)
    assert percentile(vals, 99) == pytest.approx(99.01)
    s = summarize([3.0, 1.0, 2.0])
    assert s["min"] == 1.0 and s["max"] == 3.0 and s["p50"] == 2.0 and s["mean"] == 2.0
    assert summarize([])["p50"] is None


def test_ticks_delta_is_wrap_aware() -> None:
    assert M.ticks_delta(5, 3) == 2
    assert M.ticks_delta(2, (1 << 30) - 3) == 5
    assert M.ticks_delta(3, 5) == -2


def test_json_validates_against_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    M.write_json(_run(), str(out))
    data = json.loads(out.read_text())
    jsonschema.validate(data, SCHEMA)
    uart = data["results"][0]
    assert uart["count"] == 200 and uart["lost"] == 0
    assert uart["rtt_us"]["min"] <= uart["rtt_us"]["p50"] <= uart["rtt_us"]["p999"] <= uart["rtt_us"]["max"]
    bad = dict(data, results=[dict(uart, rtt_us={"p50": 1})])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_added_is_rtt_minus_ping_at_p50_and_p99(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    run = _run()
    M.write_json(run, str(out))
    data = json.loads(out.read_text())
    for r in data["results"]:
        if r["source"] == "timer":      # an arrival interval: nothing to subtract from
            assert r["added_us"] == {"p50": None, "p99": None}
            continue
        for k in ("p50", "p99"):
            assert r["added_us"][k] == pytest.approx(r["rtt_us"][k] - r["baseline_rtt_us"][k], abs=0.11)
        assert 20 < r["added_us"]["p50"] < 70   # rtt 80..120 us, ping 50..60 us
    # exact on known samples: rtt 100..199 (p50 149.5, p99 198.01), ping 10..109
    r = M.SourceResult("uart", 100, baseline_rtt_us=[10.0 + i for i in range(100)])
    r.samples = [M.Sample(i, i, 100.0 + i, 1.0) for i in range(100)]
    assert r.to_json()["added_us"] == {"p50": 90.0, "p99": 90.0}
    assert M.SourceResult("soft", 1).to_json()["added_us"] == {"p50": None, "p99": None}
    bad = dict(data, results=[dict(data["results"][0], added_us={"p50": "x", "p99": 1})])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_csv_has_every_raw_sample(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    M.write_csv(_run(), str(out))
    rows = list(csv.DictReader(out.open()))
    assert len([r for r in rows if r["source"] == "ping"]) == 200
    assert len([r for r in rows if r["source"] == "uart"]) == 200
    assert float(rows[-1]["device_us"]) > 0


def test_plot_is_a_real_png(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    M.write_plot(_run(), str(out))
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 600 and im.size[1] > 300
        lo, hi = im.convert("L").getextrema()
        assert hi - lo > 100  # drawn on, not a blank canvas


def test_table_lists_each_source() -> None:
    text = M.table(_run())
    for src in ("uart", "soft", "timer"):
        assert f"\n{src}" in text
    assert "p99.9" in text and "added p50" in text
    uart = next(ln for ln in text.splitlines() if ln.startswith("uart"))
    j = _run().results[0].to_json()
    assert uart.split()[-2:] == [f"{j['added_us']['p50']:.1f}", f"{j['added_us']['p99']:.1f}"]


def test_choose_sources() -> None:
    assert M.choose_sources("all", ["uart", "soft"]) == (["uart", "soft"], ["gpio", "timer"])
    with pytest.raises(Exception, match="not available"):
        M.choose_sources("gpio", ["uart", "soft"])


def test_report_carries_added_and_leaves_it_empty_for_older_files(tmp_path: Path) -> None:
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    M.write_json(_run(), str(new))
    data = json.loads(new.read_text())
    for r in data["results"]:
        del r["added_us"]                       # a file written before the column existed
    old.write_text(json.dumps(data))
    rows = list(csv.DictReader(report_csv(load_results([str(new), str(old)])).splitlines()))
    uart_new, uart_old = [r for r in rows if r["source"] == "uart"]
    want = _run().results[0].to_json()["added_us"]
    assert (uart_new["added_p50"], uart_new["added_p99"]) == (f"{want['p50']:.1f}", f"{want['p99']:.1f}")
    assert (uart_old["added_p50"], uart_old["added_p99"]) == ("", "")
    assert [r["added_p50"] for r in rows if r["source"] == "timer"] == ["", ""]

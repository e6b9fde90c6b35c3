"""A storm of 100 000 edges on one pin of the simulator (the bench's `train`, on the board's
hardware clock) while a 100 Hz timer source ticks: the storm guard switches the pin's
interrupt off and polls it, then goes back to interrupts, and every edge is accounted for
against the bench's own count of the edges on the wire. Latency figures are printed, not
asserted (tools/bench_storm.py is the benchmark). Both runtimes."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_storm", ROOT / "tools" / "bench_storm.py")
bench_storm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_storm)


def test_storm_guard_polls_and_returns_with_exact_accounting(board):
    r = bench_storm.storm(board, guard=True)
    g = r["guard"]
    s = r["src"]
    line = r["line"]
    # the bench drove every edge, and the guard's counter saw each one
    assert r["generated"] == bench_storm.EDGES
    assert r["counted"] == r["generated"] == r["wire"] - r["wire0"]
    # interrupt -> polling -> interrupt, counted; interrupts in force at the end
    assert g["to_polled"] >= 1 and g["to_irq"] == g["to_polled"]
    assert g["mode"] == "irq" and s["mode"] == "hard"
    assert g["exact"] is True and g["polls"] > 0
    # nothing silently lost: every edge delivered, dropped (counted), pending, merged at
    # the pin (counted) or seen while polled
    assert s["triggers"] == s["delivered"] + s["overflow"] + s["pending"] + s["debounced"]
    assert r["seen"] == s["delivered"]
    assert r["generated"] == (s["delivered"] + s["overflow"] + s["pending"] + s["debounced"]
                              + g["merged_irq"] + g["seen_polled"])
    # the interrupt really was off: the pin raised far fewer IRQs than edges
    assert line["raised"] < r["generated"] // 10
    assert line["runs"] == s["triggers"]
    # the 100 Hz source ran through the storm and lost nothing
    t = r["tick"]
    assert t["overflow"] == 0 and t["errors"] == 0
    assert len(r["during"]) > 0 and len(r["quiet"]) > 0
    q, d = r["quiet"], r["during"]
    print(f"[{board.runtime}] {r['generated']} edges in {r['storm_s']:.2f} s: "
          f"to_polled {g['to_polled']} to_irq {g['to_irq']}, ISR entries {s['triggers']}, "
          f"merged at the pin {g['merged_irq']} (sim line: raised-runs "
          f"{line['raised'] - line['runs']}), seen while polled {g['seen_polled']}; "
          f"100 Hz source ISR->task p99 quiet {bench_storm.pct(q, 0.99):.0f} us "
          f"({len(q)} ticks), during the storm {bench_storm.pct(d, 0.99):.0f} us ({len(d)} ticks)")

"""Issue 10.5: every counter the README names is readable from the host (STATS), and the
simulator's raises coalesced while PRIMASK was set reach the host exactly.

The README's counter table (between the stats-keys markers) is the list; this test reads it
and checks each key in a live STATS reply of `irqkit.app` on the simulator board, after
holding `machine.disable_irq()` while a software-interrupt line is pended 5 times: the first
pend sets the line's pending bit, the other 4 coalesce into it while masked."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from irqkit_host.boards import load_board
from irqkit_host.deploy import app_start_code, deploy
from irqkit_host.link.session import DeviceSession
from irqkit_host.targets.sim import micropython_path, start_sim

ROOT = Path(__file__).resolve().parents[2]
RUNTIMES = [pytest.param("micropython", marks=pytest.mark.skipif(
    micropython_path() is None, reason="micropython VM not installed")), "cpython"]

PENDS = 5
MASKED_RAISES = """
import machine
from simboard import extras
runs = [0]
def swx(arg):
    runs[0] += 1
extras.soft_irq(swx, line="SWX")
s = machine.disable_irq()
for i in range(%d):
    extras.pend("SWX")
machine.enable_irq(s)
""" % PENDS


def readme_keys() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- stats-keys:begin -->")[1].split("<!-- stats-keys:end -->")[0]
    keys = []
    for row in block.splitlines()[2:]:          # after the header and its rule
        cells = row.strip().strip("|").split("|")
        if len(cells) == 2:
            keys += re.findall(r"`([^`]+)`", cells[1])
    return keys


def test_readme_table_parses() -> None:
    keys = readme_keys()
    assert "<src>.overflow" in keys and "port.irq_coalesced_masked" in keys and len(keys) >= 30


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_readme_counter_is_in_stats_and_masked_coalesced_raises_are_exact(runtime: str) -> None:
    bd = load_board("sim")
    b = start_sim(runtime=runtime, log=lambda m: None)
    try:
        deploy(b.port, bd)
        with DeviceSession(b.port, [MASKED_RAISES] + app_start_code(bd)) as session:
            assert session.link is not None
            st = session.link.stats()
    finally:
        b.stop()
    sources = [k[:-len(".triggers")] for k in st if k.endswith(".triggers")]
    assert "soft" in sources, sorted(st)
    missing = [k for k in readme_keys() for src in sources
               if k.replace("<src>", src) not in st] if sources else []
    assert missing == [], f"named in README, absent from STATS: {sorted(set(missing))}"
    print(f"[{runtime}] STATS: {len(st)} keys; port.irq_coalesced_masked "
          f"{st['port.irq_coalesced_masked']}, port.irq_coalesced {st['port.irq_coalesced']}")
    # the 4 raises that found SWX already pending while PRIMASK was set, exactly
    assert st["port.irq_coalesced_masked"] == PENDS - 1, st
    assert st["port.irq_coalesced"] >= PENDS - 1 and st["port.irq_raised"] >= PENDS, st

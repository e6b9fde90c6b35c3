"""irqkit as a labgrid driver and strategy (needs labgrid: ``pip install 'irqkit[labgrid]'``).

labgrid 26 has no entry points for external drivers: it registers a driver when its module
is imported (``@target_factory.reg_driver``). Name this module in the environment file's
``imports:`` so labgrid imports it before it builds the targets::

    imports:
      - irqkit_host.measure.labgrid_driver
    targets:
      main:
        resources:
          RemotePlace: {name: my-board}
        drivers:
          SerialDriver: {}
          IrqkitDriver: {board: pico}
          IrqkitStrategy: {}

``IrqkitDriver`` runs deploy and measure over the port that labgrid's ``SerialDriver``
holds open (irqkit takes an open pyserial port as well as a URL). ``IrqkitStrategy``
walks the states off -> deployed -> app: off powers the board down (when the target has
a power driver), deployed powers it up and deploys the firmware (only changed files are
written), app starts the latency responder, reachable as ``driver.session.link``.

:func:`board_from_target` gives a pytest fixture what it needs from a labgrid ``Target``
(``--lg-env``): the serial port's URL and the irqkit board name.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import attr
from labgrid.driver.common import Driver
from labgrid.exceptions import NoResourceFoundError
from labgrid.factory import target_factory
from labgrid.step import step
from labgrid.strategy.common import Strategy, StrategyError, never_retry

from ..boards import load_board
from ..deploy import DeployResult, app_start_code, deploy
from ..link.labgrid_place import LabgridError, _serial_url
from ..link.session import DeviceSession
from .model import Run
from .run import measure
from .trials import DEFAULT_COUNT

__all__ = ["IrqkitDriver", "IrqkitStrategy", "LabgridBoard", "Status", "board_from_target"]


@target_factory.reg_driver
@attr.s(eq=False)
class IrqkitDriver(Driver):  # type: ignore[misc]  # labgrid has no type hints
    """Deploy, start and measure irqkit over the target's SerialDriver port."""

    bindings = {"serial": "SerialDriver"}
    board = attr.ib(default="sim", validator=attr.validators.instance_of(str))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.session: DeviceSession | None = None

    def on_deactivate(self) -> None:
        self.stop()

    def _board(self) -> dict[str, Any]:
        return load_board(self.board)

    @Driver.check_active  # type: ignore[misc]
    def deploy(self, mpy: bool = False) -> DeployResult:
        """Copy the firmware (changed files only); the app must not be running."""
        self.stop()
        return deploy(self.serial.serial, self._board(), mpy=mpy)

    @Driver.check_active  # type: ignore[misc]
    def start(self) -> DeviceSession:
        """Start the latency responder (once); its frames go through ``.session.link``."""
        if self.session is None:
            bd = self._board()
            self.session = DeviceSession(self.serial.serial, app_start_code(bd),
                                         soft_reset=bd["firmware"].get("layout") == "flat")
        return self.session

    def stop(self) -> None:
        """Stop the app (back to the friendly REPL); the port stays open."""
        if self.session is not None:
            session, self.session = self.session, None
            session.close()

    @Driver.check_active  # type: ignore[misc]
    def measure(self, source: str = "all", count: int = DEFAULT_COUNT, **kwargs: Any) -> Run:
        """``irqkit measure`` over this port (starts its own app session: a running one is
        stopped first). Keyword arguments as for :func:`irqkit_host.measure.run.measure`."""
        self.stop()
        return measure(port=self.serial.serial, board=self.board, source=source, count=count,
                       log=lambda s: self.logger.info(s), **kwargs)


class Status(enum.Enum):
    unknown = 0
    off = 1
    deployed = 2
    app = 3


@target_factory.reg_driver
@attr.s(eq=False)
class IrqkitStrategy(Strategy):  # type: ignore[misc]  # labgrid has no type hints
    """off -> deployed -> app (see the module doc)."""

    bindings = {
        "power": {"PowerProtocol", None},
        "serial": "SerialDriver",
        "irqkit": "IrqkitDriver",
    }
    status = attr.ib(default=Status.unknown)

    @never_retry  # type: ignore[misc]
    @step(args=["status"])  # type: ignore[misc]
    def transition(self, status: Status | str, *, step: Any) -> None:
        if not isinstance(status, Status):
            status = Status[status]
        if status == Status.unknown:
            raise StrategyError(f"can not transition to {status}")
        if status == self.status:
            step.skip("nothing to do")
            return
        if status == Status.off:
            if self.irqkit.state.name == "active":
                self.irqkit.stop()
            self.target.deactivate(self.serial)
            if self.power is not None:
                self.target.activate(self.power)
                self.power.off()
        elif status == Status.deployed:
            if self.status in (Status.unknown, Status.off) and self.power is not None:
                self.target.activate(self.power)
                self.power.on()
            self.target.activate(self.irqkit)      # activates the SerialDriver it binds
            self.irqkit.deploy()
        elif status == Status.app:
            if self.status != Status.deployed:
                self.transition(Status.deployed)
            self.irqkit.start()
        self.status = status


@dataclass(frozen=True)
class LabgridBoard:
    """What irqkit needs of a labgrid target: ``port`` (a pyserial URL or device path for
    ``measure(port=...)``/``deploy``/``DeviceSession``), ``board`` (an irqkit board name),
    ``target`` (the labgrid target's name)."""

    port: str
    board: str
    target: str


def board_from_target(target: Any, *, serial: str | None = None) -> LabgridBoard:
    """The port and board of a labgrid ``Target`` (``env.get_target()``, the ``target``
    fixture of labgrid's pytest plugin), without activating any driver.

    port: the target's ``NetworkSerialPort`` (a ``RemotePlace``'s, or a ser2net port in the
    environment file: ``rfc2217://HOST:PORT?ign_set_control``, ``socket://`` for raw), else its
    local ``SerialPort`` (``RawSerialPort``, ``USBSerialPort``: the device path); ``serial``
    names one when there are several. board: the ``board`` of its ``IrqkitDriver``, else the
    target option ``irqkit_board`` (``targets: main: options: {irqkit_board: pico}``)."""
    name = str(getattr(target, "name", "?"))
    drivers = [d for d in getattr(target, "drivers", []) if isinstance(d, IrqkitDriver)]
    board = drivers[0].board if drivers else None
    env = getattr(target, "env", None)
    if board is None and env is not None:
        try:
            board = env.config.get_target_option(name, "irqkit_board")
        except KeyError:
            board = None
    if not board:
        raise LabgridError(f"labgrid target {name!r} names no irqkit board: give it an IrqkitDriver "
                           "(board: NAME) or the target option irqkit_board")
    load_board(str(board))      # an unknown board: one line now, not at deploy
    try:
        res = target.get_resource("NetworkSerialPort", name=serial, wait_avail=False)
        port = _serial_url({"host": res.host, "port": res.port, "protocol": res.protocol})
    except NoResourceFoundError:
        try:
            res = target.get_resource("SerialPort", name=serial, wait_avail=False)
        except NoResourceFoundError as exc:
            raise LabgridError(f"labgrid target {name!r} has no serial port: {exc}") from None
        if not res.port:
            raise LabgridError(f"labgrid target {name!r}: its serial port {res.name!r} has no device "
                               "(not plugged in?)")
        port = str(res.port)
    return LabgridBoard(port=port, board=str(board), target=name)

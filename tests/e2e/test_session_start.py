"""How DeviceSession starts an app over the raw REPL: nothing is sent before the app is up,
a start that fails on the way is repeated once and counted, a real fault is one line.

The fault these guard against was seen on the emulated micro:bit in CI: the session's first
HELLO frame (seq 0 encodes as ``02 01 03 ...``) carries a 0x03 byte; had it reached the board
before the start command switched Ctrl-C off, the start was interrupted and 15 s of HELLOs
went unanswered.
"""
from __future__ import annotations

from typing import Iterator

import pytest

from irqkit import frame as F
from irqkit import proto as P
from irqkit_host.boards import load_board
from irqkit_host.deploy import deploy
from irqkit_host.deploy.firmware import app_start_code
from irqkit_host.errors import LinkError
from irqkit_host.link.session import DeviceSession
from irqkit_host.targets.sim import SimBoard, start_sim

BOARD = load_board("sim")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimBoard]:
    with start_sim() as board:
        deploy(board.port, BOARD)
        yield board


def test_the_first_hello_carries_a_ctrl_c_byte() -> None:
    # why the ordering matters at all: this is the frame the session sends first
    assert 0x03 in F.encode(P.HELLO, 0, b"")


def test_an_app_that_takes_its_time_to_start_is_not_interrupted(sim: SimBoard) -> None:
    # 0.5 s of work before the app runs: a HELLO sent meanwhile with Ctrl-C still on would
    # interrupt it (the prelude switches Ctrl-C off first, and the host waits for its marker)
    steps = app_start_code(BOARD)
    steps[-1] = "import time\ntime.sleep_ms(500)\n" + steps[-1]
    with DeviceSession(sim.port, steps) as s:
        assert s.link is not None
        s.link.ping(b"up", timeout=2.0)
        assert s.start_retries == 0


def test_a_start_that_fails_once_is_repeated_and_counted(sim: SimBoard) -> None:
    # the first attempt fails the way a command with a lost byte does (a NameError); the
    # flag file makes the second attempt succeed
    steps = app_start_code(BOARD)
    steps[-1] = ("import os\n"
                 "try:\n os.stat('started_once')\n"
                 "except OSError:\n open('started_once', 'w').close()\n retun\n"
                 "os.remove('started_once')\n") + steps[-1]
    with DeviceSession(sim.port, steps) as s:
        assert s.link is not None
        s.link.ping(b"up", timeout=2.0)
        assert s.start_retries == 1


def test_a_start_that_always_fails_is_one_line_with_the_device_error(sim: SimBoard) -> None:
    with pytest.raises(LinkError) as info:
        DeviceSession(sim.port, ["import no_such_module_here\n"])
    msg = str(info.value)
    assert "failed to start" in msg and "no_such_module_here" in msg and "\n" not in msg
    # the board is left at a REPL that still starts the real app
    with DeviceSession(sim.port, app_start_code(BOARD)) as s:
        assert s.link is not None
        s.link.ping(b"again", timeout=2.0)

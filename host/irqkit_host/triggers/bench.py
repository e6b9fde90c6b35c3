"""``--trigger bench:URL``: a pulse on the simulator's virtual pin through its bench channel."""
from __future__ import annotations

from typing import Any

from ..errors import TriggerError
from ..targets.bench import BenchClient


class BenchTrigger:
    def __init__(self, url: str, pin: str) -> None:
        self.client = BenchClient(url)
        self.pin = pin

    def pulse(self) -> None:
        self.client.pulse(self.pin)

    def close(self) -> None:
        self.client.close()


def make_bench(arg: str, *, ser: Any = None, bench_url: str | None = None, pin: Any = None) -> BenchTrigger:
    url = arg or bench_url
    if not url:
        raise TriggerError("the bench trigger needs the simulator's bench URL: --trigger bench:URL")
    return BenchTrigger(url, str(pin))

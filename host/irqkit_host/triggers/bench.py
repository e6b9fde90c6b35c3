"""``--trigger bench:URL``: a pulse on the simulator's virtual pin through its bench channel.

URL is the one ``irqkit sim`` printed: ``unix:PATH``, or ``tcp://HOST:PORT[?token=T]`` for a
simulator started with ``--bench tcp:...`` (on another machine, through ser2net for the serial).
"""
from __future__ import annotations

from typing import Any

from ..errors import SimError, TriggerError
from ..targets.bench import BenchClient


class BenchTrigger:
    def __init__(self, url: str, pin: str) -> None:
        self.pin = pin
        try:
            self.client = BenchClient(url)
            # a bad URL, no bench, a refused token or no such pin: say so now, not mid-run
            self.client.get(pin)
        except SimError as exc:
            raise TriggerError(f"bench trigger {url}: {exc}") from None
        except OSError as exc:
            raise TriggerError(f"bench trigger {url}: {exc.strerror or exc}") from None

    def pulse(self) -> None:
        self.client.pulse(self.pin)

    def close(self) -> None:
        self.client.close()


def make_bench(arg: str, *, ser: Any = None, bench_url: str | None = None, pin: Any = None) -> BenchTrigger:
    url = arg or bench_url
    if not url:
        raise TriggerError("the bench trigger needs the simulator's bench URL: --trigger bench:URL")
    return BenchTrigger(url, str(pin))

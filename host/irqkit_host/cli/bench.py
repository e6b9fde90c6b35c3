"""``irqkit bench [--bench URL] [--name NAME] COMMAND ...``: one bench command to a running
simulator (``pins``, ``get P0``, ``set P0 1``, ``pulse P0 [WIDTH_US]``, ``state``, ``soft N RATE``,
``train``, ``bounce``, ``quad``, ``help``...), the reply printed; an ``err`` reply is one line
on stderr and exit status 1."""
from __future__ import annotations

import argparse
import json

from ..errors import SimError
from ..targets.bench import BenchClient
from ..targets.simregistry import find_sim


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bench", metavar="URL", default=None,
                   help="the simulator's bench URL (unix:PATH, the `bench:` line of `irqkit sim`; "
                        "default: the running simulator)")
    p.add_argument("--name", default=None, help="which running simulator (`irqkit sim --name`)")
    p.add_argument("words", nargs="+", metavar="COMMAND", help="the bench command and its arguments "
                   "(`irqkit bench help` lists them)")


def bench_url(url: str | None, name: str | None) -> str:
    """--bench URL as given, else the bench of the (named or only) running simulator."""
    if url:
        return url
    entry = find_sim(name)
    if not entry.bench:
        raise SimError(f"simulator {entry.name!r} ({entry.board}) has no bench channel")
    return entry.bench


def send(url: str, line: str) -> str:
    """One command -> the text after "ok" (SimError with the reason for "err" or no bench)."""
    try:
        with BenchClient(url, timeout=2.0) as client:
            return client.cmd(line)
    except OSError as exc:
        raise SimError(f"cannot reach the bench at {url}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    reply = send(bench_url(args.bench, args.name), " ".join(args.words))
    if reply.startswith(("{", "[")):
        try:   # pins / state: pretty JSON
            reply = json.dumps(json.loads(reply), indent=2, sort_keys=True)
        except ValueError:
            pass
    if reply:
        print(reply)
    return 0

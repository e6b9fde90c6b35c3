"""`irqkit measure` — placeholder until the harness lands (issue: host harness and protocol)."""
from __future__ import annotations

import argparse

from .cli import CliError


def run(args: argparse.Namespace) -> int:
    raise CliError("measure is not built yet (see the open harness issue)")

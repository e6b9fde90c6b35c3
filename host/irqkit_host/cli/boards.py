"""``irqkit boards [--json]``: list the board definitions."""
from __future__ import annotations

import argparse
import json

from ..boards import format_table, list_boards


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print as JSON")


def run(args: argparse.Namespace) -> int:
    boards = list_boards()
    if getattr(args, "json", False):
        print(json.dumps(boards, indent=2))
    else:
        print(format_table(boards))
    return 0

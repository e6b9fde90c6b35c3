"""``irqkit report a.json b.json ...``: many runs (many targets) in one table, or CSV."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ..measure.merge import load_results, report_csv, report_table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="RESULT.json", help="results of irqkit measure --json")
    p.add_argument("--csv", metavar="FILE", default=None, help="write the merged rows as CSV ('-': stdout)")


def run(args: argparse.Namespace) -> int:
    results = load_results(args.files)
    if args.csv == "-":
        print(report_csv(results), end="")
        return 0
    print(report_table(results))
    if args.csv:
        try:
            Path(args.csv).write_text(report_csv(results))
        except OSError as exc:
            raise UsageError(f"--csv {args.csv}: {exc.strerror or exc}") from None
    return 0

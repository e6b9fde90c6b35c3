"""``irqkit measure``: measure, print the table, write the files asked for."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from ..errors import MeasureError, UsageError
from ..measure import DEFAULT_COUNT, TIMER_PERIOD_US, Run, measure, table, write_csv, write_json, write_plot
from .args import SOURCES, positive_int
from .measureguard import INTERRUPTED, Interrupted, check_trigger, ctrl_c_keeps_results, mark_csv_incomplete, sim_trigger


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", default=None, help="serial port or pyserial URL (default: start a simulator)")
    p.add_argument("--board", default=None,
                   help="board definition name (see `irqkit boards`; default: sim) - says which port module to start")
    p.add_argument("--source", choices=SOURCES + ("all",), default="all", help="which interrupt source")
    p.add_argument("-n", "--count", type=positive_int, default=None, help="trials per source (default 1000)")
    p.add_argument("--json", metavar="FILE", default=None, help="write results as JSON")
    p.add_argument("--csv", metavar="FILE", default=None, help="write raw samples as CSV")
    p.add_argument("--plot", metavar="FILE.png", default=None, help="write a histogram + CDF PNG")
    p.add_argument("--trigger", default=None,
                   help="gpio trigger backend: bench, modem:rts, modem:dtr, blinka:PIN (default: from the board)")
    p.add_argument("--runtime", choices=("micropython", "cpython"), default=None,
                   help="simulator runtime when no --port is given")
    p.add_argument("--timer-period-us", type=positive_int, default=None,
                   help="timer source period in us (default 1000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print where the wall clock went (start, deploy, HELLO, trials, stop) on stderr")


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before measuring if an output file cannot be written."""
    for flag in ("json", "csv", "plot"):
        path = getattr(args, flag)
        if path is None:
            continue
        target = Path(path)
        parent = target.resolve().parent
        if target.is_dir():
            raise UsageError(f"--{flag} {path}: is a directory, give a file name")
        if not parent.is_dir():
            what = "is not a directory" if parent.exists() or _under_file(parent) else "does not exist"
            raise UsageError(f"--{flag} {path}: {parent} {what}")
        try:
            # a real write (not os.access: root passes that everywhere), removed at once
            with tempfile.NamedTemporaryFile(dir=parent, prefix=".irqkit-probe-"):
                pass
        except OSError as exc:
            raise UsageError(f"--{flag} {path}: cannot write in {parent}: "
                             f"{exc.strerror or exc}") from None
        if target.exists() and not os.access(target, os.W_OK):
            raise UsageError(f"--{flag} {path}: the file is not writable")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise UsageError(f"--plot {args.plot}: the plot is a PNG, give a .png file name")


def _under_file(path: Path) -> bool:
    """True when some ancestor of path is a regular file (``out.json/x.csv``)."""
    return any(p.is_file() for p in path.parents) or path.is_file()


def write_outputs(run: Run, args: argparse.Namespace) -> None:
    note = " (incomplete: the run ended early)" if run.error else ""
    if args.json:
        write_json(run, args.json)   # "complete": false and the "error" when it ended early
        print(f"wrote {args.json}{note}")
    if args.csv:
        write_csv(run, args.csv)
        if run.error:
            mark_csv_incomplete(args.csv, run.error)
        print(f"wrote {args.csv}{note}")
    if args.plot:
        write_plot(run, args.plot)
        print(f"wrote {args.plot}{note}")


def phase_lines(run: Run, total_s: float) -> list[str]:
    """The -v report: one line per phase, then the total and what is outside the phases."""
    lines = [f"irqkit measure: {name:<24} {sec * 1000:8.1f} ms" for name, sec in run.phases]
    inside = sum(sec for _, sec in run.phases)
    lines.append(f"irqkit measure: {'phases':<24} {inside * 1000:8.1f} ms  (link: {run.link or '-'})")
    lines.append(f"irqkit measure: {'command (since start)':<24} {total_s * 1000:8.1f} ms  "
                 "(+ Python start and imports before it)")
    return lines


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    _check_outputs(args)
    check_trigger(args.trigger, args.port, args.board)
    try:
        with ctrl_c_keeps_results():
            run_ = measure(port=args.port, board=args.board, source=args.source,
                           count=args.count or DEFAULT_COUNT, trigger=sim_trigger(args.port, args.trigger),
                           runtime=args.runtime, progress=not args.no_progress,
                           timer_period_us=args.timer_period_us or TIMER_PERIOD_US)
    except Interrupted:
        raise KeyboardInterrupt from None   # before anything was measured: nothing to keep
    print(table(run_))
    write_outputs(run_, args)
    if getattr(args, "verbose", False):
        for line in phase_lines(run_, time.perf_counter() - t0):
            print(line, file=sys.stderr)
    if run_.error == INTERRUPTED:
        print("irqkit measure: interrupted (Ctrl-C)" + (": partial results written, marked incomplete"
                                                         if args.json or args.csv else ""), file=sys.stderr)
        return 130
    if run_.error:
        raise MeasureError(run_.error + (" (partial results written)" if args.json or args.csv else ""))
    lost = sum(r.lost for r in run_.results)
    if lost:
        print(f"irqkit measure: warning: {lost} trial(s) lost (see the lost column and the "
              f"device stats)", file=sys.stderr)
    return 1 if any(r.error for r in run_.results) else 0

"""Argument types shared by the subcommands."""
from __future__ import annotations

import argparse

SOURCES = ("uart", "gpio", "timer", "soft")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value

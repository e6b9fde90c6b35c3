# Tiny helpers for firmware tests. Firmware tests are plain `test_*` functions with
# `assert`; pytest runs them on CPython and tools/mptest.py runs the same modules on the
# MicroPython VM. This module works in both places (no pytest import on MicroPython).
import sys

ON_MICROPYTHON = sys.implementation.name == "micropython"


class Skip(Exception):
    """Raised to skip a test; the MicroPython runner reports it as skipped with the reason."""


def skip(reason):
    if not ON_MICROPYTHON:
        try:
            import pytest
        except ImportError:
            pass
        else:
            pytest.skip(reason)
    raise Skip(reason)


def raises(exc_type, fn, *args):
    """Call fn(*args); return the exception it raised, fail if it raised nothing."""
    try:
        fn(*args)
    except exc_type as e:
        return e
    raise AssertionError("expected %s" % exc_type.__name__)


class Rand:
    """Tiny LCG so the same pseudo-random streams run on both runtimes."""

    def __init__(self, seed):
        self.x = seed

    def next(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % n

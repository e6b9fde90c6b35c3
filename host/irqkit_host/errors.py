"""Every error irqkit means to show a user: one base class, one subclass per layer.

Each layer raises its own subclass with a one-line message; only the CLI edge
(:mod:`irqkit_host.cli`) turns an :class:`IrqkitError` into that line on stderr and exit
status 1. Anything else is a bug and keeps its traceback. Some classes also derive from
the builtin they replaced (``ValueError``, ``RuntimeError``) so callers that caught those
keep working.
"""
from __future__ import annotations


class IrqkitError(Exception):
    """Base of every user-facing irqkit error (the message is one line)."""


class UsageError(IrqkitError):
    """The caller asked for something that cannot be done (a bad argument, an output
    file that cannot be written, a source the device does not have)."""


class BoardError(IrqkitError, ValueError):
    """A board definition is missing, unknown or invalid (boards layer)."""


class LinkError(IrqkitError):
    """A link failure (link layer: serial port, raw REPL, frames)."""


class TargetError(IrqkitError):
    """A target (simulator, QEMU) could not be started or stopped working (targets layer)."""


class DeployError(IrqkitError, ValueError):
    """The firmware cannot be put on this board as asked (deploy layer)."""


class TriggerError(IrqkitError, ValueError):
    """A GPIO trigger backend cannot be made or used (triggers layer)."""


class MeasureError(IrqkitError):
    """A measurement cannot be run as asked (measure layer)."""


class SimError(TargetError):
    """A simulator problem the user can act on (unknown runtime, bad flash dir, bench reply)."""


class QemuError(TargetError, RuntimeError):
    """QEMU could not be started, or the guest did not come up."""


class QemuNotInstalled(QemuError):
    """``qemu-system-arm`` is not on PATH."""


class FirmwareNotFound(QemuError):
    """The micro:bit MicroPython hex is not installed."""

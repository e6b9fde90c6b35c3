"""Old name of :mod:`irqkit_host.targets.sim` (and its bench client), kept for the README's
``irqkit_host.simlaunch.start_sim()`` / ``BenchClient``; new code imports from targets.

A folder, not ``simlaunch.py``, on purpose: with no file left at the old path git sees
``simlaunch.py`` -> ``targets/sim.py`` as a rename, so edits made to the old file merge there.
"""
from simboard.exitstatus import EXIT_SOFT, EXIT_SOFT_RAW

from ..errors import SimError
from ..targets.bench import BenchClient
from ..targets.sim import SimBoard, micropython_path, pick_runtime, start_sim

__all__ = ["EXIT_SOFT", "EXIT_SOFT_RAW", "BenchClient", "SimBoard", "SimError", "micropython_path",
           "pick_runtime", "start_sim"]

"""Old name of :mod:`irqkit_host.targets.sim` (and its bench client), kept for the README's
``irqkit_host.simlaunch.start_sim()`` / ``BenchClient``; new code imports from targets."""
from .errors import SimError
from .targets.bench import BenchClient
from .targets.sim import EXIT_SOFT, EXIT_SOFT_RAW, SimBoard, micropython_path, pick_runtime, start_sim

__all__ = ["EXIT_SOFT", "EXIT_SOFT_RAW", "BenchClient", "SimBoard", "SimError", "micropython_path",
           "pick_runtime", "start_sim"]

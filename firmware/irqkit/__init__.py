# irqkit firmware core. Submodules are imported on demand (from irqkit.sched import ...)
# so a small board only pays for what it uses.
VERSION = "0.1.0"

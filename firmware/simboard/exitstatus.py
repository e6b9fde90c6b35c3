# The statuses the simulator's VM exits with on a soft reset; the launcher on the host reads
# them and starts a fresh VM on the same pty. One place for both sides (simboard.console
# exits with them, irqkit_host.targets.sim reads them), and cheap for the host to import:
# nothing else of the ROM comes with it.
EXIT_SOFT = 64       # the fresh VM boots into the friendly REPL (boot.py, main.py)
EXIT_SOFT_RAW = 65   # it boots into the raw REPL (a soft reset asked for from the raw REPL)

# The simulator board's "ROM": its console (REPL, raw REPL, soft reset), its hardware
# model (interrupt controller, pins, timers, UART) and the bench channel. Like a board's
# firmware it is separate from the irqkit package a user deploys to the flash: nothing
# here imports irqkit, so what runs is always the flash copy (or, with none there, the
# copy on the VM's path, like frozen modules), and a broken deploy cannot stop the board
# from booting. The irqkit side is irqkit/ports/sim.py, which imports simboard.hw the way
# a board port imports `machine`.

# irqkit layer "kernel": sources, the scheduler and critical sections, as the smallest boards
# take them. On its own it needs the small-board build (host/irqkit_host/deploy/smallbuild.py
# inlines the `compat` constants these modules import); every other board gets "core".
#
# A MicroPython manifest (micropython-lib style): `irqkit deploy`, package.json, the board
# files and the tests read it, and a firmware build can freeze it with include().
metadata(description="irqkit kernel: event sources, priority scheduler, critical sections")
package("irqkit", files=("__init__.py", "clock.py", "source.py", "critical.py", "sched.py"),
        base_path="../..")

# irqkit layer "core": the portable interrupt framework every board gets (MicroPython 1.9+,
# CircuitPython, CPython): the kernel plus rings, polled and hardware-interrupt sources,
# counters, the break rule and the port interface.
metadata(description="irqkit core: deferred interrupt handling for MicroPython and CircuitPython")
include("kernel.py")
package("irqkit", files=("compat.py", "compat_host.py", "ring.py", "polled.py", "brk.py",
                         "schedext.py", "hwsource.py", "report.py", "port.py", "ports/__init__.py"),
        base_path="../..")

# irqkit layer "port-inproc": a port with no hardware, played by the caller from threads
# (the firmware tests, and the core on plain CPython).
metadata(description="irqkit in-process port (tests, CPython)")
include("core.py")
package("irqkit", files=("ports/inproc.py",), base_path="../..")

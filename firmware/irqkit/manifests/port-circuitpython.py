# irqkit layer "port-circuitpython": the port for CircuitPython (keypad, countio, pulseio).
metadata(description="irqkit port for CircuitPython")
include("core.py")
package("irqkit", files=("ports/circuitpython.py",), base_path="../..")

# irqkit layer "port-machine": the port for MicroPython's `machine` module (rp2, stm32,
# mimxrt, esp32, nrf, the simulator board).
metadata(description="irqkit port for MicroPython's machine module")
include("core.py")
package("irqkit", files=("ports/machine_port.py",), base_path="../..")

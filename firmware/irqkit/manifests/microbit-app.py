# irqkit layer "microbit-app": the BBC micro:bit's own small latency responder (MicroPython
# 1.9.2, 9.8 KB heap): irqkit.app does not fit there. Deployed through the small-board build,
# which copies in frame.crc16 and inlines proto's message numbers.
metadata(description="irqkit responder for the BBC micro:bit v1")
include("kernel.py")
package("irqkit", files=("mblink.py", "mbapp.py"), base_path="../..")

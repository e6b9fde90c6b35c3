# irqkit layer "link": the serial protocol shared with the host (COBS frames with CRC-16,
# message numbers and payloads). The host imports these very modules.
metadata(description="irqkit link: framed serial protocol (COBS + CRC-16)")
include("core.py")
package("irqkit", files=("frame.py", "framev.py", "proto.py"), base_path="../..")

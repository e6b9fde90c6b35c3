import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Firmware tests import `irqkit` from the source tree and `fwtest` from tests/firmware.
# The host package too, so this tree is tested even if another checkout is installed.
for p in (os.path.join(ROOT, "host"), os.path.join(ROOT, "firmware"), os.path.join(ROOT, "tests", "firmware")):
    if p not in sys.path:
        sys.path.insert(0, p)

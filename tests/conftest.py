import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Firmware tests import `irqkit` from the source tree and `fwtest` from tests/firmware.
# The host package too, so this tree is tested even if another checkout is installed.
for p in (os.path.join(ROOT, "host"), os.path.join(ROOT, "firmware"), os.path.join(ROOT, "tests", "firmware")):
    if p not in sys.path:
        sys.path.insert(0, p)

# irqkit's pytest plugin (a pytest11 entry point) is imported before this file runs, so when
# another checkout is the installed one, its irqkit_host/irqkit/simboard modules are already
# loaded: drop them, so the tests import this tree's (the plugin object keeps its own).
for _name, _mod in list(sys.modules.items()):
    if _name.split(".")[0] in ("irqkit_host", "irqkit", "simboard"):
        _file = getattr(_mod, "__file__", None) or ""
        if _file and not os.path.abspath(_file).startswith(ROOT + os.sep):
            del sys.modules[_name]

# Critical sections: nestable, timed, over the port's disable_irq/enable_irq. The class
# lives in irqkit/dispatch.py (one module less for the micro:bit's heap); this is its
# public import point: from irqkit.critical import Critical.
from irqkit.dispatch import Critical  # noqa: F401

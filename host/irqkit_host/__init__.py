"""irqkit host side, in layers (each imports only the ones before it):

errors → boards → link → targets, deploy → triggers → measure → cli.

``__version__`` is the firmware's ``irqkit.VERSION``: one version for both ends.
"""
from irqkit import VERSION as __version__

__all__ = ["__version__"]

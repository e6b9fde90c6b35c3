"""irqkit host side: CLI, serial link, measurement, reports, simulator launcher."""

__version__ = "0.1.0"

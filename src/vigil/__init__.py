"""vigil: a high-availability cluster manager for Linux."""

__version__ = "0.1.0"

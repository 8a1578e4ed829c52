"""A kernel watchdog device (e.g. /dev/watchdog) as the node watchdog uses it.

Opening the device starts the kernel's timer; every write pings it; writing the magic
'V' just before closing stops it (unless the driver was built with nowayout). A device
closed without 'V', or no longer pinged, reboots the machine when its timer expires.
The path is configurable, so tests use a regular file or a FIFO (the timeout ioctl then
fails with ENOTTY, which is logged and ignored).
"""

from __future__ import annotations

import array
import fcntl
import logging
import os
import stat

log = logging.getLogger("vigil.watchdog")

WDIOC_SETTIMEOUT = 0xC0045706
"""_IOWR('W', 6, int) from <linux/watchdog.h>; the driver writes back what it set."""
PING = b"\0"
MAGIC = b"V"


class KernelDevice:
    """A kernel watchdog device (/dev/watchdog): open, set its timeout, ping, close with
    the magic 'V' (disables it) or without (the machine reboots when it expires)."""

    def __init__(self, path: str, timeout: int) -> None:
        self.path = path
        self.timeout = max(1, timeout)
        self.fd: int | None = None

    def open(self) -> None:
        flags = os.O_WRONLY | os.O_CLOEXEC
        if stat.S_ISFIFO(os.stat(self.path).st_mode):
            flags |= os.O_NONBLOCK  # tests: never block on a reader
        self.fd = os.open(self.path, flags)
        wanted = array.array("i", [self.timeout])
        try:
            fcntl.ioctl(self.fd, WDIOC_SETTIMEOUT, wanted, True)
        except OSError as exc:
            log.warning("%s: cannot set its timeout to %ds (%s); pinging every %.2fs",
                        self.path, self.timeout, exc.strerror or exc, self.ping_interval)
        else:
            self.timeout = max(1, wanted[0])  # the driver may round it
            log.info("%s: timeout %ds", self.path, self.timeout)

    @property
    def ping_interval(self) -> float:
        return self.timeout / 4

    def ping(self) -> bool:
        if self.fd is None:
            return False
        try:
            os.write(self.fd, PING)
        except OSError as exc:
            log.error("%s: ping failed: %s", self.path, exc)
            return False
        return True

    def close(self, magic: bool) -> None:
        if self.fd is None:
            return
        if magic:
            try:
                os.write(self.fd, MAGIC)
            except OSError as exc:
                log.error("%s: writing the magic 'V' failed: %s", self.path, exc)
        else:
            log.warning("%s: closed without the magic 'V': the machine reboots when it "
                        "expires", self.path)
        os.close(self.fd)
        self.fd = None

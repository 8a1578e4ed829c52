"""Network-namespace plumbing for the lab: run `ip`/`nft`, list and empty namespaces,
and enter a namespace from the calling thread.

`entered(ns)` switches only the calling thread (setns(2) on a network namespace is
per-thread), so a Python process in the root namespace can open sockets inside a lab
host: a socket keeps the namespace it was created in. That is how the lab's API
clients and probes talk to hosts that have no route to or from the root namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
PREFIX = "vigil-lab-"
"""Every lab namespace's name starts with this, so `vigil lab down` finds leftovers."""
TAG_VAR = "VIGIL_LAB_NODE"
"""Every process of a lab host (and every fault helper) carries VIGIL_LAB_NODE=<lab>/<host>."""

_libc: ctypes.CDLL | None = None


class LabError(Exception):
    """A lab operation failed; the message says what and how to fix it."""


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        hint = "; the lab needs root" if err == errno.EPERM else ""
        raise LabError(f"cannot enter a lab network namespace: {os.strerror(err)}{hint}")


@contextlib.contextmanager
def entered(ns: str) -> Iterator[None]:
    """Run the block with this thread inside network namespace `ns` (root needed).
    Sockets created in the block stay in `ns` after it ends."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(NETNS_DIR / ns, os.O_RDONLY)
    except FileNotFoundError:
        os.close(own)
        raise LabError(f"network namespace {ns} does not exist (is the lab up?)") from None
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def enter_for_good(ns: str) -> None:
    """Move the calling thread into `ns` for the rest of its life (probe threads)."""
    fd = os.open(NETNS_DIR / ns, os.O_RDONLY)
    try:
        _setns(fd)
    finally:
        os.close(fd)


def sh(*argv: str, check: bool = True, input: str | None = None,
       timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run a command (no shell); with `check`, LabError carries its stderr."""
    result = subprocess.run(argv, capture_output=True, text=True, input=input,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed ({result.returncode}): "
                       f"{(result.stderr or result.stdout).strip()}")
    return result


def ip(*args: str, ns: str | None = None, check: bool = True) -> str:
    argv = ["ip", *(("-n", ns) if ns else ()), *args]
    return sh(*argv, check=check).stdout


def nft(script: str, ns: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Load an nftables script inside namespace `ns`."""
    return sh("ip", "netns", "exec", ns, "nft", "-f", "-", input=script, check=check)


def namespaces(prefix: str = PREFIX) -> list[str]:
    """Names of existing network namespaces starting with `prefix`."""
    try:
        names = [p.name for p in NETNS_DIR.iterdir()]
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


def exists(ns: str) -> bool:
    return (NETNS_DIR / ns).exists()


def pids(ns: str) -> list[int]:
    """Every process whose network namespace is `ns` (`ip netns pids`)."""
    if not exists(ns):
        return []
    out = sh("ip", "netns", "pids", ns, check=False).stdout
    return sorted(int(w) for w in out.split() if w.isdigit() and int(w) != os.getpid())


def signal_all(pid_list: Sequence[int], sig: int) -> None:
    for pid in pid_list:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_all(ns: str, rounds: int = 200) -> int:
    """SIGSTOP then SIGKILL every process in `ns`, again until none is left (a power
    cut: none gets to react or fork meanwhile); how many were killed."""
    killed: set[int] = set()
    for _ in range(rounds):
        found = pids(ns)
        if not found:
            break
        signal_all(found, signal.SIGSTOP)
        signal_all(found, signal.SIGKILL)
        killed.update(found)
        time.sleep(0.01)
    else:
        raise LabError(f"processes of namespace {ns} survive SIGKILL: {pids(ns)}")
    return len(killed)


def delete(ns: str) -> None:
    """Kill everything inside, then delete the namespace (its interfaces and nftables
    tables go with it)."""
    if not exists(ns):
        return
    kill_all(ns)
    sh("ip", "netns", "del", ns, check=False)


def check_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, nftables); run it with sudo")
    if shutil.which("ip") is None:
        raise LabError("the lab needs `ip` (apt-get install iproute2)")


def tagged_pids(lab_name: str) -> list[int]:
    """Processes anywhere whose environment has VIGIL_LAB_NODE=<lab_name>/... (the lab's
    hosts' processes, and fault helpers that run in the root namespace)."""
    needle = f"{TAG_VAR}={lab_name}/".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if any(v.startswith(needle) for v in env.split(b"\0")):
            found.append(int(entry))
    return found


def clean_prefix(prefix: str) -> list[str]:
    """Kill every process in, then delete, every namespace whose name starts with
    `prefix`: host namespaces first (their veths vanish with them), the switch last.
    Processes tagged with the lab's name elsewhere (fault helpers) are killed too."""
    lab_name = prefix[len(PREFIX):].rstrip("-")
    for _ in range(50):
        helpers = tagged_pids(lab_name)
        if not helpers:
            break
        signal_all(helpers, signal.SIGKILL)
        time.sleep(0.01)
    names = namespaces(prefix)
    for ns in names:  # freeze and kill everything before deleting anything
        kill_all(ns)
    for ns in sorted(names, key=lambda n: n.endswith("-sw")):
        delete(ns)
    return names


def leftover_labs() -> list[str]:
    """Names of labs that have namespaces on this machine."""
    labs = set()
    for ns in namespaces():
        rest = ns[len(PREFIX):]
        if "-" in rest:
            labs.add(rest.rsplit("-", 1)[0])
    return sorted(labs)



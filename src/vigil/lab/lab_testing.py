"""Helpers for tests that use the lab (tests/lab, drills): skip without root/netns,
build a lab per module, and check that nothing of it is left afterwards (namespaces,
bridges, nft tables, processes). Imports pytest: for tests only."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.lab import netns
from vigil.lab.netlab import NetnsLab, start_lab


def netns_works() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None:
        return False
    name = f"vigil-lab-probe{secrets.token_hex(3)}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return True


NEEDS_NETNS = pytest.mark.skipif(not netns_works(), reason="needs root, `ip netns` and nft")


def unique_name(kind: str) -> str:
    return f"t{kind}{secrets.token_hex(3)}"


def tagged_processes(lab_name: str) -> list[int]:
    """Processes whose environment carries a VIGIL_LAB_NODE of this lab."""
    return netns.tagged_pids(lab_name)


def assert_nothing_left(lab: NetnsLab) -> None:
    """No namespace, bridge, nft table or process of the lab is left."""
    assert netns.namespaces(lab.prefix) == []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert lab.prefix not in links and "br1" not in [
        line.split(":")[1].strip() for line in links.splitlines()]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert "vigil_lab_" not in tables  # lab tables only ever live in lab namespaces
    assert tagged_processes(lab.name) == []


def lab_fixture(config: str | None, kind: str, **kw: object) -> Iterator[NetnsLab]:
    """A started lab for a test module; torn down (and checked clean) even on failure."""
    name = unique_name(kind)
    lab = None
    try:
        lab = start_lab(Path(f"/dev/shm/vigil-lab/{name}"), name=name, config=config,
                        **kw)  # type: ignore[arg-type]
        yield lab
    finally:
        if lab is None:  # start_lab failed and tore down: check by name anyway
            lab = NetnsLab.create(Path(f"/dev/shm/vigil-lab/{name}"), name=name)
        lab.down(remove=True)
        assert_nothing_left(lab)

"""Pacemaker's attribute commands for resource agents: crm_attribute, crm_master,
attrd_updater and crm_node, as far as agents use them.

Promotable agents (ocf:pacemaker:Stateful, pgsql, ...) set their promotion score with
`crm_attribute --promotion -v N` or `crm_master -l reboot -v N`; ocf:pacemaker:ping
publishes connectivity with `attrd_updater -n pingd -v N`. vigil puts these commands on
the agent's PATH and in HA_SBIN_DIR (see `install_shims`). They write the node's
pending attributes to a local JSON file (`VIGIL_ATTR_FILE`); the executor publishes
the file to the store after each action or monitor (`runtime/attributes/<node>/<name>`),
where the scheduler reads them. Queries answer from that file, then from the cluster's
attributes as last seen by the executor (`VIGIL_ATTR_CLUSTER_FILE`).

Run as `python -m vigil.agents.attrd_shim <command> <args...>`.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

COMMANDS = ("crm_attribute", "crm_master", "attrd_updater", "crm_node")
ATTR_FILE_ENV = "VIGIL_ATTR_FILE"
CLUSTER_FILE_ENV = "VIGIL_ATTR_CLUSTER_FILE"
NODE_ENV = "VIGIL_NODE"
ON_NODE_ENV = "OCF_RESKEY_CRM_meta_on_node"  # the name OCF agents get

Entries = dict[str, dict[str, dict[str, Any]]]
"""node -> name -> {"value": str | None (deleted), "lifetime": "reboot" | "forever"}."""


@contextlib.contextmanager
def locked(path: Path) -> Iterator[Entries]:
    """The file's entries, written back when the block ends (one writer at a time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = read_entries(path)
        yield entries
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, sort_keys=True))
        os.replace(tmp, path)


def read_entries(path: Path) -> Entries:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _node(explicit: str | None) -> str:
    node = explicit or os.environ.get(ON_NODE_ENV) or os.environ.get(NODE_ENV)
    if not node:
        raise SystemExit("cannot tell the node: set -N NODE (vigil sets "
                         "OCF_RESKEY_CRM_meta_on_node for agents)")
    return node


def _promotion_name() -> str:
    instance = os.environ.get("OCF_RESOURCE_INSTANCE")
    if not instance:
        raise SystemExit("--promotion needs OCF_RESOURCE_INSTANCE (set for resource agents)")
    return f"master-{instance}"


def _query(node: str, name: str) -> str | None:
    local = read_entries(Path(os.environ.get(ATTR_FILE_ENV, "/nonexistent")))
    entry = local.get(node, {}).get(name)
    if entry is not None:
        value = entry.get("value")
        return None if value is None else str(value)
    cluster = read_entries(Path(os.environ.get(CLUSTER_FILE_ENV, "/nonexistent")))
    entry = cluster.get(node, {}).get(name)
    return None if entry is None or entry.get("value") is None else str(entry["value"])


def _set(node: str, name: str, value: str | None, lifetime: str) -> None:
    path = os.environ.get(ATTR_FILE_ENV)
    if not path:
        raise SystemExit(f"{ATTR_FILE_ENV} is not set: run this from a vigil resource agent")
    with locked(Path(path)) as entries:
        entries.setdefault(node, {})[name] = {"value": value, "lifetime": lifetime}


def _print_query(name: str, node: str, value: str | None, quiet: bool,
                 default: str | None) -> int:
    if value is None:
        value = default
    if value is None:
        print(f"Error performing operation: No such device or address "
              f"(attribute {name} not set on {node})", file=sys.stderr)
        return 6  # what crm_attribute answers for a missing attribute (ENXIO)
    print(value if quiet else f"scope=status  name={name} value={value}")
    return 0


def crm_attribute(argv: Sequence[str], master: bool = False) -> int:
    p = argparse.ArgumentParser(prog="crm_master" if master else "crm_attribute",
                                add_help=True)
    p.add_argument("-n", "--name")
    p.add_argument("-v", "--update", "--attr-value", dest="value")
    p.add_argument("-D", "--delete", action="store_true")
    p.add_argument("-G", "--query", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-N", "--node")
    p.add_argument("-U", "--uname", dest="node2")
    p.add_argument("-l", "--lifetime", default=None)
    p.add_argument("-t", "--type", default=None)
    p.add_argument("-d", "--default", default=None)
    p.add_argument("-p", "--promotion", nargs="?", const="", default=None)
    p.add_argument("-r", "--resource", default=None)
    p.add_argument("-i", "--id", default=None)
    p.add_argument("-s", "--set-name", default=None)
    args = p.parse_args(list(argv))
    node = _node(args.node or args.node2)
    if master or args.promotion is not None:
        name = f"master-{args.promotion}" if args.promotion else _promotion_name()
        lifetime = "reboot"
    else:
        if not args.name:
            p.error("give the attribute name with -n NAME")
        name = args.name
        lifetime = "reboot" if (args.lifetime in ("reboot", "transient")
                                or args.type == "status") else "forever"
    if args.delete:
        _set(node, name, None, lifetime)
        return 0
    if args.value is not None:
        _set(node, name, args.value, lifetime)
        return 0
    return _print_query(name, node, _query(node, name), args.quiet, args.default)


def attrd_updater(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="attrd_updater")
    p.add_argument("-n", "--name", required=True)
    p.add_argument("-v", "-U", "--update", dest="value")
    p.add_argument("-B", "--update-both", dest="both")
    p.add_argument("-Y", "--update-delay", action="store_true")
    p.add_argument("-D", "--delete", action="store_true")
    p.add_argument("-Q", "--query", action="store_true")
    p.add_argument("-R", "--refresh", action="store_true")
    p.add_argument("-A", "--all", action="store_true")
    p.add_argument("-N", "--node")
    p.add_argument("-d", "--delay", default=None)
    p.add_argument("-s", "--set", default=None)
    p.add_argument("-p", "--private", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(list(argv))
    node = _node(args.node)
    value = args.value if args.value is not None else args.both
    if args.delete:
        _set(node, args.name, None, "reboot")
    elif value is not None:
        _set(node, args.name, value, "reboot")
    elif args.query:
        found = _query(node, args.name)
        if found is None:
            return 6
        print(f'name="{args.name}" host="{node}" value="{found}"')
    return 0


def crm_node(argv: Sequence[str]) -> int:
    if "-n" in argv or "--name" in argv:
        print(_node(None))
        return 0
    print("crm_node (vigil): only -n (this node's name) is supported", file=sys.stderr)
    return 3


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: python -m vigil.agents.attrd_shim {{{','.join(COMMANDS)}}} ...",
              file=sys.stderr)
        return 2
    command, rest = args[0], args[1:]
    if command == "attrd_updater":
        return attrd_updater(rest)
    if command == "crm_node":
        return crm_node(rest)
    return crm_attribute(rest, master=command == "crm_master")


def install_shims(directory: Path, python: str = sys.executable) -> Path:
    """Write the commands as small scripts into `directory` (idempotent)."""
    directory.mkdir(parents=True, exist_ok=True)
    for command in COMMANDS:
        script = directory / command
        text = f'#!/bin/sh\nexec "{python}" -m vigil.agents.attrd_shim {command} "$@"\n'
        if not script.is_file() or script.read_text() != text:
            tmp = script.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.chmod(0o755)
            os.replace(tmp, script)
    return directory


if __name__ == "__main__":
    sys.exit(main())

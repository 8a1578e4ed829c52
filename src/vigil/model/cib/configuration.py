"""A CIB's configuration section as a vigil config document (YAML-ready data).

What maps one to one: nodes (attributes, utilization capacity), primitives (ocf agents,
params, operations with on-fail, meta attributes, utilization), groups, clones (anonymous,
unique, promotable), location constraints with a node and score or with rules on node
attributes (rsc-pattern expanded over resource ids), colocations (roles, sets), orders
(kinds, actions, sets), stonith primitives and fencing levels (as fence devices and
levels), the cluster options vigil has (no-quorum-policy, symmetric-cluster,
placement-strategy, batch-limit, maintenance-mode) and resource/operation defaults.
Everything else is recorded as a `Note` (where in the XML, and why), never dropped
silently.

Internal to the CIB importer (`vigil.model.cib`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from vigil.model.cib.constraints import read_constraints
from vigil.model.cib.model_doc import CFG_PATH, ROLE_NAMES, ConfigDoc
from vigil.model.cib.xml_tree import (
    Note,
    children,
    duration_text,
    is_true,
    nvpairs,
    parse_duration,
    parse_score,
    path_of,
    score_text,
)
from vigil.model.config import INFINITY

_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_CLUSTER = re.compile(r"[^a-z0-9_.-]+")

# Meta attributes vigil holds; the rest are noted.
_META_KNOWN = {"resource-stickiness": "stickiness", "migration-threshold": "migration_threshold",
               "failure-timeout": "failure_timeout", "target-role": "target_role",
               "is-managed": "is_managed", "maintenance": "maintenance",
               "priority": "priority", "multiple-active": "multiple_active"}
_CLONE_META = {"clone-max": "clone_max", "clone-node-max": "clone_node_max",
               "globally-unique": "unique", "interleave": "interleave", "ordered": "ordered",
               "notify": "notify", "promotable": "promotable",
               "promoted-max": "promoted_max", "master-max": "promoted_max",
               "promoted-node-max": "promoted_node_max",
               "master-node-max": "promoted_node_max"}
_MULTIPLE_ACTIVE = {"stop_start": "stop_start", "stop_only": "stop_only", "block": "block",
                    "stop_unexpected": "stop_unexpected"}
_ON_FAIL = ("ignore", "block", "stop", "restart", "standby", "fence", "demote")
# Cluster options that make no difference to what the scheduler decides here.
_QUIET_OPTIONS = ("dc-version", "cluster-infrastructure", "cluster-name",
                  "have-watchdog", "last-lrm-refresh", "stonith-enabled",
                  "no-quorum-policy", "symmetric-cluster", "stonith-action",
                  "startup-fencing", "stonith-timeout", "placement-strategy",
                  "batch-limit", "maintenance-mode")


def _not_fenceable(out: ConfigDoc) -> list[str]:
    """Nodes no imported fence device can fence (as FenceDevice.can_fence decides)."""
    devices = out.doc.get("fencing", {}).get("devices", [])
    names = [n["name"] for n in out.doc.get("nodes", [])]

    def covers(d: dict[str, Any], node: str) -> bool:
        if d.get("host_map"):
            return node in d["host_map"]
        return not d.get("hosts") or node in d["hosts"]

    return [n for n in names if not any(covers(d, n) for d in devices)]


def read_configuration(root: ET.Element, cluster_name: str) -> ConfigDoc:
    cfg = root.find("configuration")
    out = ConfigDoc(doc={})
    if cfg is None:
        out.notes.append(Note("/cib", "no <configuration> section: nothing to import"))
        cfg = ET.Element("configuration")
    options = _options(cfg, out)
    if not is_true(root.get("have-quorum", "true")):
        out.notes.append(Note("/cib", "have-quorum=0: the partition has no quorum, which "
                              "vigil's scheduler does not see: only a DC holding the store's "
                              "quorum schedules, and a node that lost it stops (or, with "
                              "no_quorum_policy freeze, keeps) its resources by itself"))
    out.stonith_enabled = is_true(options.get("stonith-enabled", "true"))
    name = options.get("cluster-name") or cluster_name
    out.doc["cluster"] = _CLUSTER.sub("-", name.lower()).strip("-._") or "imported"
    _nodes(cfg, out)
    _resources(cfg, out, _defaults(cfg, "rsc_defaults", out), _defaults(cfg, "op_defaults", out))
    read_constraints(cfg, out)
    _fencing_topology(cfg, out)
    uncovered = _not_fenceable(out)
    if options.get("no-quorum-policy") == "freeze" and uncovered:
        # vigil's loader refuses freeze unless the quorate side can fence every node.
        out.doc["no_quorum_policy"] = "stop"
        out.notes.append(Note(f"{CFG_PATH}/crm_config", "no-quorum-policy=freeze: no fence "
                              f"device covers {', '.join(uncovered)}, and vigil keeps "
                              "resources running without quorum only when the quorate side "
                              "can fence the node first; imported as 'stop'"))
    elif options.get("no-quorum-policy") in ("stop", "freeze"):
        out.doc["no_quorum_policy"] = options["no-quorum-policy"]
    elif "no-quorum-policy" in options:
        out.notes.append(Note(f"{CFG_PATH}/crm_config", f"no-quorum-policy="
                              f"{options['no-quorum-policy']}: vigil has 'stop' and 'freeze' "
                              "(without quorum a node cannot renew its lease and stops "
                              "its resources); imported as 'stop'"))
    if not is_true(options.get("symmetric-cluster", "true")):
        out.doc["symmetric_cluster"] = False
    strategy = options.get("placement-strategy")
    if strategy in ("default", "utilization", "balanced", "minimal"):
        out.doc["placement_strategy"] = strategy
    elif strategy is not None:
        out.notes.append(Note(f"{CFG_PATH}/crm_config", f"placement-strategy={strategy}: unknown; "
                              "left out (default)"))
    batch = parse_score(options.get("batch-limit"))
    if batch is not None and batch > 0:
        out.doc["batch_limit"] = batch
    if is_true(options.get("maintenance-mode")):
        out.doc["maintenance_mode"] = True
    return out


def _options(cfg: ET.Element, out: ConfigDoc) -> dict[str, str]:
    path = f"{CFG_PATH}/crm_config"
    options: dict[str, str] = {}
    for crm in children(cfg, "crm_config"):
        options.update(nvpairs(crm, "cluster_property_set", path, out.notes))
    for name in options:
        if name not in _QUIET_OPTIONS:
            out.notes.append(Note(f"{path}/nvpair[@name='{name}']",
                                  f"cluster option {name} has no vigil counterpart; left out"))
    return options


def _defaults(cfg: ET.Element, tag: str, out: ConfigDoc) -> dict[str, str]:
    el = cfg.find(tag)
    if el is None:
        return {}
    return nvpairs(el, "meta_attributes", f"{CFG_PATH}/{tag}", out.notes)


def _nodes(cfg: ET.Element, out: ConfigDoc) -> None:
    nodes: list[dict[str, Any]] = []
    for i, el in enumerate(children(cfg.find("nodes"), "node")):
        path = path_of(f"{CFG_PATH}/nodes", el)
        uname = el.get("uname") or el.get("id") or f"node{i + 1}"
        if el.get("type") == "remote":
            out.notes.append(Note(path, "Pacemaker Remote node: vigil runs its agent on every "
                                  "node that hosts resources; imported as a full node"))
        out.node_names[el.get("id") or uname] = uname
        attrs = nvpairs(el, "instance_attributes", path, out.notes)
        out.node_attributes[uname] = attrs
        # A CIB has no addresses (corosync.conf does): TEST-NET-1 placeholders to edit.
        node: dict[str, Any] = {"name": uname, "address": f"192.0.2.{i + 1}"}
        kept = {k: v for k, v in attrs.items() if k not in ("standby", "maintenance")}
        if kept:
            node["attributes"] = kept
        capacity = _utilization(el, path, out)
        if capacity:
            node["capacity"] = capacity
        nodes.append(node)
    if nodes:
        out.notes.append(Note(f"{CFG_PATH}/nodes", "node addresses are not part of a CIB (they are "
                              "in corosync.conf): placeholders 192.0.2.x were written; set each "
                              "node's real address before `vigil config apply`"))
    out.doc["nodes"] = nodes


def _resources(cfg: ET.Element, out: ConfigDoc, rsc_defaults: dict[str, str],
               op_defaults: dict[str, str]) -> None:
    resources: list[dict[str, Any]] = []
    devices: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    clones: list[dict[str, Any]] = []
    base = f"{CFG_PATH}/resources"
    for el in children(cfg.find("resources")):
        path = path_of(base, el)
        if el.tag == "primitive":
            if el.get("class") == "stonith":
                devices.append(_fence_device(el, path, out))
                continue
            rsc = _primitive(el, path, out, rsc_defaults, op_defaults)
            if rsc is not None:
                resources.append(rsc)
        elif el.tag == "group":
            group = _group(el, path, out, rsc_defaults, op_defaults, resources)
            if group is not None:
                groups.append(group)
        elif el.tag in ("clone", "master"):
            clone = _clone(el, path, out, rsc_defaults, op_defaults, resources, groups)
            if clone is not None:
                clones.append(clone)
        elif el.tag == "bundle":
            out.notes.append(Note(path, "bundle (containers): vigil has no bundles; left out "
                                  "with everything inside it"))
        elif el.tag == "template":
            out.notes.append(Note(path, "resource template: left out (primitives using it "
                                  "are noted where they refer to it)"))
        else:
            out.notes.append(Note(path, f"<{el.tag}> is not a resource kind vigil knows; left out"))
    out.resources = [r["id"] for r in resources]
    out.containers = [g["id"] for g in groups] + [c["id"] for c in clones]
    out.ids = {*out.resources, *out.containers}
    out.doc["resources"] = resources
    if groups:
        out.doc["groups"] = groups
    if clones:
        out.doc["clones"] = clones
    if devices:
        out.doc["fencing"] = {"devices": devices}


def _group(el: ET.Element, path: str, out: ConfigDoc, rsc_defaults: dict[str, str],
           op_defaults: dict[str, str], resources: list[dict[str, Any]]) -> dict[str, Any] | None:
    gid = el.get("id", "")
    members: list[str] = []
    for child in children(el, "primitive", "meta_attributes", "instance_attributes"):
        if child.tag != "primitive":
            continue
        rsc = _primitive(child, path_of(path, child), out, rsc_defaults, op_defaults)
        if rsc is not None:
            resources.append(rsc)
            members.append(rsc["id"])
    for child in children(el):
        if child.tag not in ("primitive", "meta_attributes", "instance_attributes"):
            out.notes.append(Note(path_of(path, child), f"<{child.tag}> inside a group: left out"))
    if not members:
        out.notes.append(Note(path, "group with no importable member: left out"))
        return None
    group: dict[str, Any] = {"id": gid, "members": members}
    meta = _meta(nvpairs(el, "meta_attributes", path, out.notes), path, out,
                 default_stickiness=False)
    if meta:
        group["meta"] = meta
    return group


def _clone(el: ET.Element, path: str, out: ConfigDoc, rsc_defaults: dict[str, str],
           op_defaults: dict[str, str], resources: list[dict[str, Any]],
           groups: list[dict[str, Any]]) -> dict[str, Any] | None:
    cid = el.get("id", "")
    raw = nvpairs(el, "meta_attributes", path, out.notes)
    child_id: str | None = None
    for child in children(el, "primitive", "group"):
        cpath = path_of(path, child)
        if child.tag == "primitive":
            rsc = _primitive(child, cpath, out, rsc_defaults, op_defaults)
            if rsc is not None:
                resources.append(rsc)
                child_id = rsc["id"]
        else:
            group = _group(child, cpath, out, rsc_defaults, op_defaults, resources)
            if group is not None:
                groups.append(group)
                child_id = group["id"]
    if child_id is None:
        out.notes.append(Note(path, "clone with no importable resource inside: left out"))
        return None
    out.primitive_parent[child_id] = cid
    clone: dict[str, Any] = {"id": cid, "resource": child_id}
    if el.tag == "master":
        clone["promotable"] = True
    for name, key in _CLONE_META.items():
        if name not in raw:
            continue
        value = raw.pop(name)
        if key in ("clone_max", "clone_node_max", "promoted_max", "promoted_node_max"):
            number = parse_score(value)
            if number is not None and number >= 0:
                clone[key] = number
        else:
            clone[key] = is_true(value)
    if not clone.get("unique") and clone.get("clone_node_max", 1) > 1:
        # Pacemaker accepts it but runs one anonymous instance per node all the same.
        out.notes.append(Note(path, f"clone-node-max={clone['clone_node_max']} on an anonymous "
                              "clone: its instances on one node would be the same resource; "
                              "imported as 1 (globally-unique=true runs several per node)"))
        clone["clone_node_max"] = 1
    meta = _meta(raw, path, out, default_stickiness=False)
    if meta:
        clone["meta"] = meta
    return clone


def _primitive(el: ET.Element, path: str, out: ConfigDoc, rsc_defaults: dict[str, str],
               op_defaults: dict[str, str]) -> dict[str, Any] | None:
    rid = el.get("id", "")
    if el.get("template"):
        out.notes.append(Note(path, f"primitive uses template {el.get('template')}: templates "
                              "are not expanded; left out"))
        return None
    cls, provider, rtype = el.get("class"), el.get("provider"), el.get("type")
    if cls != "ocf" or not provider or not rtype:
        out.notes.append(Note(path, f"agent {cls}:{rtype}: vigil runs OCF agents and its "
                              "built-ins (process, vip); left out"))
        return None
    if not _NAME.fullmatch(rid):
        out.notes.append(Note(path, f"id {rid!r} is not a valid vigil name; left out"))
        return None
    rsc: dict[str, Any] = {"id": rid, "agent": f"ocf:{provider}:{rtype}"}
    params: dict[str, str] = {}
    for name, value in nvpairs(el, "instance_attributes", path, out.notes).items():
        if _PARAM.fullmatch(name):
            params[name] = value
        else:
            out.notes.append(Note(f"{path}/instance_attributes", f"parameter {name!r} is not a "
                                  "name vigil can pass as OCF_RESKEY_<name>; left out"))
    if params:
        rsc["params"] = params
    rsc["operations"] = _operations(el, path, out, op_defaults)
    meta = {**rsc_defaults, **nvpairs(el, "meta_attributes", path, out.notes)}
    rsc["meta"] = _meta(meta, path, out, default_stickiness=True)
    utilization = _utilization(el, path, out)
    if utilization:
        rsc["utilization"] = utilization
    return rsc


def _utilization(el: ET.Element, path: str, out: ConfigDoc) -> dict[str, int]:
    values: dict[str, int] = {}
    for name, value in nvpairs(el, "utilization", path, out.notes).items():
        number = parse_score(value)
        if number is None or number < 0:
            out.notes.append(Note(f"{path}/utilization", f"{name}={value}: not a whole number; "
                                  "left out"))
        else:
            values[name] = number
    return values


def _operations(el: ET.Element, path: str, out: ConfigDoc,
                op_defaults: dict[str, str]) -> dict[str, Any]:
    default_timeout = parse_duration(op_defaults.get("timeout"))
    ops: dict[str, Any] = {"monitor": {"interval": "0"}}
    if default_timeout:
        for name in ("start", "stop"):
            ops[name] = {"timeout": duration_text(default_timeout)}
        ops["monitor"]["timeout"] = duration_text(default_timeout)
    seen_monitor = False
    for op in children(el.find("operations"), "op"):
        opath = path_of(f"{path}/operations", op)
        name = op.get("name", "")
        interval = parse_duration(op.get("interval", "0")) or 0.0
        timeout = parse_duration(op.get("timeout")) or default_timeout
        for attr in ("requires", "record-pending", "enabled"):
            if op.get(attr) is not None:
                out.notes.append(Note(opath, f"{attr}={op.get(attr)}: vigil's operations have "
                                      f"no {attr}; left out"))
        on_fail = op.get("on-fail")
        if on_fail is not None and on_fail not in _ON_FAIL:
            out.notes.append(Note(opath, f"on-fail={on_fail}: vigil has {', '.join(_ON_FAIL)}; "
                                  "left out"))
            on_fail = None
        role = ROLE_NAMES.get((op.get("role") or "").lower())
        key = name
        if name == "monitor" and role == "Promoted":
            key = "monitor_promoted"
        if key in ("start", "stop", "promote", "demote", "notify") and interval == 0:
            entry: dict[str, Any] = {}
            if timeout:
                entry["timeout"] = duration_text(timeout)
            if on_fail:
                entry["on_fail"] = on_fail
            if entry:
                ops[key] = entry
        elif key == "monitor_promoted" and interval > 0:
            ops[key] = {"interval": duration_text(interval)}
            if timeout:
                ops[key]["timeout"] = duration_text(timeout)
            if on_fail:
                ops[key]["on_fail"] = on_fail
        elif name == "monitor" and interval > 0 and not seen_monitor:
            seen_monitor = True
            ops["monitor"] = {"interval": duration_text(interval)}
            if timeout:
                ops["monitor"]["timeout"] = duration_text(timeout)
            if on_fail:
                ops["monitor"]["on_fail"] = on_fail
        elif name == "monitor" and interval > 0:
            out.notes.append(Note(opath, "a second recurring monitor: vigil runs one per "
                                  "resource; left out"))
        elif name == "monitor":
            continue  # probes: vigil probes every resource on every node anyway
        else:
            out.notes.append(Note(opath, f"operation {name}: vigil configures start, stop and "
                                  "monitor; left out"))
    # Pacemaker's Promoted monitor does not take the plain monitor's on-fail (vigil's
    # does when it has none): say its default explicitly.
    promoted = ops.get("monitor_promoted")
    if promoted is not None and "on_fail" in ops["monitor"] and "on_fail" not in promoted:
        promoted["on_fail"] = "restart"
    return ops


def _meta(meta: dict[str, str], path: str, out: ConfigDoc,
          default_stickiness: bool) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if default_stickiness or "resource-stickiness" in meta:
        # Pacemaker's default stickiness is 0, vigil's 1: a primitive always says which.
        result["stickiness"] = score_text(parse_score(meta.get("resource-stickiness")) or 0)
    for name, value in meta.items():
        key = _META_KNOWN.get(name)
        where = f"{path}/meta_attributes/nvpair[@name='{name}']"
        if key is None:
            out.notes.append(Note(where, f"meta attribute {name}={value}: vigil has no "
                                  "counterpart; left out"))
        elif key == "migration_threshold":
            threshold = parse_score(value)
            if threshold is not None and 0 < threshold < INFINITY:
                result[key] = threshold
        elif key == "failure_timeout":
            seconds = parse_duration(value)
            if seconds:
                result[key] = duration_text(seconds)
        elif key == "target_role":
            role = ROLE_NAMES.get(value.lower())
            if role is None:
                out.notes.append(Note(where, f"target-role={value}: not a role; left out"))
            else:
                result[key] = role
        elif key in ("is_managed", "maintenance"):
            result[key] = is_true(value)
        elif key == "priority":
            result[key] = parse_score(value) or 0
        elif key == "multiple_active":
            if value in _MULTIPLE_ACTIVE:
                result[key] = value
            else:
                out.notes.append(Note(where, f"multiple-active={value}: unknown; left out"))
    return result


def _fence_device(el: ET.Element, path: str, out: ConfigDoc) -> dict[str, Any]:
    params = nvpairs(el, "instance_attributes", path, out.notes)
    device: dict[str, Any] = {"id": el.get("id", ""), "agent": el.get("type", "")}
    hosts = params.pop("pcmk_host_list", "")
    if hosts:
        device["hosts"] = hosts.replace(",", " ").split()
    host_map = params.pop("pcmk_host_map", "")
    if host_map:
        pairs = [p.split(":", 1) for p in re.split(r"[;,\s]+", host_map) if ":" in p]
        device["host_map"] = {k: v for k, v in pairs}
    for name in [n for n in params if n.startswith("pcmk_")]:
        out.notes.append(Note(f"{path}/instance_attributes", f"{name}: vigil's fence devices "
                              "have no such option; left out"))
        params.pop(name)
    if params:
        device["params"] = params
    return device


def _fencing_topology(cfg: ET.Element, out: ConfigDoc) -> None:
    topo = cfg.find("fencing-topology")
    if topo is None:
        return
    levels: dict[str, list[tuple[int, list[str]]]] = {}
    for lvl in children(topo, "fencing-level"):
        target = lvl.get("target")
        if target is None:
            out.notes.append(Note(path_of(f"{CFG_PATH}/fencing-topology", lvl), "fencing level by "
                                  "pattern or attribute: vigil's levels name a node; left out"))
            continue
        devices = [d for d in re.split(r"[,\s]+", lvl.get("devices", "")) if d]
        levels.setdefault(target, []).append((int(lvl.get("index", "1")), devices))
    if levels:
        fencing = out.doc.setdefault("fencing", {"devices": []})
        fencing["levels"] = {n: [d for _, d in sorted(v)] for n, v in levels.items()}

"""What the executor needs to know about clones: which resource an instance id runs,
and the clone meta attributes its agent gets (as Pacemaker passes them).
"""

from __future__ import annotations

from dataclasses import replace

from vigil.model.config import Clone, ClusterConfig, Resource


def _clone_of(config: ClusterConfig, primitive: str) -> Clone | None:
    for clone in config.clones:
        if clone.child == primitive:
            return clone
        for group in config.groups:
            if group.id == clone.child and primitive in group.members:
                return clone
    return None


def resolve_resource(config: ClusterConfig, rid: str) -> Resource | None:
    """The resource `rid` names: a primitive, or `p:<n>` for an instance of a unique
    clone of `p` (the primitive renamed, so OCF_RESOURCE_INSTANCE is `p:<n>`)."""
    for rsc in config.resources:
        if rsc.id == rid:
            return rsc
    base, sep, number = rid.rpartition(":")
    if not sep or not number.isdigit():
        return None
    clone = _clone_of(config, base)
    if clone is None or not clone.unique:
        return None
    for rsc in config.resources:
        if rsc.id == base:
            return replace(rsc, id=rid)
    return None


def clone_meta(config: ClusterConfig, rid: str) -> dict[str, str]:
    """OCF_RESKEY_CRM_meta_* (without the prefix) for a clone's instance; {} otherwise."""
    base, sep, number = rid.rpartition(":")
    clone = _clone_of(config, rid) or (_clone_of(config, base) if sep else None)
    if clone is None:
        return {}
    count = clone.clone_max if clone.clone_max is not None else len(config.node_names)
    meta = {
        "clone_max": str(count),
        "clone_node_max": str(clone.clone_node_max),
        "globally_unique": "true" if clone.unique else "false",
        "notify": "true" if clone.notify else "false",
    }
    if sep and number.isdigit():
        meta["clone"] = number
    if clone.promotable:
        meta.update({
            "promotable": "true",
            "promoted_max": str(clone.promoted_max),
            "promoted_node_max": str(clone.promoted_node_max),
            # The names agents written for Pacemaker 1.x still test.
            "master_max": str(clone.promoted_max),
            "master_node_max": str(clone.promoted_node_max),
        })
    return meta

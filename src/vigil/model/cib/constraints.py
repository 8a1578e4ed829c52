"""A CIB's constraints section as vigil constraints (YAML-ready data).

Locations (node + score, rules on node attributes, roles, rsc-pattern, sets),
colocations (roles, sets) and orders (kinds, actions, symmetrical, sets). What vigil
cannot hold is recorded as a `Note`.

Internal to the CIB importer (`vigil.model.cib`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from vigil.model.cib.model_doc import CFG_PATH, ROLE_NAMES, ConfigDoc
from vigil.model.cib.xml_tree import Note, children, is_true, parse_score, path_of, score_text


def read_constraints(cfg: ET.Element, out: ConfigDoc) -> None:
    cons: dict[str, list[dict[str, Any]]] = {"location": [], "colocation": [], "order": []}
    base = f"{CFG_PATH}/constraints"
    for el in children(cfg.find("constraints")):
        path = path_of(base, el)
        if el.tag == "rsc_location":
            cons["location"].extend(_location(el, path, out))
        elif el.tag == "rsc_colocation":
            cons["colocation"].extend(_colocation(el, path, out))
        elif el.tag == "rsc_order":
            cons["order"].extend(_order(el, path, out))
        else:
            out.notes.append(Note(path, f"<{el.tag}>: vigil has no such constraint; left out"))
    kept = {k: v for k, v in cons.items() if v}
    if kept:
        out.doc["constraints"] = kept


def _known(rid: str | None, out: ConfigDoc) -> bool:
    return rid is not None and rid in out.ids


def _missing(path: str, rid: str | None, out: ConfigDoc) -> None:
    out.notes.append(Note(path, f"names {rid!r}, which was not imported; left out"))


def _role(el: ET.Element, attr: str, path: str, out: ConfigDoc) -> tuple[bool, str | None]:
    """(ok, role): a role attribute read as vigil's role names (None: any/Started)."""
    value = el.get(attr)
    if value is None:
        return True, None
    role = ROLE_NAMES.get(value.lower())
    if role is None:
        out.notes.append(Note(path, f"{attr}={value}: not a role; left out"))
        return False, None
    return True, None if role == "Started" else role


def _location(el: ET.Element, path: str, out: ConfigDoc) -> list[dict[str, Any]]:
    cid = el.get("id", "")
    if el.get("resource-discovery") not in (None, "always"):
        out.notes.append(Note(path, f"resource-discovery={el.get('resource-discovery')}: vigil "
                              "probes every node; the constraint is imported without it"))
    ok, role = _role(el, "role", path, out)
    if not ok:
        return []
    if any(True for _ in children(el, "resource_set")):
        rids = [r.get("id", "") for s in children(el, "resource_set")
                for r in children(s, "resource_ref")]
    elif el.get("rsc-pattern"):
        try:
            pattern = re.compile(el.get("rsc-pattern", ""))
        except re.error:
            out.notes.append(Note(path, "rsc-pattern is not a regular expression; left out"))
            return []
        rids = [r for r in (*out.resources, *out.containers) if pattern.search(r)]
        out.notes.append(Note(path, f"rsc-pattern expanded to the resources it matches now: "
                              f"{', '.join(rids) or 'none'} (resources added later are not "
                              "covered)"))
    else:
        rids = [el.get("rsc", "")]
    for rid in [r for r in rids if not _known(r, out)]:
        _missing(path, rid, out)
    for rid in [r for r in rids if r in out.primitive_parent]:
        out.notes.append(Note(path, f"names {rid!r}, the resource inside clone "
                              f"{out.primitive_parent[rid]!r}: Pacemaker ignores such a "
                              f"location (name the clone); left out"))
    rids = [r for r in rids if _known(r, out) and r not in out.primitive_parent]
    node, score = el.get("node"), parse_score(el.get("score"))
    base: dict[str, Any] = {}
    if role:
        base["role"] = role
    if node is not None:
        if node not in out.node_attributes:
            _missing(path, node, out)
            return []
        if score is None:
            out.notes.append(Note(path, f"score {el.get('score')!r} is not a score; left out"))
            return []
        base.update(node=node, score=score_text(score))
    else:
        rules = [r for r in (_rule(rule, path_of(path, rule), out)
                             for rule in children(el, "rule")) if r is not None]
        if not rules:
            out.notes.append(Note(path, "location without node+score or a usable rule: left out"))
            return []
        base["rules"] = rules
    result = []
    for rid in rids:
        lid = cid if len(rids) == 1 else f"{cid}-{rid}"
        result.append({"id": lid, "resource": rid, **base})
    return result


_OPS = ("lt", "gt", "lte", "gte", "eq", "ne", "defined", "not_defined")


def _rule(rule: ET.Element, path: str, out: ConfigDoc) -> dict[str, Any] | None:
    result: dict[str, Any] = {}
    if rule.get("score-attribute"):
        result["score_attribute"] = rule.get("score-attribute")
    elif rule.get("score") is not None:
        score = parse_score(rule.get("score"))
        if score is None:
            out.notes.append(Note(path, f"score {rule.get('score')!r}: not a score; left out"))
            return None
        result["score"] = score_text(score)
    if (rule.get("boolean-op") or "and") == "or":
        result["boolean_op"] = "or"
    exprs: list[dict[str, Any]] = []
    for e in children(rule):
        epath = path_of(path, e)
        if e.tag == "rule":
            inner = _rule(e, epath, out)
            if inner is None:
                return None
            inner.pop("score", None)
            inner.pop("score_attribute", None)
            exprs.append({"rule": inner})
        elif e.tag == "expression":
            op = e.get("operation", "")
            if op not in _OPS or e.get("value-source") not in (None, "literal"):
                out.notes.append(Note(epath, f"expression operation={op} value-source="
                                      f"{e.get('value-source')}: not supported; rule left out"))
                return None
            expr: dict[str, Any] = {"attribute": e.get("attribute", ""), "op": op}
            if e.get("value") is not None:
                expr["value"] = e.get("value")
            if e.get("type") in ("integer", "number", "version"):
                expr["type"] = e.get("type")
            elif e.get("type") == "string" or e.get("type") is None:
                pass
            exprs.append(expr)
        else:
            out.notes.append(Note(epath, f"<{e.tag}> (date/time, resource or operation "
                                  "expression): vigil's rules test node attributes; rule "
                                  "left out"))
            return None
    result["expressions"] = exprs
    return result


def _sets(el: ET.Element, path: str, out: ConfigDoc, with_action: bool) -> list[dict[str, Any]]:
    sets: list[dict[str, Any]] = []
    for rs in children(el, "resource_set"):
        spath = path_of(path, rs)
        rids = [r.get("id", "") for r in children(rs, "resource_ref")]
        for rid in rids:
            if not _known(rid, out):
                _missing(spath, rid, out)
                return []
        entry: dict[str, Any] = {"resources": rids}
        if rs.get("sequential") is not None:
            entry["sequential"] = is_true(rs.get("sequential"))
        if rs.get("require-all") is not None:
            entry["require_all"] = is_true(rs.get("require-all"))
        ok, role = _role(rs, "role", spath, out)
        if not ok:
            return []
        if role:
            entry["role"] = role
        if with_action and rs.get("action") in ("start", "stop", "promote", "demote"):
            entry["action"] = rs.get("action")
        sets.append(entry)
    return sets


def _colocation(el: ET.Element, path: str, out: ConfigDoc) -> list[dict[str, Any]]:
    cid = el.get("id", "")
    score = parse_score(el.get("score"))
    if el.get("node-attribute") not in (None, "#uname"):
        out.notes.append(Note(path, "node-attribute: vigil colocates on the same node only; "
                              "left out"))
        return []
    if score is None:
        out.notes.append(Note(path, "colocation without a score (score-attribute?): left out"))
        return []
    if any(True for _ in children(el, "resource_set")):
        sets = _sets(el, path, out, with_action=False)
        return [{"id": cid, "score": score_text(score), "sets": sets}] if sets else []
    rsc, with_rsc = el.get("rsc"), el.get("with-rsc")
    for rid in (rsc, with_rsc):
        if not _known(rid, out):
            _missing(path, rid, out)
            return []
    ok1, role = _role(el, "rsc-role", path, out)
    ok2, with_role = _role(el, "with-rsc-role", path, out)
    if not (ok1 and ok2):
        return []
    result: dict[str, Any] = {"id": cid, "resource": rsc, "with": with_rsc,
                              "score": score_text(score)}
    if role:
        result["role"] = role
    if with_role:
        result["with_role"] = with_role
    return [result]


def _order(el: ET.Element, path: str, out: ConfigDoc) -> list[dict[str, Any]]:
    cid = el.get("id", "")
    kind = el.get("kind")
    if kind is None:
        score = parse_score(el.get("score"))
        kind = "Optional" if score == 0 else "Mandatory"
    if kind not in ("Mandatory", "Optional", "Serialize"):
        out.notes.append(Note(path, f"kind={kind}: not an order kind; left out"))
        return []
    result: dict[str, Any] = {"id": cid}
    if any(True for _ in children(el, "resource_set")):
        sets = _sets(el, path, out, with_action=True)
        if not sets:
            return []
        result["sets"] = sets
    else:
        first, then = el.get("first"), el.get("then")
        for rid in (first, then):
            if not _known(rid, out):
                _missing(path, rid, out)
                return []
        result.update(first=first, then=then)
        for attr, key in (("first-action", "first_action"), ("then-action", "then_action")):
            action = el.get(attr)
            if action is None:
                continue
            if action not in ("start", "stop", "promote", "demote"):
                out.notes.append(Note(path, f"{attr}={action}: vigil orders start, stop, "
                                      "promote and demote; left out"))
                return []
            result[key] = action
    result["kind"] = kind
    if el.get("symmetrical") is not None:
        result["symmetrical"] = is_true(el.get("symmetrical"))
    return [result]

"""Every agent serves the same HTTP API; the CLI and scripts are its clients.

Errors are JSON `{"error": "..."}` with a message that says what to do.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from vigil.api.metrics import render_metrics
from vigil.api.status import status_document
from vigil.core import records as rec
from vigil.model.config import INFINITY, LocationConstraint
from vigil.model.load import ConfigInvalid, load_config_text
from vigil.model.state import RscState
from vigil.store.base import Compare, Delete, Put, StoreError

if TYPE_CHECKING:
    from vigil.runtime.agent import NodeAgent

AGENT: web.AppKey[NodeAgent] = web.AppKey("agent")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        resp: web.StreamResponse = await handler(request)
        return resp
    except ApiError as e:
        return web.json_response({"error": str(e)}, status=e.status)
    except StoreError as e:
        return web.json_response(
            {"error": f"the store is unavailable from node {request.app[AGENT].node}: {e}; "
             "try another node's API or check `vigil status` on a node with quorum"},
            status=503)


def _agent(request: web.Request) -> NodeAgent:
    return request.app[AGENT]


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError as e:
        raise ApiError(400, f"request body is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


async def _store_health(agent: NodeAgent) -> dict[str, Any]:
    try:
        async with asyncio.timeout(1.0):
            h = await agent.store.health()
        total = len(agent.store.endpoints)
        return {"reachable": list(h.reachable_endpoints),
                "unreachable": list(h.unreachable_endpoints), "leader": h.leader,
                "quorate": h.leader is not None and len(h.reachable_endpoints) * 2 > total,
                "members": list(h.members)}
    except (StoreError, TimeoutError) as e:
        return {"reachable": [], "unreachable": list(agent.store.endpoints), "leader": None,
                "quorate": False, "error": str(e) or "timeout"}


async def get_status(request: web.Request) -> web.Response:
    agent = _agent(request)
    snap, view = agent.snapshot, agent.view
    if snap is None or view is None or not agent.joined:
        # A node outside the cluster only has a stale view: let the client ask another.
        raise ApiError(503, f"node {agent.node} is not in the cluster right now (store "
                       f"{'reachable' if agent.store_ok else 'unreachable'}, no valid lease); "
                       "ask another node")
    doc = status_document(agent.config, snap, view, agent.node, await _store_health(agent))
    doc["local"] = {"node": agent.node, "joined": agent.joined, "is_dc": agent.is_dc,
                    "lease_remaining": round(agent.clock.remaining(time.monotonic()), 3),
                    "dc_reason": agent.last_decision.reason if agent.last_decision else None,
                    "quorate": agent.joined and agent.store_ok,
                    "heartbeats": _heartbeats(agent)}
    return web.json_response(doc)


def _heartbeats(agent: NodeAgent) -> dict[str, Any] | None:
    hb = agent.heartbeats
    if hb is None:
        return None
    view = hb.view()
    stats = hb.stats()
    return {"suspected": sorted(view.suspected), "alerts": [a.reason for a in view.alerts],
            "peers": {p.node: str(p.state) for p in view.peers},
            "sent": stats.sent, "received": stats.received,
            "rejected": dict(stats.rejected)}


async def get_events(request: web.Request) -> web.Response:
    agent = _agent(request)
    limit = int(request.query.get("limit", "50"))
    _, kvs = await agent.store.get_prefix(agent.keys.events)
    events = []
    for kv in kvs[-limit:]:
        try:
            e = rec.EventRecord.from_json(kv.value)
        except (ValueError, KeyError):
            continue
        events.append({"time": e.time, "node": e.node, "kind": e.kind, "message": e.message,
                       "resource": e.resource})
    return web.json_response({"events": events})


def _resource(agent: NodeAgent, rid: str) -> None:
    if all(r.id != rid for r in agent.config.resources):
        known = ", ".join(r.id for r in agent.config.resources) or "none"
        raise ApiError(404, f"no resource '{rid}' in the config (known: {known})")


def _explainable(agent: NodeAgent, rid: str) -> None:
    """Primitives, groups, clones and clone instances (`db:1`) can be explained."""
    cfg = agent.config
    ids = {r.id for r in cfg.resources}
    ids |= {g.id for g in getattr(cfg, "groups", ())}
    ids |= {c.id for c in getattr(cfg, "clones", ())}
    base, _, instance = rid.rpartition(":")
    if rid in ids or (base in ids and instance.isdigit()):
        return
    raise ApiError(404, f"no resource, group or clone '{rid}' in the config "
                        f"(known: {', '.join(sorted(ids)) or 'none'})")


def _node(agent: NodeAgent, node: str) -> None:
    if node not in agent.config.node_names:
        raise ApiError(404, f"no node '{node}' in the config (known: "
                       f"{', '.join(agent.config.node_names)})")


def _running_on(agent: NodeAgent, rid: str) -> list[str]:
    snap = agent.snapshot
    if snap is None:
        return []
    return [n for (n, r), st in snap.statuses.items()
            if r == rid and st.state is RscState.STARTED and n in snap.members]


async def resource_command(request: web.Request) -> web.Response:
    agent = _agent(request)
    rid, cmd = request.match_info["rid"], request.match_info["cmd"]
    _resource(agent, rid)
    body = await _body(request)
    node = body.get("node")
    if node:
        _node(agent, node)
    keys, store = agent.keys, agent.store
    msg: str
    if cmd in ("move", "ban"):
        if cmd == "move" and node:
            c = LocationConstraint(f"cli-prefer-{rid}", rid, node, INFINITY)
            msg = f"{rid} will move to {node} (constraint {c.id}; `vigil resource clear {rid}` " \
                  "removes it)"
        else:
            where = node or next(iter(_running_on(agent, rid)), None)
            if where is None:
                raise ApiError(409, f"{rid} is not running anywhere: name the node to ban it "
                               "from (--node)")
            c = LocationConstraint(f"cli-ban-{rid}-on-{where}", rid, where, -INFINITY)
            msg = f"{rid} is banned from {where} (constraint {c.id}; `vigil resource clear " \
                  f"{rid}` removes it)"
        await store.put(keys.runtime_constraint(c.id), rec.location_to_json(c))
    elif cmd == "clear":
        prefix = keys.runtime_constraint("")
        _, kvs = await store.get_prefix(prefix)
        gone = []
        for kv in kvs:
            c = rec.location_from_json(kv.value)
            if c.resource == rid and (not node or c.node == node):
                await store.delete(kv.key)
                gone.append(c.id)
        msg = f"removed {', '.join(gone)}" if gone else f"no move/ban constraints for {rid}"
    elif cmd == "cleanup":
        cleared = [node] if node else list(agent.config.node_names)
        # One transaction: a cleanup is applied whole or not at all.
        await store.txn([], [*(Delete(keys.failure(n, rid)) for n in cleared),
                             Put(keys.root + f"runtime/reprobe/{rid}",
                                 rec.dumps({"at": time.time()}))])
        msg = f"cleared failures of {rid} on {', '.join(cleared)}; nodes re-probe it"
    elif cmd == "restart":
        msg = await _restart(agent, rid)
    else:
        raise ApiError(404, f"unknown resource command '{cmd}' (move, ban, clear, cleanup, "
                       "restart)")
    await agent.writer.event("command", msg, rid)
    return web.json_response({"ok": True, "message": msg})


async def _restart(agent: NodeAgent, rid: str) -> str:
    """Like crm_resource --restart: target-role Stopped, wait, then back."""
    where = _running_on(agent, rid)
    if not where:
        raise ApiError(409, f"{rid} is not running; nothing to restart (`vigil status`)")
    key = agent.keys.runtime_role(rid)
    rsc = agent.config.resource(rid)
    # On our lease: if this agent dies mid-restart, the override vanishes with it and
    # the resource starts again instead of staying stopped for no visible reason.
    await agent.store.put(key, rec.dumps({"target_role": "Stopped"}),
                          lease=agent.writer.lease_id)
    try:
        deadline = time.monotonic() + rsc.ops.stop_timeout + 10
        while _running_on(agent, rid):
            if time.monotonic() > deadline:
                raise ApiError(504, f"{rid} did not stop within {rsc.ops.stop_timeout:g}s; "
                               "see `vigil events`")
            await asyncio.sleep(0.05)
    finally:
        await agent.store.delete(key)
    return f"restarted {rid} (was on {', '.join(where)})"


async def node_command(request: web.Request) -> web.Response:
    agent = _agent(request)
    node, cmd = request.match_info["node"], request.match_info["cmd"]
    _node(agent, node)
    if cmd not in ("standby", "unstandby"):
        raise ApiError(404, f"unknown node command '{cmd}' (standby, unstandby)")
    key = agent.keys.runtime_node(node)
    for _ in range(5):  # compare-and-set: never lose a concurrent shutting_down flag
        kv = await agent.store.get(key)
        attrs = rec.NodeAttrs.from_json(kv.value) if kv else rec.NodeAttrs()
        new = rec.NodeAttrs(cmd == "standby", attrs.shutting_down).to_json()
        guard = [Compare(key, "mod", "=", kv.mod_revision)] if kv else \
            [Compare(key, "create", "=", 0)]
        if (await agent.store.txn(guard, [Put(key, new)])).succeeded:
            break
    else:
        raise ApiError(409, f"{node}'s attributes keep changing; run the command again")
    msg = (f"{node} is in standby: its resources move away" if cmd == "standby"
           else f"{node} can host resources again")
    await agent.writer.event("command", msg)
    return web.json_response({"ok": True, "message": msg})


_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")


async def get_node_attributes(request: web.Request) -> web.Response:
    """Every attribute of a node (`vigil node attribute NODE`)."""
    agent = _agent(request)
    node = request.match_info["node"]
    _node(agent, node)
    snap = agent.snapshot
    stored = snap.attributes.get(node, {}) if snap is not None else {}
    permanent = agent.config.node(node).attributes
    out = {name: {"value": value, "lifetime": "config"} for name, value in permanent.items()}
    out.update({name: {"value": a.value, "lifetime": a.lifetime} for name, a in stored.items()})
    return web.json_response({"node": node, "attributes": dict(sorted(out.items()))})


async def put_node_attribute(request: web.Request) -> web.Response:
    """Set (PUT, body {"value": ..., "lifetime": "forever"|"reboot"}) or delete (DELETE)
    a node attribute that location rules can test."""
    agent = _agent(request)
    node, name = request.match_info["node"], request.match_info["name"]
    _node(agent, node)
    if not _ATTRIBUTE_NAME.fullmatch(name) or name.startswith("#"):
        raise ApiError(400, f"{name!r} is not a valid attribute name: use letters, digits, "
                       "'_', '.', ':', '-' (names starting with # are built in)")
    key = f"{agent.keys.root}runtime/attributes/{node}/{name}"
    if request.method == "DELETE":
        await agent.store.delete(key)
        msg = f"attribute {name} of {node} deleted"
    else:
        body = await _body(request)
        value, lifetime = body.get("value"), body.get("lifetime", "forever")
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ApiError(400, 'give the value as text, e.g. {"value": "ssd"}')
        if lifetime not in ("forever", "reboot"):
            raise ApiError(400, "lifetime is forever (default) or reboot")
        await agent.store.put(key, rec.AttributeRecord(str(value), lifetime).to_json())
        msg = f"attribute {name}={value} set on {node}"
    await agent.writer.event("command", msg)
    return web.json_response({"ok": True, "message": msg})


async def get_explain(request: web.Request) -> web.Response:
    from vigil.api.explain import explain

    agent = _agent(request)
    rid = request.match_info["rid"]
    _explainable(agent, rid)
    if agent.snapshot is None or agent.view is None:
        raise ApiError(503, f"node {agent.node} has no view of the cluster yet; ask another")
    return web.json_response(explain(agent.config, agent.snapshot, agent.view, rid,
                                     time.time()))


async def get_state(request: web.Request) -> web.Response:
    """The scheduler's input as the DC would build it now: what `vigil simulate` starts from."""
    from vigil.core.coordinator import cluster_state
    from vigil.model.cib.state_file import state_to_doc

    agent = _agent(request)
    if agent.snapshot is None or agent.view is None:
        raise ApiError(503, f"node {agent.node} has no view of the cluster yet; ask another")
    state = cluster_state(agent.config, agent.snapshot, agent.view.nodes, time.time())
    return web.json_response(state_to_doc(state))


async def fence_command(request: web.Request) -> web.Response:
    """`vigil fence NODE`: an operator's fencing, run by the node answering (like
    stonith_admin); recorded like the DC's, so a confirmed one lets resources recover."""
    from vigil.fencing.runner import fence_node

    agent = _agent(request)
    node = request.match_info["node"]
    _node(agent, node)
    body = await _body(request)
    cfg = agent.config
    action = body.get("action") or cfg.fencing.action
    if action not in ("reboot", "off"):
        raise ApiError(400, f"action '{action}': use reboot or off")
    if not cfg.fencing.topology(node):
        raise ApiError(409, f"no fence device can fence {node}: add one under fencing.devices "
                       "(see `vigil fence verify`)")
    key = agent.keys.fencing(node)
    kv = await agent.store.get(key)
    if kv is not None and rec.FenceRecord.from_json(kv.value).state == "running":
        raise ApiError(409, f"{node} is being fenced already; see `vigil fence history`")
    running = rec.FenceRecord(node, "running", action, "requested by an operator (vigil fence)",
                              agent.node, time.time())
    guard = [Compare(key, "mod", "=", kv.mod_revision)] if kv else \
        [Compare(key, "create", "=", 0)]
    claimed = await agent.store.txn(guard, [Put(key, running.to_json())])
    if not claimed.succeeded:
        raise ApiError(409, f"{node}'s fencing changed meanwhile; run the command again")
    await agent.writer.event("fencing", f"fencing {node} ({action}): requested by an operator")
    outcome = await fence_node(cfg.fencing, node, action)
    await agent.fencing.record(running, claimed.revision, outcome, agent.snapshot)
    return web.json_response({"ok": outcome.ok, "message": outcome.reason},
                             status=200 if outcome.ok else 502)


async def fence_history(request: web.Request) -> web.Response:
    agent = _agent(request)
    _, kvs = await agent.store.get_prefix(agent.keys.fencing_history)
    out = []
    for kv in kvs[-int(request.query.get("limit", "50")):]:
        r = rec.FenceRecord.from_json(kv.value)
        out.append({"node": r.node, "state": r.state, "action": r.action, "reason": r.reason,
                    "requested_by": r.requested_by, "requested_at": r.requested_at,
                    "finished_at": r.finished_at, "outcome": r.outcome})
    return web.json_response({"history": out})


async def fence_verify(request: web.Request) -> web.Response:
    from vigil.fencing.runner import verify

    agent = _agent(request)
    report = await verify(agent.config.fencing, agent.config.node_names)
    return web.json_response(report.to_dict())


async def get_config(request: web.Request) -> web.Response:
    agent = _agent(request)
    kv = await agent.store.get(agent.keys.config)
    if kv is None:
        raise ApiError(404, "no config stored yet; `vigil config apply FILE` stores one")
    r = rec.ConfigRecord.from_json(kv.value)
    return web.json_response({"version": r.version, "source": r.source, "filename": r.filename,
                              "applied_at": r.applied_at, "applied_by": r.applied_by})


async def put_config(request: web.Request) -> web.Response:
    agent = _agent(request)
    body = await _body(request)
    source, filename = body.get("source"), body.get("filename", "<api>")
    if not isinstance(source, str):
        raise ApiError(400, "body must hold the config text in 'source'")
    try:
        cfg = load_config_text(source, filename)
    except ConfigInvalid as e:
        return web.json_response({"error": "config invalid; nothing was applied",
                                  "problems": [str(p) for p in e.problems]}, status=422)
    if cfg.name != agent.config.name:
        raise ApiError(422, f"{filename}: cluster name '{cfg.name}' differs from the running "
                       f"cluster '{agent.config.name}'; nothing was applied")
    snap = agent.snapshot
    if snap is not None:
        from vigil.core.membership import possibly_active
        busy = [n for n in agent.config.node_names if n not in cfg.node_names
                and (n in snap.members or possibly_active(snap, n))]
        if busy:
            raise ApiError(409, f"{filename}: removes node(s) {', '.join(busy)} which still "
                           "run or hold a lease; put them in standby, wait until they run "
                           "nothing, stop their agents, then apply again; nothing was applied")
    kv = await agent.store.get(agent.keys.config)
    old = rec.ConfigRecord.from_json(kv.value) if kv else None
    if old is not None and old.source == source:
        return web.json_response({"ok": True, "version": old.version, "changed": False,
                                  "message": f"config unchanged (version {old.version})"})
    version = (old.version if old else 0) + 1
    new = rec.ConfigRecord(version, source, filename, time.time(), body.get("by", agent.node))
    guard = [Compare(agent.keys.config, "mod", "=", kv.mod_revision)] if kv else \
        [Compare(agent.keys.config, "create", "=", 0)]
    res = await agent.store.txn(guard, [Put(agent.keys.config, new.to_json())])
    if not res.succeeded:
        raise ApiError(409, "the config changed while applying; run the command again")
    await agent.writer.event("config", f"config version {version} applied from {filename}")
    return web.json_response({"ok": True, "version": version, "changed": True,
                              "message": f"config version {version} applied"})


async def get_metrics(request: web.Request) -> web.Response:
    body, ctype = render_metrics(_agent(request))
    return web.Response(body=body, headers={"Content-Type": ctype})


async def healthz(request: web.Request) -> web.Response:
    agent = _agent(request)
    return web.json_response({"node": agent.node, "joined": agent.joined,
                              "store": agent.store_ok}, status=200 if agent.joined else 503)


def make_app(agent: NodeAgent) -> web.Application:
    app = web.Application(middlewares=[errors])
    app[AGENT] = agent
    app.router.add_get("/v1/status", get_status)
    app.router.add_get("/v1/events", get_events)
    app.router.add_post("/v1/resources/{rid}/{cmd}", resource_command)
    app.router.add_post("/v1/nodes/{node}/{cmd}", node_command)
    app.router.add_get("/v1/nodes/{node}/attributes", get_node_attributes)
    app.router.add_put("/v1/nodes/{node}/attributes/{name}", put_node_attribute)
    app.router.add_delete("/v1/nodes/{node}/attributes/{name}", put_node_attribute)
    app.router.add_get("/v1/explain/{rid}", get_explain)
    app.router.add_get("/v1/state", get_state)
    app.router.add_get("/v1/fence/history", fence_history)
    app.router.add_post("/v1/fence/verify", fence_verify)
    app.router.add_post("/v1/fence/{node}", fence_command)
    app.router.add_get("/v1/config", get_config)
    app.router.add_put("/v1/config", put_config)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/healthz", healthz)
    return app


async def start_api(agent: NodeAgent) -> web.AppRunner:
    runner = web.AppRunner(make_app(agent), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, agent.me.address, agent.me.api_port, reuse_address=True)
    await site.start()
    return runner


async def stop_api(runner: object) -> None:
    assert isinstance(runner, web.AppRunner)
    await runner.cleanup()


__all__ = ["make_app", "start_api", "stop_api"]

"""Pacemaker's own promotable and attribute-setting agents, run unmodified by vigil.

ocf:pacemaker:Stateful sets its promotion score with `crm_attribute --promotion`, and
ocf:pacemaker:ping publishes connectivity with `attrd_updater`: both must find vigil's
shims (HA_SBIN_DIR, PATH) and leave the values where the executor publishes them from.
Needs Debian's pacemaker-resource-agents (the agents) and nothing of Pacemaker running.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from vigil.agents.attrd_shim import read_entries
from vigil.agents.base import NodeContext, OcfRc
from vigil.agents.clone_env import clone_meta, resolve_resource
from vigil.agents.ocf import OcfAgent, attribute_file
from vigil.model.config import Clone, ClusterConfig, NodeConfig, Operations, Resource

pytestmark = pytest.mark.integration

PACEMAKER = Path("/usr/lib/ocf/resource.d/pacemaker")
needs_pacemaker_agents = pytest.mark.skipif(
    not (PACEMAKER / "Stateful").exists() or not (PACEMAKER / "ping").exists(),
    reason="pacemaker-resource-agents is not installed",
)
OPS = Operations(start_timeout=20, stop_timeout=20, monitor_interval=10, monitor_timeout=20)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="vigil-promotable-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def promotable_config() -> ClusterConfig:
    db = Resource("db", "ocf:pacemaker:Stateful", {}, OPS)
    return ClusterConfig("t", (NodeConfig("n1", "198.18.0.1"), NodeConfig("n2", "198.18.0.2")),
                         resources=(db,), clones=(Clone("db-clone", "db", promotable=True),))


def attrs(ctx: NodeContext) -> dict[str, str | None]:
    return {k: v["value"] for k, v in read_entries(attribute_file(ctx)).get(ctx.node, {}).items()}


@needs_pacemaker_agents
def test_stateful_runs_unmodified_and_sets_its_promotion_score(workdir: Path) -> None:
    config = promotable_config()
    ctx = NodeContext("n1", workdir / "n1")
    agent = OcfAgent(config.resources[0], ctx, meta=clone_meta(config, "db"))

    async def run(op: str, interval: float = 0.0) -> int:
        return (await agent.run(op, 20, interval)).rc

    async def scenario() -> None:
        assert await run("monitor") == OcfRc.NOT_RUNNING
        assert await run("start") == OcfRc.SUCCESS
        assert attrs(ctx) == {"master-db": "5"}
        assert await run("monitor", 10) == OcfRc.SUCCESS
        assert await run("promote") == OcfRc.SUCCESS
        assert attrs(ctx) == {"master-db": "10"}
        assert await run("monitor", 11) == OcfRc.RUNNING_PROMOTED
        assert await run("demote") == OcfRc.SUCCESS
        assert attrs(ctx) == {"master-db": "5"}
        assert await run("stop") == OcfRc.SUCCESS
        assert attrs(ctx) == {"master-db": None}  # deleted: the executor removes the key
        assert await run("monitor") == OcfRc.NOT_RUNNING

    asyncio.run(scenario())


@needs_pacemaker_agents
def test_unique_clone_instances_are_separate_resources(workdir: Path) -> None:
    config = replace(promotable_config(), clones=(
        Clone("db-clone", "db", promotable=True, unique=True, clone_max=2),))
    ctx = NodeContext("n1", workdir / "n1")
    instances = [resolve_resource(config, f"db:{i}") for i in (0, 1)]
    assert [r.id for r in instances if r is not None] == ["db:0", "db:1"]
    assert resolve_resource(config, "db:2") is not None  # an orphan can still be stopped
    assert resolve_resource(config, "nope:0") is None
    agents = [OcfAgent(r, ctx, meta=clone_meta(config, r.id)) for r in instances if r]
    assert agents[1].meta["clone"] == "1" and agents[1].meta["globally_unique"] == "true"

    async def scenario() -> None:
        assert (await agents[0].run("start", 20)).rc == OcfRc.SUCCESS
        assert (await agents[1].run("start", 20)).rc == OcfRc.SUCCESS
        assert (await agents[1].run("promote", 20)).rc == OcfRc.SUCCESS
        assert (await agents[0].run("monitor", 20, 10)).rc == OcfRc.SUCCESS
        assert (await agents[1].run("monitor", 20, 11)).rc == OcfRc.RUNNING_PROMOTED
        assert attrs(ctx) == {"master-db:0": "5", "master-db:1": "10"}
        for a in agents:
            await a.run("demote", 20)
            assert (await a.run("stop", 20)).rc == OcfRc.SUCCESS

    asyncio.run(scenario())


@needs_pacemaker_agents
def test_ping_publishes_connectivity_with_attrd_updater(workdir: Path) -> None:
    if shutil.which("ping") is None and shutil.which("fping") is None:
        pytest.skip("no ping or fping binary")
    ctx = NodeContext("n1", workdir / "n1")
    rsc = Resource("ping", "ocf:pacemaker:ping",
                   {"host_list": "127.0.0.1", "multiplier": "100", "dampen": "0"}, OPS)
    agent = OcfAgent(rsc, ctx)

    async def scenario() -> None:
        assert (await agent.run("start", 20)).rc == OcfRc.SUCCESS
        assert (await agent.run("monitor", 20, 10)).rc == OcfRc.SUCCESS
        assert attrs(ctx).get("pingd") == "100"
        assert (await agent.run("stop", 20)).rc == OcfRc.SUCCESS
        assert attrs(ctx).get("pingd") is None

    asyncio.run(scenario())

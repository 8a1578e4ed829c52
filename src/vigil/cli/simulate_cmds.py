"""`vigil simulate`: what the scheduler would do, in crm_simulate's format, with what-ifs.

Sources (one of):
  --cib FILE                 a Pacemaker CIB (configuration + status sections)
  --config FILE --state FILE a vigil config and a saved state (`vigil import cib --state`)
  (neither)                  the live cluster, through an agent's API
What-ifs change the state (or config) before scheduling: --node-down, --node-up,
--node-fail, --standby, --online, --op-fail RSC_OP_INTERVAL@NODE=RC, --new-config FILE.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import click

from vigil.cli.client import ApiFailed, ApiUnreachable, Client, api_urls
from vigil.model.cib import CibError, import_cib_file
from vigil.model.cib.state_file import state_from_doc
from vigil.model.config import ClusterConfig
from vigil.model.load import ConfigInvalid, load_config_file, load_config_text
from vigil.model.state import (
    ClusterState,
    FailCount,
    Membership,
    NodeState,
    ResourceStatus,
    RscState,
)
from vigil.scheduler import schedule
from vigil.scheduler.summary import apply_transition, status_lines, summarize


def _fail(message: str) -> NoReturn:
    click.echo(f"vigil: {message}", err=True)
    sys.exit(1)


@click.command("simulate")
@click.option("--cib", "cib_file", type=click.Path(exists=True, dir_okay=False),
              help="Schedule from a Pacemaker CIB (XML) instead of a vigil cluster.")
@click.option("--state", "state_file", type=click.Path(exists=True, dir_okay=False),
              help="A saved state (JSON, `vigil import cib --state`); needs a config file "
                   "(vigil --config FILE simulate --state FILE).")
@click.option("--new-config", type=click.Path(exists=True, dir_okay=False),
              help="What if this config were applied?")
@click.option("--node-down", multiple=True, metavar="NODE", help="What if NODE left cleanly?")
@click.option("--node-fail", multiple=True, metavar="NODE",
              help="What if NODE were lost (unclean until fenced)?")
@click.option("--node-up", multiple=True, metavar="NODE", help="What if NODE came online?")
@click.option("--standby", multiple=True, metavar="NODE", help="What if NODE were in standby?")
@click.option("--online", "unstandby", multiple=True, metavar="NODE",
              help="What if NODE left standby?")
@click.option("--op-fail", multiple=True, metavar="RSC_OP_INTERVAL@NODE=RC",
              help="What if this operation failed, e.g. web_monitor_10000@n1=7 "
                   "(crm_simulate's --op-inject syntax)?")
@click.option("--summary-only", is_flag=True,
              help="Print only the Transition Summary (the default with --cib).")
@click.option("--full", is_flag=True, help="With --cib: also print the cluster status.")
@click.pass_context
def simulate(ctx: click.Context, cib_file: str | None, state_file: str | None,
             new_config: str | None, node_down: tuple[str, ...], node_fail: tuple[str, ...],
             node_up: tuple[str, ...], standby: tuple[str, ...], unstandby: tuple[str, ...],
             op_fail: tuple[str, ...], summary_only: bool, full: bool) -> None:
    """Show what the scheduler would do now, or after what-if changes.

    Prints the current cluster status, the transition summary and the resulting status,
    in the format of Pacemaker's crm_simulate, so the two compare line by line.
    """
    config, state = _source(ctx, cib_file, state_file)
    if new_config:
        try:
            config = load_config_file(new_config)
        except ConfigInvalid as e:
            _fail("\n".join(str(p) for p in e.problems))
    try:
        state = what_if(config, state, node_down=node_down, node_fail=node_fail,
                        node_up=node_up, standby=standby, unstandby=unstandby,
                        op_fail=op_fail)
    except ValueError as e:
        _fail(str(e))
    transition = schedule(config, state)
    only_summary = summary_only or (cib_file is not None and not full)
    if not only_summary:
        click.echo("Current cluster status:")
        click.echo("\n".join(status_lines(config, state)))
        click.echo("")
    click.echo("Transition Summary:")
    for line in summarize(config, state, transition):
        click.echo(line)
    if not only_summary:
        click.echo("")
        click.echo("Revised Cluster Status:")
        click.echo("\n".join(status_lines(config, apply_transition(state, transition, config))))


def _source(ctx: click.Context, cib_file: str | None,
            state_file: str | None) -> tuple[ClusterConfig, ClusterState]:
    obj = ctx.obj or {}
    if cib_file:
        try:
            imported = import_cib_file(cib_file, now=time.time())
        except (CibError, ConfigInvalid) as e:
            _fail(str(e))
        # Node addresses do not matter to a simulation; anything else might.
        notes = [n for n in imported.notes if "node addresses" not in n.why]
        for note in notes:
            click.echo(f"note: not imported: {note}", err=True)
        return imported.config, imported.state
    if state_file:
        path = obj.get("config")
        if not isinstance(path, str) or not path:
            _fail("--state needs the config it belongs to: vigil --config FILE simulate "
                  "--state FILE")
        try:
            config = load_config_file(path)
            doc = json.loads(Path(state_file).read_text())
            return config, state_from_doc(doc, state_file)
        except ConfigInvalid as e:
            _fail("\n".join(str(p) for p in e.problems))
        except (OSError, ValueError) as e:
            _fail(str(e))
    return _live(obj)


def _live(obj: dict[str, Any]) -> tuple[ClusterConfig, ClusterState]:
    try:
        client = Client(api_urls(obj.get("api"), obj.get("config")))
        source = client.call("GET", "/v1/config?source=1")
        state_doc = client.call("GET", "/v1/state")
    except ApiUnreachable as e:
        _fail(str(e))
    except ApiFailed as e:
        _fail(f"{e}; this agent may predate `GET /v1/state` (needed by vigil simulate): save "
              "a state with `vigil import cib --state` or upgrade the agents")
    text = source.get("source")
    if not isinstance(text, str):
        _fail("the agent's GET /v1/config did not return the config text ('source')")
    try:
        config = load_config_text(text, str(source.get("filename") or "<cluster config>"))
    except ConfigInvalid as e:
        _fail("\n".join(str(p) for p in e.problems))
    return config, state_from_doc(state_doc, "GET /v1/state")


def what_if(config: ClusterConfig, state: ClusterState, *, node_down: tuple[str, ...] = (),
            node_fail: tuple[str, ...] = (), node_up: tuple[str, ...] = (),
            standby: tuple[str, ...] = (), unstandby: tuple[str, ...] = (),
            op_fail: tuple[str, ...] = ()) -> ClusterState:
    """The state after the given what-if events (pure; ValueError names a bad argument)."""
    nodes = dict(state.nodes)
    known = set(config.all_node_names)

    def node(name: str) -> NodeState:
        if name not in known:
            raise ValueError(f"no node named {name!r}; nodes: {', '.join(config.node_names)}")
        return nodes.get(name) or NodeState(name, Membership.OFFLINE)

    for name in node_down:
        nodes[name] = replace(node(name), membership=Membership.OFFLINE)
    for name in node_fail:
        nodes[name] = replace(node(name), membership=Membership.UNCLEAN)
    for name in node_up:
        nodes[name] = replace(node(name), membership=Membership.ONLINE)
    for name in standby:
        nodes[name] = replace(node(name), standby=True)
    for name in unstandby:
        nodes[name] = replace(node(name), standby=False)
    resources = dict(state.resources)
    # A clean node-down means its resources are stopped, as crm_simulate assumes.
    for name in node_down:
        for key in [k for k in resources if k[0] == name]:
            resources[key] = replace(resources[key], state=RscState.STOPPED)
    failures = dict(state.failures)
    for spec in op_fail:
        rid, task, interval, where, rc = _op_spec(spec)
        node(where)
        if rid not in {r.id for r in config.resources}:
            raise ValueError(f"--op-fail {spec}: no resource named {rid!r}")
        failed = RscState.STOP_FAILED if task == "stop" else RscState.FAILED
        resources[(where, rid)] = ResourceStatus(where, rid, failed, task, rc, state.now)
        old = failures.get((where, rid))
        count = (old.count if old else 0) + 1
        failures[(where, rid)] = FailCount(where, rid, count, state.now, f"{task}_{interval}",
                                           rc, "simulated failure")
    return replace(state, nodes=nodes, resources=resources, failures=failures)


def _op_spec(spec: str) -> tuple[str, str, int, str, int]:
    """rsc_task_interval@node=rc, e.g. web_monitor_10000@n1=7."""
    hint = "expected RSC_OP_INTERVALMS@NODE=RC, e.g. web_monitor_10000@n1=7"
    head, _, rc_text = spec.rpartition("=")
    key, _, where = head.rpartition("@")
    parts = key.rsplit("_", 2)
    if not rc_text or not where or len(parts) != 3:
        raise ValueError(f"--op-fail {spec}: {hint}")
    rid, task, interval = parts
    try:
        return rid, task, int(interval), where, int(rc_text)
    except ValueError:
        raise ValueError(f"--op-fail {spec}: {hint}") from None


COMMANDS: list[click.Command] = [simulate]

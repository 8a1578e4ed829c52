"""`vigil`: the command line. Cluster commands talk to any agent's HTTP API."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from vigil import __version__
from vigil.cli.client import ApiFailed, ApiUnreachable, Client, api_urls
from vigil.cli.render import (
    render_events,
    render_fence_history,
    render_fence_verify,
    render_status,
)
from vigil.model.load import ConfigInvalid, load_config_file


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"vigil: {message}", err=True)
    sys.exit(code)


def client(ctx: click.Context) -> Client:
    try:
        return Client(api_urls(ctx.obj["api"], ctx.obj["config"]))
    except ApiUnreachable as e:
        fail(str(e))


def call(ctx: click.Context, method: str, path: str, body: dict[str, Any] | None = None,
         timeout: float | None = None) -> dict[str, Any]:
    try:
        return client(ctx).call(method, path, body, timeout)
    except ApiUnreachable as e:
        fail(str(e), 3)
    except ApiFailed as e:
        problems = e.doc.get("problems")
        if problems:
            fail(str(e) + ":\n" + "\n".join(f"  {p}" for p in problems))
        fail(str(e))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api", envvar="VIGIL_API", help="An agent's API URL (comma-separated: several).")
@click.option("--config", "-c", "config", envvar="VIGIL_CONFIG",
              help="Cluster config, to find the agents' APIs (default /etc/vigil/vigil.yaml).")
@click.version_option(__version__, prog_name="vigil")
@click.pass_context
def main(ctx: click.Context, api: str | None, config: str | None) -> None:
    """vigil keeps services running on a group of Linux machines."""
    ctx.ensure_object(dict)
    ctx.obj.update(api=api, config=config)


@main.command()
@click.option("--config", "-c", "config_file", required=True, type=click.Path(dir_okay=False),
              help="The cluster config file.")
@click.option("--node", required=True, envvar="VIGIL_NODE",
              help="This node's name in the config (env VIGIL_NODE).")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="Where this node keeps etcd data and resource state "
                   "(default /var/lib/vigil/<node>).")
@click.option("--store-endpoint", "store_endpoints", multiple=True, metavar="URL",
              help="Reach the store through these etcd client URLs instead of the config's "
                   "(e.g. a local proxy); repeatable.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def agent(config_file: str, node: str, state_dir: str | None,
          store_endpoints: tuple[str, ...], log_level: str) -> None:
    """Run this node's agent (foreground; stop with SIGTERM = planned failover)."""
    from vigil.runtime.agent import NodeAgent
    logging.basicConfig(level=log_level.upper(),
                        format=f"%(asctime)s {node} %(name)s %(levelname)s: %(message)s")
    try:
        cfg = load_config_file(config_file)
    except ConfigInvalid as e:
        fail(f"the config is invalid, the agent did not start:\n{e}", 2)
    if node not in cfg.all_node_names:
        fail(f"{config_file}: no node '{node}' (nodes: {', '.join(cfg.node_names)}); "
             "pass one of them with --node", 2)
    if node not in cfg.node_names:
        fail(f"{config_file}: {node} is a witness: run `vigil witness --node {node}` there", 2)
    source = Path(config_file).read_text()
    sdir = Path(state_dir) if state_dir else Path("/var/lib/vigil") / node
    sys.exit(asyncio.run(
        NodeAgent(cfg, source, config_file, node, sdir, list(store_endpoints) or None).run()))


@main.command()
@click.option("--config", "-c", "config_file", required=True, type=click.Path(dir_okay=False))
@click.option("--node", required=True, envvar="VIGIL_NODE",
              help="The witness's name in the config (a node with role: witness).")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="etcd data (default /var/lib/vigil/<node>).")
def witness(config_file: str, node: str, state_dir: str | None) -> None:
    """Run only an etcd member: the quorum vote a two-node cluster needs."""
    from vigil.runtime.witness import run_witness
    logging.basicConfig(level="INFO",
                        format=f"%(asctime)s {node} %(name)s %(levelname)s: %(message)s")
    try:
        cfg = load_config_file(config_file)
    except ConfigInvalid as e:
        fail(f"the config is invalid, the witness did not start:\n{e}", 2)
    if node not in cfg.all_node_names or cfg.node(node).role != "witness":
        witnesses = [n.name for n in cfg.nodes if n.role == "witness"] or ["none"]
        fail(f"{config_file}: '{node}' is not a witness node (witnesses: "
             f"{', '.join(witnesses)}); mark it with `role: witness`", 2)
    sdir = Path(state_dir) if state_dir else Path("/var/lib/vigil") / node
    sys.exit(asyncio.run(run_witness(cfg, node, sdir)))


@main.group()
def config() -> None:
    """Validate, apply and show the cluster config."""


@config.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
def config_validate(file: str) -> None:
    """Report every problem in FILE with its line, or say it is valid."""
    try:
        cfg = load_config_file(file)
    except ConfigInvalid as e:
        click.echo(str(e), err=True)
        n = len(e.problems)
        fail(f"{file}: {n} problem{'s' if n != 1 else ''}; nothing was applied", 2)
    click.echo(f"{file}: valid ({len(cfg.nodes)} nodes, {len(cfg.resources)} resources, "
               f"{len(cfg.locations) + len(cfg.colocations) + len(cfg.orders)} constraints)")


@config.command("apply")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def config_apply(ctx: click.Context, file: str) -> None:
    """Validate FILE, then store it whole as the new config version."""
    try:
        load_config_file(file)
    except ConfigInvalid as e:
        click.echo(str(e), err=True)
        fail(f"{file}: invalid; nothing was applied", 2)
    doc = call(ctx, "PUT", "/v1/config", {"source": Path(file).read_text(), "filename": file})
    click.echo(doc["message"])


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the stored config."""
    doc = call(ctx, "GET", "/v1/config")
    click.echo(f"# version {doc['version']}, applied from {doc['filename']} by {doc['applied_by']}")
    click.echo(doc["source"], nl=False)


@main.command()
@click.option("--cluster", required=True, help="Cluster name.")
@click.option("--node", "nodes", multiple=True, required=True, metavar="NAME=ADDRESS",
              help="A node and its address; repeat for every node.")
@click.option("--store", type=click.Choice(["embedded", "external"]), default="embedded",
              show_default=True)
@click.option("--endpoint", "endpoints", multiple=True, help="etcd URL (with --store external).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write here instead of standard output.")
@click.option("--key-file", default=None, type=click.Path(dir_okay=False),
              help="Also generate the cluster key (heartbeat HMAC) here, mode 0600; copy it "
                   "to every node.")
def init(cluster: str, nodes: tuple[str, ...], store: str, endpoints: tuple[str, ...],
         output: str | None, key_file: str | None) -> None:
    """Write a starting config for a set of machines (and the cluster key)."""
    from vigil.model.template import init_config
    pairs = []
    for spec in nodes:
        name, sep, addr = spec.partition("=")
        if not sep or not name or not addr:
            fail(f"--node {spec!r}: expected NAME=ADDRESS, e.g. --node db1=10.0.0.11")
        pairs.append((name, addr))
    key_path = str(Path(key_file).resolve()) if key_file else ""
    try:
        text = init_config(cluster, pairs, store, list(endpoints) or None, key_path)
    except ConfigInvalid as e:
        fail(str(e), 2)
    if key_file:
        from vigil.core.heartbeat_packet import write_key
        try:
            write_key(Path(key_file))
        except (OSError, ValueError) as e:
            fail(f"{key_file}: {e}")
        click.echo(f"wrote the cluster key to {key_file} (mode 0600); copy it to every node",
                   err=True)
    if output:
        Path(output).write_text(text)
        click.echo(f"wrote {output}; check it with `vigil config validate {output}`")
    else:
        click.echo(text, nl=False)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Store and quorum health, DC, nodes and every resource."""
    doc = call(ctx, "GET", "/v1/status")
    click.echo(json.dumps(doc, indent=2) if as_json else render_status(doc))


@main.command()
@click.option("--limit", default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def events(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Recent decisions and what happened, each with its reason."""
    doc = call(ctx, "GET", f"/v1/events?limit={limit}")
    click.echo(json.dumps(doc, indent=2) if as_json else render_events(doc["events"]))


@main.command()
@click.argument("rid")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def explain(ctx: click.Context, rid: str, as_json: bool) -> None:
    """Why RID runs where it does: every node's score and where each part came from."""
    from vigil.api.explain import render_explain
    doc = call(ctx, "GET", f"/v1/explain/{rid}")
    click.echo(json.dumps(doc, indent=2) if as_json else render_explain(doc))


@main.group()
def resource() -> None:
    """Move, ban, clear, restart or clean up a resource."""


def _resource_cmd(name: str, help_text: str, with_node: bool = True) -> None:
    @click.argument("rid")
    @click.pass_context
    def cmd(ctx: click.Context, rid: str, node: str | None = None) -> None:
        body = {"node": node} if node else {}
        timeout = 120.0 if name == "restart" else None
        click.echo(call(ctx, "POST", f"/v1/resources/{rid}/{name}", body, timeout)["message"])

    cmd.__doc__ = help_text
    if with_node:
        cmd = click.option("--node", default=None, help="The node (see the command's help).")(cmd)
    resource.command(name)(cmd)


_resource_cmd("move", "Move RID to --node (or away from where it runs).")
_resource_cmd("ban", "Forbid RID on --node (default: where it runs now).")
_resource_cmd("clear", "Remove the move/ban constraints of RID (on --node only, if given).")
_resource_cmd("restart", "Stop RID and start it again where it runs.", with_node=False)
_resource_cmd("cleanup", "Forget RID's failures (on --node only, if given) and probe again.")


@main.group()
def node() -> None:
    """Put a node in standby or bring it back."""


@node.command("standby")
@click.argument("name")
@click.pass_context
def node_standby(ctx: click.Context, name: str) -> None:
    """Move every resource off NAME and keep them off."""
    click.echo(call(ctx, "POST", f"/v1/nodes/{name}/standby")["message"])


@node.command("unstandby")
@click.argument("name")
@click.pass_context
def node_unstandby(ctx: click.Context, name: str) -> None:
    """Let NAME host resources again."""
    click.echo(call(ctx, "POST", f"/v1/nodes/{name}/unstandby")["message"])


@node.command("attribute")
@click.argument("name")
@click.argument("attribute", required=False)
@click.argument("value", required=False)
@click.option("--delete", is_flag=True, help="Remove ATTRIBUTE from the node.")
@click.option("--reboot", is_flag=True,
              help="Clear it when the node's agent starts again (as agents' attributes are).")
@click.pass_context
def node_attribute(ctx: click.Context, name: str, attribute: str | None, value: str | None,
                   delete: bool, reboot: bool) -> None:
    """Show, set or delete node attributes that location rules test.

    `vigil node attribute n1` lists them; `vigil node attribute n1 disk ssd` sets one;
    `vigil node attribute n1 disk --delete` removes it.
    """
    if attribute is None:
        doc = call(ctx, "GET", f"/v1/nodes/{name}/attributes")
        for key, a in doc["attributes"].items():
            click.echo(f"{key}={a['value']}  ({a['lifetime']})")
        if not doc["attributes"]:
            click.echo(f"{name} has no attributes")
        return
    if delete:
        click.echo(call(ctx, "DELETE", f"/v1/nodes/{name}/attributes/{attribute}")["message"])
    elif value is None:
        doc = call(ctx, "GET", f"/v1/nodes/{name}/attributes")
        found = doc["attributes"].get(attribute)
        if found is None:
            raise click.ClickException(f"{name} has no attribute {attribute}")
        click.echo(found["value"])
    else:
        body = {"value": value, "lifetime": "reboot" if reboot else "forever"}
        click.echo(call(ctx, "PUT", f"/v1/nodes/{name}/attributes/{attribute}", body)["message"])


@main.command()
@click.argument("what")
@click.option("--action", type=click.Choice(["reboot", "off"]), default=None,
              help="Fence action (default: the config's fencing.action).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def fence(ctx: click.Context, what: str, action: str | None, as_json: bool) -> None:
    """Fence NODE now; or `vigil fence history`; or `vigil fence verify` (runs every
    device's monitor action and names the nodes no device can fence)."""
    if what == "history":
        doc = call(ctx, "GET", "/v1/fence/history")
        if as_json:
            click.echo(json.dumps(doc, indent=2))
            return
        click.echo(render_fence_history(doc["history"]))
    elif what == "verify":
        doc = call(ctx, "POST", "/v1/fence/verify", {}, timeout=120.0)
        if as_json:
            click.echo(json.dumps(doc, indent=2))
        else:
            click.echo(render_fence_verify(doc))
        if doc.get("unfenceable") or any(not d["ok"] for d in doc.get("devices", [])):
            sys.exit(1)
    else:
        body = {"action": action} if action else {}
        doc = call(ctx, "POST", f"/v1/fence/{what}", body, timeout=300.0)
        click.echo(json.dumps(doc) if as_json else doc["message"])


@main.command()
@click.option("--keep", is_flag=True, help="Leave the cluster running at the end.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
@click.option("--down", "down_dir", type=click.Path(file_okay=False), default=None,
              help="Stop a cluster left by --keep (its directory) and remove it.")
def demo(keep: bool, as_json: bool, down_dir: str | None) -> None:
    """A 3-node cluster on loopback: power off the service's node, watch it fail over."""
    from vigil.lab.demo import demo_down, run_demo
    if down_dir:
        demo_down(Path(down_dir))
        return
    sys.exit(run_demo(keep=keep, as_json=as_json))


def _register_command_modules() -> None:
    """Larger command families live in their own modules (lab, drill, sim, simulate, import)."""
    from vigil.cli import drill_cmds, import_cmds, lab_cmds, sim_cmds, simulate_cmds
    for module in (lab_cmds, drill_cmds, sim_cmds, simulate_cmds, import_cmds):
        for command in module.COMMANDS:
            main.add_command(command)


_register_command_modules()

if __name__ == "__main__":
    main()

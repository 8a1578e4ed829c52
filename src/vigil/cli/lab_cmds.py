"""`vigil lab` commands (registered by vigil.cli.main): the network-namespace lab."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"vigil lab: {message}", err=True)
    sys.exit(code)


def lab_options(f: F) -> F:
    """--name / --dir: which lab (every lab command takes them)."""
    f = click.option("--dir", "lab_dir", type=click.Path(file_okay=False), default=None,
                     envvar="VIGIL_LAB_DIR",
                     help="The lab's directory (default /dev/shm/vigil-lab/NAME).")(f)
    f = click.option("--name", default="lab", show_default=True, envvar="VIGIL_LAB",
                     help="The lab's name: its namespaces are vigil-lab-NAME-<host>.")(f)
    return f


def _load(name: str, lab_dir: str | None) -> Any:
    from vigil.lab.netlab import NetnsLab, check_root
    from vigil.lab.netns import LabError
    try:
        check_root()
        return NetnsLab.load(Path(lab_dir) if lab_dir else None, name)
    except LabError as e:
        _fail(str(e))


@click.group()
def lab() -> None:
    """The network-namespace lab: real multi-host clusters on one machine (root)."""


@lab.command()
@click.option("--nodes", default=3, show_default=True, help="Node hosts (1-9).")
@click.option("--witness", is_flag=True, help="Add a witness host (etcd member only).")
@click.option("--links", default=2, show_default=True, help="Network links (bridges), 1-4.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True),
              default=None, help="Resources, constraints, timings (default: the lab "
              "example: a VIP and a web service).")
@click.option("--no-fencing", is_flag=True, help="No fence device (fencing off).")
@click.option("--boot-delay", default=2.0, show_default=True,
              help="Seconds from a fence 'on'/reboot to the host booting.")
@click.option("--no-wait", is_flag=True, help="Do not wait for the cluster to be ready.")
@click.option("--replace", is_flag=True, help="Tear down a lab of the same name first.")
@lab_options
def up(nodes: int, witness: bool, links: int, config_file: str | None, no_fencing: bool,
       boot_delay: float, no_wait: bool, replace: bool, name: str,
       lab_dir: str | None) -> None:
    """Build the lab and start every node's etcd member and agent."""
    from vigil.lab import netns
    from vigil.lab.netlab import NetnsLab
    from vigil.lab.netns import LabError
    from vigil.model.load import ConfigInvalid, load_config_text
    running = netns.namespaces(f"{netns.PREFIX}{name}-")
    if running and not replace:
        _fail(f"lab {name} is up ({len(running)} namespaces); `vigil lab down --name {name}` "
              "first, pass --replace, or choose another --name")
    try:
        lab_ = NetnsLab.create(Path(lab_dir) if lab_dir else None, name=name, nodes=nodes,
                               witness=witness, links=links, config=config_file,
                               fencing=not no_fencing, boot_delay=boot_delay)
        try:
            load_config_text(lab_.config_text(), str(config_file or "lab config"))
        except ConfigInvalid as e:
            _fail(f"{config_file}: the merged lab config is invalid:\n"
                  + "\n".join(f"  {p}" for p in e.problems))
        t0 = time.monotonic()
        lab_.up()
    except LabError as e:
        _fail(str(e))
    click.echo(f"lab {name}: {len(lab_.hosts)} hosts ({', '.join(lab_.hosts)}), "
               f"{links} link(s), dir {lab_.dir}")
    if not no_wait:
        try:
            lab_.wait_ready(120)
        except TimeoutError as e:
            _fail(f"{e}; logs: {lab_.dir}/<node>/agent.log (the lab stays up: "
                  f"`vigil lab down --name {name}`)")
        click.echo(f"ready in {time.monotonic() - t0:.1f} s: DC {lab_.dc()}, "
                   f"etcd leader {lab_.etcd_leader()}")
    which = "" if name == "lab" and not lab_dir else f" --name {name}" + (
        f" --dir {lab_dir}" if lab_dir else "")
    click.echo(f"try: vigil lab status{which}; vigil lab exec{which} n1 -- vigil status")


def status_doc(lab_: Any) -> dict[str, Any]:
    from vigil.lab import netns
    hosts = []
    for h in lab_.hosts:
        ns = lab_.ns(h)
        up_ = netns.exists(ns)
        pids = lab_.pids(h) if up_ else []
        entry: dict[str, Any] = {"host": h, "netns": ns, "exists": up_,
                                 "addresses": lab_.addresses(h), "processes": len(pids)}
        if h in lab_.nodes + lab_.witnesses:
            entry["agent_pid"] = lab_.agent_pid(h)
            entry["etcd_pid"] = lab_.etcd_pid(h) if up_ else None
        hosts.append(entry)
    doc: dict[str, Any] = {"name": lab_.name, "dir": str(lab_.dir), "links": lab_.links,
                           "hosts": hosts, "vip": lab_.vip,
                           "faults": [f.__dict__ for f in lab_.faults.active()]}
    doc["dc"] = lab_.dc()
    doc["etcd_leader"] = lab_.etcd_leader()
    doc["vip_holders"] = lab_.vip_holders()
    doc["serving"] = lab_.who_serves(0.5) or lab_.who_serves(0.5)  # one lost SYN
    return doc


def render_lab_status(doc: dict[str, Any]) -> str:
    lines = [f"Lab {doc['name']} ({doc['dir']}), {doc['links']} link(s)", "",
             "Hosts:"]
    for h in doc["hosts"]:
        procs = "absent" if not h["exists"] else f"{h['processes']} processes"
        extra = ""
        if "agent_pid" in h:
            extra = (f"  agent {h['agent_pid'] or 'DOWN'}, etcd {h['etcd_pid'] or 'DOWN'}")
        lines.append(f"  {h['host']:<7} {', '.join(h['addresses']):<28} {procs}{extra}")
    lines += ["", f"DC: {doc['dc'] or '-'}   etcd leader: {doc['etcd_leader'] or '-'}",
              f"VIP {doc['vip']}: held by {', '.join(doc['vip_holders']) or 'nobody'}, "
              f"served by {doc['serving'] or 'nobody'}", "",
              "Faults in force:" if doc["faults"] else "Faults in force: none"]
    for f in doc["faults"]:
        args = " ".join(f"{k}={v}" for k, v in f["args"].items())
        lines.append(f"  {f['id']:<4} {f['kind']:<20} {f['target']:<10} {args}".rstrip())
    return "\n".join(lines)


@lab.command()
@click.option("--json", "as_json", is_flag=True)
@lab_options
def status(as_json: bool, name: str, lab_dir: str | None) -> None:
    """Hosts, addresses, processes, DC and etcd leader, VIP, faults in force."""
    doc = status_doc(_load(name, lab_dir))
    click.echo(json.dumps(doc, indent=2) if as_json else render_lab_status(doc))


@lab.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
@lab_options
def exec_(host: str, argv: tuple[str, ...], name: str, lab_dir: str | None) -> None:
    """Run a command inside a lab host: `vigil lab exec n1 -- vigil status`."""
    lab_ = _load(name, lab_dir)
    from vigil.lab.netns import LabError
    try:
        ns = lab_.ns(host)
    except LabError as e:
        _fail(str(e))
    env = dict(os.environ) | lab_.cli_env(host)
    os.execvpe("ip", ["ip", "netns", "exec", ns, *argv], env)


@lab.command()
@click.option("--all", "everything", is_flag=True,
              help="Every lab on this machine (vigil-lab-* namespaces), not just this one.")
@click.option("--remove", is_flag=True, help="Also delete the lab directory.")
@lab_options
def down(everything: bool, remove: bool, name: str, lab_dir: str | None) -> None:
    """Kill every process of the lab, delete its namespaces, bridges and nft tables
    (also what a crashed earlier run with this name left behind)."""
    import shutil

    from vigil.lab.netlab import DEFAULT_ROOT, NetnsLab, check_root, clean_prefix, leftover_labs
    from vigil.lab.netns import PREFIX, LabError
    try:
        check_root()
    except LabError as e:
        _fail(str(e))
    names = leftover_labs() if everything else [name]
    removed: list[str] = []
    for n in names:
        d = Path(lab_dir) if lab_dir and n == name else DEFAULT_ROOT / n
        try:
            removed += NetnsLab.load(d, n).down(remove=remove)
        except LabError:  # no state file: a crashed run; clean by name
            removed += clean_prefix(f"{PREFIX}{n}-")
            if remove:
                shutil.rmtree(d, ignore_errors=True)
    if removed:
        click.echo(f"removed {len(removed)} namespace(s): {', '.join(removed)}")
    else:
        click.echo("nothing to remove")


# -- faults ------------------------------------------------------------------------------

@lab.group()
def fault() -> None:
    """Inject a fault (each is recorded until undone: `vigil lab fault undo ID|all`)."""


def _inject(name: str, lab_dir: str | None, fn: Callable[[Any], Any]) -> None:
    from vigil.lab.netns import LabError
    lab_ = _load(name, lab_dir)
    try:
        f = fn(lab_.faults)
    except LabError as e:
        _fail(str(e))
    click.echo(f"{f.describe()}  (undo: vigil lab fault undo {f.id})")


def _fault_cmd(cmd_name: str, help_text: str, params: list[Callable[[F], F]],
               body: Callable[..., Callable[[Any], Any]]) -> None:
    def cmd(name: str, lab_dir: str | None, **kw: Any) -> None:
        _inject(name, lab_dir, body(**kw))
    cmd.__doc__ = help_text
    for p in reversed(params):
        cmd = p(cmd)
    fault.command(name=cmd_name)(lab_options(cmd))


_fault_cmd("poweroff", "Power a node off (as the lab fence device does).",
           [click.argument("node")], lambda node: lambda f: f.poweroff(node))
_fault_cmd("hang", "SIGSTOP every process of a node (undo: SIGCONT).",
           [click.argument("node")], lambda node: lambda f: f.hang(node))
_fault_cmd("crash-agent", "SIGKILL a node's agent only (undo: start it again).",
           [click.argument("node")], lambda node: lambda f: f.crash_agent(node))
_fault_cmd("stop-node", "SIGTERM a node's agent: a planned stop (undo: start it again).",
           [click.argument("node")], lambda node: lambda f: f.stop_node(node))
_fault_cmd("kill-resource", "SIGKILL a `process` resource's process group on a node.",
           [click.argument("node"), click.argument("resource")],
           lambda node, resource: lambda f: f.kill_resource(node, resource))
_fault_cmd("link-down", "Take a host's link down at the switch.",
           [click.argument("host"), click.option("--link", default=1, show_default=True)],
           lambda host, link: lambda f: f.link_down(host, link))
_fault_cmd("flap", "Flap a host's link (down/up) until undone.",
           [click.argument("host"), click.option("--link", default=1, show_default=True),
            click.option("--down", "down_s", default=0.5, show_default=True),
            click.option("--up", "up_s", default=0.5, show_default=True),
            click.option("--count", default=0, help="Flaps, then stop (0: until undone).")],
           lambda host, link, down_s, up_s, count: lambda f: f.flap_link(
               host, link, down_s, up_s, count))
_fault_cmd("partition", "Partition hosts into groups: 'n1,n2|n3' (nftables).",
           [click.argument("groups")],
           lambda groups: lambda f: f.partition(_groups(groups)))
_fault_cmd("isolate-store", "Cut a node from the store (etcd peers/clients), not from clients.",
           [click.argument("node")], lambda node: lambda f: f.isolate_from_store(node))
_fault_cmd("asymmetric", "Drop packets from SRC to DST only.",
           [click.argument("src"), click.argument("dst")],
           lambda src, dst: lambda f: f.asymmetric(src, dst))
_fault_cmd("loss", "Drop PERCENT % of a host's packets at random (both directions).",
           [click.argument("host"), click.argument("percent", type=int),
            click.option("--link", default=None, type=int, help="Only this link.")],
           lambda host, percent, link: lambda f: f.loss(host, percent, link))
_fault_cmd("resource", "Make an ocf:vigil-lab:Flaky resource's WHAT fail (monitor-fail, "
           "stop-fail, stop-hang, start-fail).",
           [click.argument("resource"), click.argument("what"),
            click.option("--node", default=None, help="Only on this node.")],
           lambda resource, what, node: lambda f: f.resource_fault(resource, what, node))
_fault_cmd("kill-etcd-leader", "SIGKILL the etcd member that leads (undo: restart it).",
           [], lambda: lambda f: f.kill_etcd_leader())


def _groups(text: str) -> list[list[str]]:
    from vigil.lab.faults import parse_groups
    return parse_groups(text)


@fault.command(name="list")
@lab_options
def fault_list(name: str, lab_dir: str | None) -> None:
    """The faults in force."""
    faults = _load(name, lab_dir).faults.active()
    for f in faults:
        click.echo(f.describe())
    if not faults:
        click.echo("no faults in force")


@fault.command()
@click.argument("fault_id", metavar="ID|all")
@lab_options
def undo(fault_id: str, name: str, lab_dir: str | None) -> None:
    """Undo one fault (power on, resume, link up, heal...) or all of them."""
    from vigil.lab.netns import LabError
    faults = _load(name, lab_dir).faults
    try:
        done = faults.undo_all() if fault_id == "all" else [faults.undo(fault_id)]
    except LabError as e:
        _fail(str(e))
    for f in done:
        click.echo(f"undone: {f.describe()}")
    if not done:
        click.echo("no faults in force")


COMMANDS: list[click.Command] = [lab]

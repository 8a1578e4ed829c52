"""Building a lab: its namespaces and links, and the files in its directory (merged
config, cluster key, fence device, lab service, OCF root, each host's boot script)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.lab import netns
from vigil.lab.lab_config import DATA
from vigil.lab.netns import TAG_VAR

if TYPE_CHECKING:
    from vigil.lab.netlab import NetnsLab

CONTROL_VAR = "VIGIL_LAB_CONTROL"
"""Where ocf:vigil-lab:Flaky finds its control files."""
OCF_PROVIDER = "vigil-lab"


def build_network(lab: NetnsLab) -> None:
    """The switch namespace with one bridge per link, and every host namespace with a
    veth per link (its end `eth<k>` in the host, the other a port of bridge k)."""
    sw = lab.switch_ns
    netns.sh("ip", "netns", "add", sw)
    netns.ip("link", "set", "lo", "up", ns=sw)
    for k in range(1, lab.links + 1):
        netns.ip("link", "add", f"br{k}", "type", "bridge", "stp_state", "0",
                 "forward_delay", "0", ns=sw)
        netns.ip("link", "set", f"br{k}", "up", ns=sw)
    for host in lab.hosts:
        ns = lab.ns(host)
        netns.sh("ip", "netns", "add", ns)
        netns.ip("link", "set", "lo", "up", ns=ns)
        for k in lab.host_links(host):
            port = lab.switch_port(host, k)
            netns.ip("link", "add", port, "type", "veth", "peer", "name", lab.nic(k),
                     "netns", ns, ns=sw)
            netns.ip("link", "set", port, "master", f"br{k}", "up", ns=sw)
            netns.ip("addr", "add", f"{lab.address(host, k)}/24", "dev", lab.nic(k),
                     ns=ns)
            netns.ip("link", "set", lab.nic(k), "up", ns=ns)


def write_files(lab: NetnsLab) -> None:
    """The lab dir: per-host state dirs and base addresses, cluster key, fence device,
    lab service, OCF root, merged config, boot scripts."""
    from vigil.core.heartbeat_packet import write_key

    lab.dir.mkdir(parents=True, exist_ok=True)
    for host in lab.hosts:
        d = lab.state_dir(host)
        d.mkdir(parents=True, exist_ok=True)
        for k in lab.host_links(host):
            (d / f"eth{k}.addr").write_text(f"{lab.address(host, k)}/24\n")
    key = lab.dir / "cluster.key"
    if not key.exists():
        write_key(key)
    shutil.copyfile(DATA / "fence_netns.sh", lab.fence_agent)
    lab.fence_agent.chmod(0o755)
    shutil.copyfile(DATA / "lab_service.py", lab.dir / "lab_service.py")
    lab.control_dir.mkdir(exist_ok=True)
    write_ocf_root(lab)
    lab.config_path.write_text(lab.config_text())
    for host in [*lab.state.nodes, *lab.state.witnesses]:
        write_boot(lab, host)


def write_ocf_root(lab: NetnsLab) -> None:
    """An OCF root with the system's agents plus the lab's own provider."""
    from vigil.agents.ocf import ocf_root

    root = lab.ocf_root
    (root / "resource.d").mkdir(parents=True, exist_ok=True)
    system = ocf_root()
    if (system / "lib").exists() and not (root / "lib").exists():
        (root / "lib").symlink_to(system / "lib")
    for provider in (system / "resource.d").glob("*") if system.exists() else []:
        link = root / "resource.d" / provider.name
        if not link.exists():
            link.symlink_to(provider)
    own = root / "resource.d" / OCF_PROVIDER
    own.mkdir(exist_ok=True)
    shutil.copyfile(DATA / "Flaky", own / "Flaky")
    (own / "Flaky").chmod(0o755)


def host_env(lab: NetnsLab, host: str) -> dict[str, str]:
    """The whole environment of a host's agent (it starts from `env -i`)."""
    import vigil

    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root", "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(Path(vigil.__file__).resolve().parents[1]),
        TAG_VAR: lab.tag(host), CONTROL_VAR: str(lab.control_dir),
        "VIGIL_OCF_ROOT": str(lab.ocf_root),
    }


def write_boot(lab: NetnsLab, host: str) -> None:
    """`<state dir>/boot.sh`: starts the host's agent (or witness) unless it runs."""
    d = lab.state_dir(host)
    command = "witness" if host in lab.state.witnesses else "agent"
    env = " ".join(f"{k}='{v}'" for k, v in host_env(lab, host).items())
    tag = f"{TAG_VAR}={lab.tag(host)}"
    script = (
        "#!/bin/sh\n"
        f"# Boots lab host {host}: `vigil {command}` (which runs the host's etcd member)\n"
        "# in its namespace and own session. Run by the lab and by fence_netns on/reboot;\n"
        "# does nothing when the agent already runs.\n"
        "cd /\n"
        f"exec 9>{d / 'boot.lock'}\n"
        "flock 9\n"
        f"pid=$(cat {d / 'agent.pid'} 2>/dev/null)\n"
        f'if [ -n "$pid" ] && grep -qsxz "{tag}" /proc/"$pid"/environ; then exit 0; fi\n'
        f"ip netns exec {lab.ns(host)} env -i {env} setsid {sys.executable} -m vigil "
        f"{command} --config {lab.config_path} --node {host} --state-dir {d} "
        f">> {d / 'agent.log'} 2>&1 < /dev/null 9>&- &\n"
        f"echo $! > {d / 'agent.pid'}\n")
    (d / "boot.sh").write_text(script)
    (d / "boot.sh").chmod(0o755)

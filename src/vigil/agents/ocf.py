"""OCF resource agents (`ocf:<provider>:<type>`), run unmodified.

The agent script gets the environment the OCF RA API 1.1 and Pacemaker give it:
instance parameters as OCF_RESKEY_<name>, the CRM_meta_* attributes (timeout and
interval in milliseconds), and the heartbeat shell library's knobs. Each node has its
own HA_RSCTMP and HA_VARRUN under its state directory, so several vigil nodes on one
machine never share agents' state files or default pidfiles (Dummy's state file,
anything's pidfile).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from vigil.agents.attrd_shim import (
    ATTR_FILE_ENV,
    CLUSTER_FILE_ENV,
    NODE_ENV,
    install_shims,
)
from vigil.agents.base import NodeContext, OcfRc, OpResult, ResourceAgent
from vigil.agents.subprocess_run import clean_environment, run_action
from vigil.model.config import Resource

DEFAULT_OCF_ROOT = Path("/usr/lib/ocf")
OCF_ROOT_ENV = "VIGIL_OCF_ROOT"
OCF_RA_VERSION = ("1", "1")
EXIT_REASON_PREFIX = "ocf-exit-reason:"
"""What `ocf_exit_reason` prints before the reason on stderr (Pacemaker's prefix)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PACKAGES = {"heartbeat": "resource-agents", "pacemaker": "pacemaker-resource-agents"}


def ocf_root() -> Path:
    """The OCF root: $VIGIL_OCF_ROOT, else /usr/lib/ocf."""
    return Path(os.environ.get(OCF_ROOT_ENV) or DEFAULT_OCF_ROOT)


def parse_agent(agent: str) -> tuple[str, str]:
    """`ocf:<provider>:<type>` -> (provider, type); ValueError if malformed."""
    parts = agent.split(":")
    if len(parts) != 3 or parts[0] != "ocf":
        raise ValueError(f"{agent!r} is not of the form ocf:<provider>:<type>")
    _, provider, kind = parts
    for what, name in (("provider", provider), ("type", kind)):
        if not _NAME.match(name):
            raise ValueError(f"{agent!r}: invalid {what} {name!r}")
    return provider, kind


def exit_reason(output: str) -> str | None:
    """The last reason an agent gave with `ocf_exit_reason`, if any."""
    reason = None
    for line in output.splitlines():
        if line.startswith(EXIT_REASON_PREFIX):
            reason = line[len(EXIT_REASON_PREFIX) :].strip()
    return reason


def agent_environment(
    *,
    resource_id: str,
    provider: str,
    kind: str,
    params: Mapping[str, str],
    op: str,
    timeout: float,
    interval: float,
    root: Path,
    ctx: NodeContext,
    meta: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete environment for one action (nothing else is inherited).

    `meta`: extra CRM_meta_* attributes (clone_max, promotable, ...) by name without
    the prefix. Pacemaker's attribute commands (crm_attribute, crm_master, attrd_updater,
    crm_node; see `attrd_shim`) come first on PATH and in HA_SBIN_DIR, writing to the
    node's attribute file that the executor publishes.
    """
    env = clean_environment()
    sbin = shim_dir(ctx)
    env["PATH"] = f"{sbin}:{env['PATH']}"
    env.update(
        {
            "OCF_ROOT": str(root),
            "OCF_RA_VERSION_MAJOR": OCF_RA_VERSION[0],
            "OCF_RA_VERSION_MINOR": OCF_RA_VERSION[1],
            "OCF_RESOURCE_INSTANCE": resource_id,
            "OCF_RESOURCE_TYPE": kind,
            "OCF_RESOURCE_PROVIDER": provider,
            "OCF_EXIT_REASON_PREFIX": EXIT_REASON_PREFIX,
            # Per-node scratch and run directories (ocf-directories defaults them to
            # /run/resource-agents and /var/run, shared by every node on the machine).
            "HA_RSCTMP": str(ctx.state_dir / "rsctmp"),
            "HA_VARRUN": str(ctx.run_dir),
            # ocf_log: no syslog, append to the node's agent log; ocf_exit_reason still
            # prints its reason on stderr, which ends up in OpResult.output.
            "HA_LOGFACILITY": "none",
            "HA_LOGFILE": str(ctx.state_dir / "agents.log"),
            "HA_DEBUGLOG": str(ctx.state_dir / "agents.log"),
            "HA_debug": "0",
            "HA_SBIN_DIR": str(sbin),
            ATTR_FILE_ENV: str(attribute_file(ctx)),
            CLUSTER_FILE_ENV: str(ctx.state_dir / "attributes-cluster.json"),
            NODE_ENV: ctx.node,
        }
    )
    for name, value in params.items():
        env[f"OCF_RESKEY_{name}"] = value
    env.update(
        {
            "OCF_RESKEY_CRM_meta_name": op,
            "OCF_RESKEY_CRM_meta_timeout": str(round(timeout * 1000)),
            "OCF_RESKEY_CRM_meta_interval": str(round(interval * 1000)),
            "OCF_RESKEY_CRM_meta_on_node": ctx.node,
        }
    )
    for name, value in (meta or {}).items():
        env[f"OCF_RESKEY_CRM_meta_{name}"] = value
    return env


def shim_dir(ctx: NodeContext) -> Path:
    return ctx.state_dir / "sbin"


def attribute_file(ctx: NodeContext) -> Path:
    """Where the node's agents leave attributes for the executor to publish."""
    return ctx.state_dir / "attributes.json"


class OcfAgent(ResourceAgent):
    """One resource of class ocf; `run` executes `<root>/resource.d/<provider>/<type> op`."""

    def __init__(self, resource: Resource, ctx: NodeContext, root: Path | None = None,
                 meta: Mapping[str, str] | None = None) -> None:
        self.resource = resource
        self.ctx = ctx
        self.meta = dict(meta or {})
        """CRM_meta_* attributes beyond the per-action ones (clones, promotable)."""
        self.provider, self.kind = parse_agent(resource.agent)
        self.root = root if root is not None else ocf_root()

    @property
    def script(self) -> Path:
        return self.root / "resource.d" / self.provider / self.kind

    def _missing(self, op: str) -> OpResult:
        package = _PACKAGES.get(self.provider)
        hint = (
            f"install it with `apt-get install {package}`"
            if package
            else f"install the package that provides OCF provider {self.provider!r}"
        )
        return OpResult(
            op,
            OcfRc.ERR_INSTALLED,
            f"OCF agent {self.resource.agent} not found: {self.script} does not exist; {hint}",
        )

    async def run(self, op: str, timeout: float, interval: float = 0.0) -> OpResult:
        if op == "probe":
            op, interval = "monitor", 0.0
        if op != "monitor":
            interval = 0.0
        if not self.script.is_file():
            return self._missing(op)
        bad = [name for name in self.resource.params if not _PARAM.match(name)]
        if bad:
            return OpResult(
                op,
                OcfRc.ERR_CONFIGURED,
                f"parameter names not usable as OCF_RESKEY_ variables: {', '.join(bad)}",
            )
        try:
            for d in (self.ctx.state_dir / "rsctmp", self.ctx.run_dir):
                d.mkdir(parents=True, exist_ok=True)
            install_shims(shim_dir(self.ctx))
        except OSError as exc:
            return OpResult(op, OcfRc.EXEC_ERROR, f"cannot create agent directories: {exc}")
        env = agent_environment(
            resource_id=self.resource.id,
            provider=self.provider,
            kind=self.kind,
            params=self.resource.params,
            op=op,
            timeout=timeout,
            interval=interval,
            root=self.root,
            ctx=self.ctx,
            meta=self.meta,
        )
        result = await run_action([str(self.script), op], env, timeout, cwd="/")
        return OpResult(
            op=op,
            rc=int(result.rc),
            output=result.output,
            duration=result.duration,
            timed_out=result.timed_out,
        )

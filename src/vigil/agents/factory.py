"""Pick the runner for a resource's agent class."""

from __future__ import annotations

from collections.abc import Mapping

from vigil.agents.base import NodeContext, ResourceAgent
from vigil.agents.ocf import OcfAgent
from vigil.agents.process import ProcessAgent
from vigil.agents.vip import VipAgent
from vigil.model.config import Resource

SUPPORTED = ("process", "vip", "ocf:<provider>:<type>")


def make_agent(resource: Resource, ctx: NodeContext,
               meta: Mapping[str, str] | None = None) -> ResourceAgent:
    """The agent that runs `resource`'s actions on the node `ctx` describes.

    `meta`: extra OCF_RESKEY_CRM_meta_* attributes (clone and promotable settings).
    ValueError (naming the resource and the supported classes) for anything else.
    """
    if resource.agent == "process":
        return ProcessAgent(resource, ctx)
    if resource.agent == "vip":
        return VipAgent(resource, ctx)
    if resource.agent_class == "ocf":
        try:
            return OcfAgent(resource, ctx, meta=meta)
        except ValueError as exc:
            raise ValueError(f"resource {resource.id}: {exc}") from None
    raise ValueError(
        f"resource {resource.id}: unsupported agent {resource.agent!r}; "
        f"supported: {', '.join(SUPPORTED)}"
    )

"""The key layout under `<prefix>/<cluster>/`. One prefix, so one watch sees everything.

config                      the applied config: {"version", "source" (YAML), ...}
members/<node>              attached to the node's lease; presence = node online
dc                          the coordinator election key, attached to the DC's lease
transition                  the DC's current transition graph (written guarded by `dc`)
results/<node>              a node's progress on the current transition
status/<node>/<rsc>         a node's observed state of one resource (survives the node)
failures/<node>/<rsc>       fail count and last failure of a resource on a node
runtime/constraints/<id>    constraints made by `vigil resource move|ban`
runtime/roles/<rsc>         runtime target-role override
runtime/nodes/<node>        node attributes: standby, shutting_down
fencing/<node>              the current fencing of a node (running, done, failed)
fencing_history/<ms>-<node> finished fencing operations
suspects/<observer>         a node's heartbeat view of its peers (on its lease)
events/<ms>-<node>-<seq>    decisions with their reasons
"""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str, cluster: str) -> None:
        self.root = f"{prefix.rstrip('/')}/{cluster}/"

    def rel(self, key: str) -> str:
        """Key relative to the cluster root ('' if it is outside it)."""
        return key[len(self.root):] if key.startswith(self.root) else ""

    @property
    def config(self) -> str:
        return self.root + "config"

    @property
    def dc(self) -> str:
        return self.root + "dc"

    @property
    def transition(self) -> str:
        return self.root + "transition"

    def member(self, node: str) -> str:
        return f"{self.root}members/{node}"

    def results(self, node: str) -> str:
        return f"{self.root}results/{node}"

    def status(self, node: str, rsc: str = "") -> str:
        return f"{self.root}status/{node}/{rsc}"

    def failure(self, node: str, rsc: str = "") -> str:
        return f"{self.root}failures/{node}/{rsc}"

    def runtime_constraint(self, cid: str) -> str:
        return f"{self.root}runtime/constraints/{cid}"

    def runtime_role(self, rsc: str) -> str:
        return f"{self.root}runtime/roles/{rsc}"

    def runtime_node(self, node: str) -> str:
        return f"{self.root}runtime/nodes/{node}"

    def fencing(self, node: str = "") -> str:
        return f"{self.root}fencing/{node}"

    @property
    def fencing_history(self) -> str:
        return self.root + "fencing_history/"

    def suspects(self, observer: str) -> str:
        return f"{self.root}suspects/{observer}"

    @property
    def events(self) -> str:
        return self.root + "events/"

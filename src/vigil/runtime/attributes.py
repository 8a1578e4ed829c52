"""Publishes the node attributes that resource agents set, and shows agents the cluster's.

Agents call crm_attribute / crm_master / attrd_updater (vigil's shims, see
`vigil.agents.attrd_shim`), which write this node's wishes to a local JSON file. After
each agent operation the executor asks for a publish: every value that differs from the
store's (as last seen in a snapshot) is written to `runtime/attributes/<node>/<name>`,
every deleted one removed. When the node starts a new life (probes at join), the
attributes agents set with lifetime `reboot` in its previous life are cleared, as
Pacemaker clears transient attributes of a node that left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from vigil.agents.attrd_shim import locked, read_entries
from vigil.agents.base import NodeContext
from vigil.agents.ocf import attribute_file
from vigil.core import records as rec
from vigil.core.snapshot import Snapshot
from vigil.runtime.writer import NodeWriter
from vigil.store.base import StoreError

log = logging.getLogger("vigil.attributes")


def attribute_key(root: str, node: str, name: str) -> str:
    return f"{root}runtime/attributes/{node}/{name}"


class AttributePublisher:
    def __init__(self, ctx: NodeContext, writer: NodeWriter) -> None:
        self.ctx = ctx
        self.writer = writer
        self.file = attribute_file(ctx)
        self.cluster_file = ctx.state_dir / "attributes-cluster.json"
        self.stored: dict[str, dict[str, rec.AttributeRecord]] = {}
        """The store's attributes as of the last snapshot."""
        self._clear_reboot = False
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._shown = ""

    def reset(self) -> None:
        """A new life: forget what agents set before; clear it from the store too."""
        with contextlib.suppress(OSError), locked(self.file) as entries:
            entries.clear()
        self._clear_reboot = True

    def seen(self, snap: Snapshot) -> None:
        self.stored = {n: dict(a) for n, a in snap.attributes.items()}
        shown = json.dumps({n: {k: {"value": a.value, "lifetime": a.lifetime}
                                for k, a in attrs.items()}
                            for n, attrs in self.stored.items()}, sort_keys=True)
        if shown != self._shown:
            with contextlib.suppress(OSError):
                self.ctx.state_dir.mkdir(parents=True, exist_ok=True)
                tmp = self.cluster_file.with_suffix(".tmp")
                tmp.write_text(shown)
                tmp.replace(self.cluster_file)
                self._shown = shown
        if self._clear_reboot or self._pending():
            self.publish_soon()

    def _pending(self) -> bool:
        wanted = read_entries(self.file)
        return any(self._differs(node, name, entry)
                   for node, names in wanted.items() for name, entry in names.items())

    def _differs(self, node: str, name: str, entry: dict[str, object]) -> bool:
        current = self.stored.get(node, {}).get(name)
        value = entry.get("value")
        if value is None:
            return current is not None
        return current is None or current.value != str(value)

    def publish_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = loop.create_task(self._publish(), name="publish-attributes")

    async def _publish(self) -> None:
        while True:
            self._again = False
            try:
                await self.publish()
            except StoreError as e:
                log.warning("could not publish node attributes (will retry): %s", e)
                return
            if not self._again:
                return

    async def publish(self) -> None:
        store, root = self.writer.store, self.writer.keys.root
        wanted = read_entries(self.file)
        if self._clear_reboot:
            mine = self.stored.get(self.ctx.node, {})
            for name, attr in mine.items():
                if attr.lifetime == "reboot" and name not in wanted.get(self.ctx.node, {}):
                    await store.delete(attribute_key(root, self.ctx.node, name))
            self._clear_reboot = False
        for node, names in sorted(wanted.items()):
            for name, entry in sorted(names.items()):
                if not self._differs(node, name, entry):
                    continue
                key = attribute_key(root, node, name)
                value = entry.get("value")
                if value is None:
                    await store.delete(key)
                    self.stored.get(node, {}).pop(name, None)
                else:
                    record = rec.AttributeRecord(str(value), str(entry.get("lifetime", "reboot")))
                    await store.put(key, record.to_json())
                    self.stored.setdefault(node, {})[name] = record

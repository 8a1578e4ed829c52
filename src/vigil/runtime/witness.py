"""`vigil witness`: a quorum vote and nothing else.

A two-node cluster cannot keep a majority when one node dies; a third small machine
running only an etcd member (no agent duties, no resources) gives it one. The witness
supervises its member (restart with backoff) until SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from vigil.model.config import ClusterConfig
from vigil.store.embedded import EmbeddedEtcd

log = logging.getLogger("vigil.witness")


async def run_witness(config: ClusterConfig, node: str, state_dir: Path) -> int:
    if config.store.mode != "embedded":
        log.error("a witness runs an embedded etcd member; this cluster's store is external "
                  "(give the external etcd cluster an odd number of members instead)")
        return 2
    state_dir.mkdir(parents=True, exist_ok=True)
    etcd = EmbeddedEtcd(config, node, state_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    supervisor = asyncio.create_task(etcd.supervise())
    log.info("witness %s: etcd member at %s (a quorum vote, no resources)", node,
             config.node(node).etcd_client_url)
    await stop.wait()
    supervisor.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await supervisor
    await etcd.stop()
    return 0

"""EtcdStore and EmbeddedEtcd against real etcd members on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tests.conftest import EtcdClusterFactory, EtcdTestCluster

from vigil.store.base import (
    Compacted,
    Compare,
    Delete,
    LeaseLost,
    Put,
    StoreUnavailable,
    WatchEvent,
)
from vigil.store.embedded import EmbeddedEtcd
from vigil.store.etcd import (
    EtcdCompacted,
    EtcdDuplicateKey,
    EtcdLeaseNotFound,
    EtcdStore,
    OutcomeUnknown,
)

pytestmark = pytest.mark.integration


async def wait_until(what: str, check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def collect(batches: AsyncIterator[list[WatchEvent]], count: int,
                  timeout: float = 5.0) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    async with asyncio.timeout(timeout):
        async for batch in batches:
            events.extend(batch)
            if len(events) >= count:
                return events
    raise AssertionError("watch ended")


async def leader_index(cluster: EtcdTestCluster, store: EtcdStore) -> int:
    leader: list[str] = []

    async def known() -> bool:  # survivors name a dead leader until they time it out
        h = await store.health()
        alive = h.leader is not None and cluster.members[cluster.names.index(h.leader)].running
        leader[:] = [h.leader] if h.leader and alive else []
        return bool(leader)

    await wait_until("a live leader", known, 10)
    return cluster.names.index(leader[0])


# --- KV ----------------------------------------------------------------------------


async def test_get_put_delete_and_prefix_at_one_revision(etcd_store: EtcdStore) -> None:
    r1 = await etcd_store.put("/t/a", b"1")
    r2 = await etcd_store.put("/t/b/\u00e9", b"\x00\xff")
    await etcd_store.put("/t/b/empty", b"")
    r4 = await etcd_store.put("/u", b"outside")
    assert r1 < r2 < r4

    kv = await etcd_store.get("/t/a")
    assert kv is not None
    assert (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease) == (
        "/t/a", b"1", r1, r1, 1, 0)
    assert await etcd_store.get("/t/none") is None

    rev, kvs = await etcd_store.get_prefix("/t/")
    assert rev == r4
    assert [(k.key, k.value) for k in kvs] == [
        ("/t/a", b"1"), ("/t/b/empty", b""), ("/t/b/\u00e9", b"\x00\xff")]

    r5 = await etcd_store.put("/t/a", b"2")
    kv = await etcd_store.get("/t/a")
    assert kv is not None and (kv.value, kv.create_revision, kv.mod_revision, kv.version) == (
        b"2", r1, r5, 2)

    r6 = await etcd_store.delete("/t/a")
    assert r6 == r5 + 1 and await etcd_store.get("/t/a") is None
    await etcd_store.delete("/t/b/", prefix=True)
    assert (await etcd_store.get_prefix("/t/"))[1] == []
    assert await etcd_store.get("/u") is not None
    _, everything = await etcd_store.get_prefix("")
    assert [k.key for k in everything] == ["/u"]


async def test_create_if_absent_wins_once(etcd_store: EtcdStore) -> None:
    results = await asyncio.gather(
        *(etcd_store.create("/t/dc", f"node{i}".encode()) for i in range(10)))
    assert sorted(results) == [False] * 9 + [True]
    kv = await etcd_store.get("/t/dc")
    assert kv is not None and kv.value == f"node{results.index(True)}".encode()


async def test_cas_fails_on_stale_revision(etcd_store: EtcdStore) -> None:
    await etcd_store.put("/t/k", b"v1")
    kv = await etcd_store.get("/t/k")
    assert kv is not None
    assert await etcd_store.cas("/t/k", b"v2", kv.mod_revision)
    assert not await etcd_store.cas("/t/k", b"v3", kv.mod_revision)  # stale now
    now = await etcd_store.get("/t/k")
    assert now is not None and now.value == b"v2"
    assert not await etcd_store.cas("/t/missing", b"x", 5)


async def test_txn_takes_the_right_branch(etcd_store: EtcdStore) -> None:
    rev = await etcd_store.put("/t/dc", b"n1")
    await etcd_store.put("/t/old", b"x")
    guard = [Compare("/t/dc", "value", "=", b"n1"), Compare("/t/dc", "mod", "=", rev)]
    res = await etcd_store.txn(guard, [Put("/t/transition", b"t1"), Delete("/t/old")],
                               [Put("/t/lost", b"1")])
    assert res.succeeded
    assert (await etcd_store.get("/t/transition")) is not None
    assert await etcd_store.get("/t/old") is None
    assert res.revision == (await etcd_store.get_prefix("/t/"))[0]

    res = await etcd_store.txn([Compare("/t/dc", "value", "=", b"n2")],
                               [Put("/t/transition", b"t2")], [Put("/t/lost", b"1")])
    assert not res.succeeded
    kv = await etcd_store.get("/t/transition")
    assert kv is not None and kv.value == b"t1"
    assert await etcd_store.get("/t/lost") is not None

    res = await etcd_store.txn([Compare("/t/dc", "version", ">", 0),
                                Compare("/t/nope", "create", "=", 0),
                                Compare("/t/dc", "lease", "=", 0)],
                               [Delete("/t/", prefix=True)])
    assert res.succeeded and (await etcd_store.get_prefix("/t/"))[1] == []


async def test_txn_errors_are_mapped(etcd_store: EtcdStore) -> None:
    with pytest.raises(EtcdDuplicateKey):
        await etcd_store.txn([], [Put("/t/a", b"1"), Put("/t/a", b"2")])


# --- leases ------------------------------------------------------------------------


async def test_lease_keepalive_expiry_deletes_keys(etcd_store: EtcdStore) -> None:
    lease, ttl = await etcd_store.lease_grant(1)
    assert ttl == 1
    await etcd_store.put("/t/members/n1", b"up", lease=lease)
    kv = await etcd_store.get("/t/members/n1")
    assert kv is not None and kv.lease == lease
    for _ in range(4):  # kept alive for longer than its TTL
        assert await etcd_store.lease_keepalive(lease) == 1
        await asyncio.sleep(0.3)
    assert await etcd_store.get("/t/members/n1") is not None

    async def gone() -> bool:
        return await etcd_store.get("/t/members/n1") is None

    started = time.monotonic()
    await wait_until("the lease to expire", gone, 5)
    assert time.monotonic() - started < 3
    with pytest.raises(LeaseLost):
        await etcd_store.lease_keepalive(lease)
    with pytest.raises(EtcdLeaseNotFound):  # also a LeaseLost
        await etcd_store.put("/t/members/n1", b"up", lease=lease)
    assert await etcd_store.lease_ttl(lease) == -1


async def test_lease_revoke_deletes_keys_and_is_idempotent(etcd_store: EtcdStore) -> None:
    lease, ttl = await etcd_store.lease_grant(30)
    assert ttl == 30
    await etcd_store.put("/t/a", b"1", lease=lease)
    assert await etcd_store.create("/t/dc", b"me", lease=lease)
    await etcd_store.lease_revoke(lease)
    assert (await etcd_store.get_prefix("/t/"))[1] == []
    await etcd_store.lease_revoke(lease)
    with pytest.raises(LeaseLost):
        await etcd_store.lease_keepalive(lease)


# --- watch -------------------------------------------------------------------------


async def test_watch_sees_puts_and_deletes_in_order_and_resumes(etcd_store: EtcdStore) -> None:
    rev, _ = await etcd_store.get_prefix("/t/")
    await etcd_store.put("/other", b"ignored")
    r1 = await etcd_store.put("/t/a", b"1")
    r2 = await etcd_store.put("/t/b", b"2")
    r3 = await etcd_store.delete("/t/a")
    watch = etcd_store.watch("/t/", rev + 1)
    try:
        first = await collect(watch, 3)
        r4 = await etcd_store.put("/t/a", b"again")  # live, after the history
        live = await collect(watch, 1)
    finally:
        await watch.aclose()
    assert [(e.type, e.kv.key, e.kv.value, e.kv.mod_revision) for e in first] == [
        ("put", "/t/a", b"1", r1), ("put", "/t/b", b"2", r2), ("delete", "/t/a", b"", r3)]
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in live] == [("put", "/t/a", r4)]

    r5 = await etcd_store.put("/t/c", b"3")
    resumed = etcd_store.watch("/t/", first[-1].kv.mod_revision + 1)
    try:
        again = await collect(resumed, 2)
    finally:
        await resumed.aclose()
    assert [(e.kv.key, e.kv.mod_revision) for e in again] == [("/t/a", r4), ("/t/c", r5)]


async def test_watch_of_a_compacted_revision_raises(etcd_store: EtcdStore) -> None:
    r1 = await etcd_store.put("/t/k", b"1")
    await etcd_store.put("/t/k", b"2")
    r3 = await etcd_store.put("/t/k", b"3")
    await etcd_store.compact(r3)
    with pytest.raises(Compacted) as info:
        async with asyncio.timeout(5):
            async for _ in etcd_store.watch("/t/", r1):
                pass
    assert info.value.compact_revision == r3
    with pytest.raises(EtcdCompacted):
        await etcd_store.compact(r1)
    events = etcd_store.watch("/t/", r3)  # the compaction point itself is still there
    try:
        assert [e.kv.value for e in await collect(events, 1)] == [b"3"]
    finally:
        await events.aclose()


async def test_watch_raises_when_its_member_stops(etcd_cluster: EtcdClusterFactory) -> None:
    cluster = await etcd_cluster(1)
    store = cluster.store()
    rev = await store.put("/t/a", b"1")
    watch = store.watch("/t/", rev)
    try:
        assert len(await collect(watch, 1)) == 1
        await cluster.stop_member(0)
        with pytest.raises(StoreUnavailable):
            await collect(watch, 1)
    finally:
        await watch.aclose()


# --- failures ----------------------------------------------------------------------


async def test_fails_over_when_the_first_member_is_stopped(
        etcd_cluster: EtcdClusterFactory) -> None:
    cluster = await etcd_cluster(3)
    store = cluster.store(request_timeout=3.0)
    await store.put("/t/a", b"1")
    await cluster.stop_member(0)
    started = time.monotonic()
    await store.put("/t/b", b"2")  # refused by member 0: sent to the next one
    kv = await store.get("/t/a")
    assert kv is not None and kv.value == b"1"
    assert time.monotonic() - started < 3.0
    assert store.current_endpoint != cluster.endpoints[0]
    watch = store.watch("/t/", 1)
    try:
        assert [e.kv.key for e in await collect(watch, 2)] == ["/t/a", "/t/b"]
    finally:
        await watch.aclose()
    assert await store.lease_keepalive((await store.lease_grant(5))[0]) == 5


async def test_reads_skip_a_hung_member_but_writes_report_outcome_unknown(
        etcd_cluster: EtcdClusterFactory) -> None:
    cluster = await etcd_cluster(3)
    probe = cluster.store()
    hung = (await leader_index(cluster, probe) + 1) % 3  # a follower: no election needed
    ep = cluster.endpoints
    order = [ep[hung], *(e for e in ep if e != ep[hung])]
    store = cluster.store(request_timeout=1.5, endpoints=order)
    await store.put("/t/a", b"1")  # a pooled connection to the member about to hang
    cluster.members[hung].pause()
    started = time.monotonic()
    kv = await store.get("/t/a")
    assert kv is not None and time.monotonic() - started < 1.5
    assert store.current_endpoint != cluster.endpoints[hung]

    writer = cluster.store(request_timeout=0.5, endpoints=order)
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown):
        await writer.put("/t/w", b"maybe")
    assert time.monotonic() - started < 0.8
    cluster.members[hung].resume()
    await cluster.members[hung].wait_healthy(10)
    # Unknown indeed: the resumed member finds the request in its socket buffer and may
    # still apply it, unless it sees the client gone first. Either way, all or nothing.
    kv = await store.get("/t/w")
    assert kv is None or kv.value == b"maybe"


async def test_hedged_keepalive_and_abandoned_writes_leave_a_hung_member(
        etcd_cluster: EtcdClusterFactory) -> None:
    """The agent's lease path: its own member stops answering (a follower whose leader
    died looks the same), the keepalive must still be acknowledged within a few hedge
    delays, and a write the caller gave up on must be retried on another member."""
    cluster = await etcd_cluster(3)
    probe = cluster.store()
    hung = (await leader_index(cluster, probe) + 1) % 3
    ep = cluster.endpoints
    order = [ep[hung], *(e for e in ep if e != ep[hung])]
    store = cluster.store(request_timeout=2.0, endpoints=order)
    lease, _ = await store.lease_grant(5)
    await store.put("/t/a", b"1")  # pooled connections to the member about to hang
    cluster.members[hung].pause()
    try:
        started = time.monotonic()
        assert await store.lease_keepalive(lease) == 5
        took = time.monotonic() - started
        assert took < 0.6, f"keepalive took {took:.2f}s behind a hung member"

        writer = cluster.store(request_timeout=2.0, endpoints=order)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):  # the agent's short attempt (QUICK_WRITE)
                await writer.put("/t/w", b"1")
        assert writer.current_endpoint != ep[hung]
        started = time.monotonic()
        await writer.put("/t/w", b"2")
        assert time.monotonic() - started < 0.6
    finally:
        cluster.members[hung].resume()
    # The abandoned put sat in the hung member's socket and may apply after the newer
    # one: why every decision write of vigil is a txn guarded by revisions.
    kv = await store.get("/t/w")
    assert kv is not None and kv.value in (b"1", b"2")


async def test_quorum_loss_is_unavailable_within_the_deadline(
        etcd_cluster: EtcdClusterFactory) -> None:
    cluster = await etcd_cluster(3)
    store = cluster.store(request_timeout=1.0)
    lease, _ = await store.lease_grant(30)
    rev = await store.put("/t/a", b"1")
    watch = store.watch("/t/", rev + 1)
    try:
        await store.put("/t/b", b"2")
        assert len(await collect(watch, 1)) == 1
        await asyncio.gather(cluster.kill_member(1), cluster.kill_member(2))
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.get("/t/a"),
            lambda: store.get_prefix("/t/"),
            lambda: store.put("/t/c", b"3"),
            lambda: store.create("/t/d", b"4"),
            lambda: store.lease_keepalive(lease),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await call()
            assert time.monotonic() - started < 1.0 + 0.3
        # The surviving member cancels watches a few election timeouts after it lost
        # its leader (hasleader metadata).
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await collect(watch, 1, timeout=10)
        assert time.monotonic() - started < 5
    finally:
        await watch.aclose()
    health = await store.health()
    assert health.leader is None
    assert health.reachable_endpoints == (cluster.endpoints[0],)


async def test_no_store_at_all_is_unavailable(free_port_factory: Callable[[], int]) -> None:
    store = EtcdStore([f"http://127.0.0.1:{free_port_factory()}"], request_timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="no etcd endpoint answered"):
            await store.get("/t/a")
        with pytest.raises(StoreUnavailable):
            await store.put("/t/a", b"1")
        with pytest.raises(StoreUnavailable):
            async for _ in store.watch("/t/", 1):
                pass
        assert time.monotonic() - started < 3 * 0.5 + 0.5
        health = await store.health()
        assert (health.reachable_endpoints, health.leader, health.revision) == ((), None, 0)
    finally:
        await store.close()


async def test_health_reports_leader_members_and_unreachable_endpoints(
        etcd_cluster: EtcdClusterFactory) -> None:
    cluster = await etcd_cluster(3)
    store = cluster.store()
    rev = await store.put("/t/a", b"1")
    h = await store.health()
    assert h.reachable_endpoints == tuple(cluster.endpoints) and h.unreachable_endpoints == ()
    assert h.leader in cluster.names and h.members == ("n1", "n2", "n3")
    assert h.revision >= rev

    down = cluster.names.index(h.leader)  # stop the leader: a new one is elected
    await cluster.stop_member(down)

    async def new_leader() -> bool:
        h2 = await store.health()
        return h2.leader is not None and h2.leader != cluster.names[down]

    await wait_until("a new leader", new_leader, 10)
    h = await store.health()
    assert h.unreachable_endpoints == (cluster.endpoints[down],)
    assert set(h.reachable_endpoints) == set(cluster.endpoints) - {cluster.endpoints[down]}
    assert h.members == ("n1", "n2", "n3")


async def test_health_answers_promptly_beside_a_hung_member(
        etcd_cluster: EtcdClusterFactory) -> None:
    """The majority side of a partition: a member that does not answer at all (packets
    vanish) must not make `vigil status` report every member unreachable."""
    cluster = await etcd_cluster(3)
    store = cluster.store(request_timeout=2.0)
    await store.put("/t/a", b"1")
    hung = (await leader_index(cluster, store) + 1) % 3
    cluster.members[hung].pause()
    try:
        started = time.monotonic()
        async with asyncio.timeout(1.0):  # what the API gives it
            h = await store.health()
        assert time.monotonic() - started < 0.9
    finally:
        cluster.members[hung].resume()
    assert h.unreachable_endpoints == (cluster.endpoints[hung],)
    assert h.leader is not None and h.leader != cluster.names[hung]


# --- the embedded member -----------------------------------------------------------


async def test_member_restarts_on_its_data_dir(etcd_cluster: EtcdClusterFactory) -> None:
    cluster = await etcd_cluster(3)
    store = cluster.store()
    await store.put("/t/a", b"1")
    await cluster.kill_member(2)
    await leader_index(cluster, store)  # a write in flight as the leader dies: outcome unknown
    await store.put("/t/b", b"2")  # while it is down
    await cluster.start_member(2)  # rejoins: --initial-cluster* ignored, catches up
    alone = cluster.store(endpoints=[cluster.endpoints[2]])
    _, kvs = await alone.get_prefix("/t/")
    assert [k.key for k in kvs] == ["/t/a", "/t/b"]


async def test_supervise_restarts_a_crashed_member(etcd_cluster: EtcdClusterFactory) -> None:
    cluster = await etcd_cluster(1)
    member = cluster.members[0]
    store = cluster.store()
    await store.put("/t/a", b"1")
    exits: list[int | None] = []
    task = asyncio.create_task(member.supervise(min_backoff=0.1, on_restart=exits.append))
    try:
        first = member.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)

        async def back() -> bool:
            return member.running and member.pid != first and await member.is_healthy()

        await wait_until("the member to be restarted", back, 15)
        assert member.restarts == 1 and exits == [-signal.SIGKILL]
        assert (await store.get("/t/a")) is not None
        await member.stop()
        await asyncio.wait_for(task, 5)  # a requested stop ends supervision
        assert not member.running and member.restarts == 1
    finally:
        task.cancel()


async def test_a_new_supervisor_adopts_a_running_member(
        etcd_cluster: EtcdClusterFactory) -> None:
    cluster = await etcd_cluster(1)
    old = cluster.members[0]
    new = EmbeddedEtcd(cluster.config, old.node.name, old.state_dir, binary=old.binary)
    await new.start()  # the previous agent died; its member kept running
    assert new.adopted and new.pid == old.pid and new.running
    await new.wait_healthy(5)
    await new.stop(grace=5)  # stops the adopted process (not its child)

    async def gone() -> bool:
        return not old.running and not new.running

    await wait_until("the member to exit", gone, 5)

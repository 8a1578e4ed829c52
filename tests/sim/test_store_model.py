"""The etcd model of the simulator: revisions, txn compares, leases on virtual time,
watches and compaction, partitions, and determinism."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.sim.clock import VirtualClock
from vigil.sim.store_model import SimStore, StoreModel
from vigil.store.base import (
    Compacted,
    Compare,
    Delete,
    LeaseLost,
    Put,
    StoreUnavailable,
    WatchEvent,
)


def make(
    seed: int = 0, expiry_granularity: float = 0.5, min_ttl: int = 1
) -> tuple[VirtualClock, StoreModel]:
    clock = VirtualClock()
    model = StoreModel(clock, seed=seed, expiry_granularity=expiry_granularity, min_ttl=min_ttl)
    return clock, model


def test_clock_fires_in_time_then_insertion_order() -> None:
    clock = VirtualClock(10.0)
    fired: list[tuple[str, float]] = []
    clock.call_at(12.0, lambda: fired.append(("b", clock.now())))
    clock.call_at(11.0, lambda: fired.append(("a", clock.now())))
    clock.call_at(12.0, lambda: fired.append(("c", clock.now())))
    clock.call_at(11.5, lambda: clock.call_later(0.5, lambda: fired.append(("d", clock.now()))))
    clock.call_at(13.0, lambda: fired.append(("late", clock.now()))).cancel()
    assert clock.advance(1.9) == 2  # a at 11, the 11.5 scheduler
    assert fired == [("a", 11.0)]
    clock.run_until(20.0)
    assert fired == [("a", 11.0), ("b", 12.0), ("c", 12.0), ("d", 12.0)]
    assert clock.now() == 20.0
    with pytest.raises(ValueError):
        clock.run_until(19.0)


def test_create_if_absent_wins_once() -> None:
    _, m = make()
    first = SimStore(m, "n1")
    second = SimStore(m, "n2")

    async def race() -> list[bool]:
        return [await s.create("/dc", s.client.encode()) for s in (first, second, first)]

    assert asyncio.run(race()) == [True, False, False]
    kv = m.get("/dc")
    assert kv is not None and kv.value == b"n1" and kv.version == 1


def test_cas_on_stale_revision_fails() -> None:
    _, m = make()
    m.put("/k", b"a")
    kv = m.get("/k")
    assert kv is not None
    m.put("/k", b"b")
    stale = m.txn([Compare("/k", "mod", "=", kv.mod_revision)], [Put("/k", b"c")])
    assert not stale.succeeded
    now = m.get("/k")
    assert now is not None and now.value == b"b" and now.version == 2
    assert now.create_revision == kv.create_revision
    fresh = m.txn([Compare("/k", "mod", "=", now.mod_revision)], [Put("/k", b"c")])
    assert fresh.succeeded and fresh.revision == now.mod_revision + 1


def test_txn_both_branches_and_compare_semantics() -> None:
    _, m = make()
    rev0 = m.revision
    ok = m.txn(
        [Compare("/a", "version", "=", 0)],
        [Put("/a", b"x"), Put("/b", b"y")],
        [Put("/failed", b"1")],
    )
    assert ok.succeeded and ok.revision == rev0 + 1  # one revision for the whole txn
    a, b = m.get("/a"), m.get("/b")
    assert a is not None and b is not None and a.mod_revision == b.mod_revision == ok.revision
    bad = m.txn(
        [Compare("/a", "value", "=", b"x"), Compare("/b", "value", ">", b"z")],
        [Delete("/a")],
        [Put("/failed", b"1")],
    )
    assert not bad.succeeded and bad.revision == ok.revision + 1
    assert m.get("/a") is not None and m.get("/failed") is not None
    # A missing key: revisions and lease 0, and any value compare fails.
    missing = [Compare("/none", "create", "=", 0), Compare("/none", "lease", "=", 0)]
    assert m.txn(missing, []).succeeded
    assert not m.txn([Compare("/none", "value", "!=", b"q")], []).succeeded
    assert m.txn([Compare("/a", "mod", "<", m.revision + 1)], []).succeeded
    # A txn that changes nothing keeps the revision.
    assert m.txn([], [Delete("/none")]).revision == bad.revision
    with pytest.raises(TypeError):
        m.txn([Compare("/a", "value", "=", 1)], [])


def test_get_prefix_reads_one_revision() -> None:
    _, m = make()
    m.put("/c/2", b"2")
    m.put("/c/1", b"1")
    m.put("/other", b"o")
    rev, kvs = m.get_prefix("/c/")
    assert rev == m.revision
    assert [kv.key for kv in kvs] == ["/c/1", "/c/2"]
    assert all(kv.mod_revision <= rev for kv in kvs)
    deleted_at = m.delete("/c/", prefix=True)
    assert m.get_prefix("/c/") == (deleted_at, [])
    assert m.get("/other") is not None


def test_lease_expiry_with_granularity_and_keepalive() -> None:
    clock, m = make(expiry_granularity=0.5)
    clock.advance(0.3)
    lease, ttl = m.lease_grant(2)
    assert ttl == 2
    m.put("/members/n1", b"up", lease)
    m.put("/members/n2", b"up", lease)
    clock.run_until(2.29)
    assert m.lease_keepalive(lease) == 2  # now expires at 4.29
    clock.run_until(4.29)
    assert m.get("/members/n1") is not None
    with pytest.raises(LeaseLost):  # past expiry: etcd no longer renews it
        m.lease_keepalive(lease)
    clock.run_until(4.49)
    assert m.get("/members/n1") is not None  # not collected before the next 0.5 s check
    rev = m.revision
    clock.run_until(4.5)
    assert m.get_prefix("/members/") == (rev + 1, [])  # both keys in one revision
    assert [e.type for e in m.log[-2:]] == ["delete", "delete"]
    with pytest.raises(LeaseLost):
        m.lease_keepalive(lease)
    with pytest.raises(LeaseLost):
        m.put("/x", b"", lease)
    assert clock.next_deadline() is None  # no lease left: no expiry check pending


def test_min_ttl_and_revoke() -> None:
    _, m = make(min_ttl=3)
    lease, ttl = m.lease_grant(1)
    assert ttl == 3
    m.put("/dc", b"n1", lease)
    m.put("/dc", b"n1-plain")  # re-put without the lease detaches the key
    m.put("/suspects/n1", b"", lease)
    rev = m.revision
    m.lease_revoke(lease)
    assert m.revision == rev + 1
    assert m.get("/suspects/n1") is None and m.get("/dc") is not None
    m.lease_revoke(lease)  # gone: no-op
    assert m.revision == rev + 1


def test_lease_ids_are_deterministic_per_seed() -> None:
    ids = [make(seed=7)[1].lease_grant(5)[0] for _ in range(2)]
    assert ids[0] == ids[1]
    assert make(seed=8)[1].lease_grant(5)[0] != ids[0]


def test_watch_events_in_order_and_resume() -> None:
    _, m = make()
    start = m.revision + 1
    m.put("/w/a", b"1")
    m.txn([], [Put("/w/b", b"2"), Put("/elsewhere", b"x")])
    m.delete("/w/a")
    events = m.watch_from("/w/", start)
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [
        ("put", "/w/a", start),
        ("put", "/w/b", start + 1),
        ("delete", "/w/a", start + 2),
    ]
    assert m.watch_from("/w/", events[1].kv.mod_revision + 1) == events[2:]


def test_compaction() -> None:
    _, m = make()
    for i in range(5):
        m.put("/k", str(i).encode())
    m.compact(4)
    with pytest.raises(Compacted) as err:
        m.watch_from("/", 3)
    assert err.value.compact_revision == 4
    assert [e.kv.mod_revision for e in m.watch_from("/", 4)] == [4, 5, 6]
    with pytest.raises(Compacted):
        m.compact(4)
    with pytest.raises(ValueError):
        m.compact(m.revision + 1)


def test_partitioned_client_is_unavailable_while_others_proceed() -> None:
    _, m = make()
    cut, ok = SimStore(m, "n1"), SimStore(m, "n2")

    async def scenario() -> None:
        lease, _ = await cut.lease_grant(5)
        m.cut("n1")
        for call in (cut.get("/k"), cut.put("/k", b"1"), cut.lease_keepalive(lease)):
            with pytest.raises(StoreUnavailable):
                await call
        assert (await cut.health()).leader is None
        assert await ok.create("/dc", b"n2")
        assert await ok.lease_keepalive(lease) == 5
        m.heal()
        assert (await cut.get("/dc")) is not None

    asyncio.run(scenario())


def test_sim_store_watch_streams_batches_and_breaks_on_partition() -> None:
    _, m = make()
    store = SimStore(m, "n1")
    writer = SimStore(m, "n2")

    async def scenario() -> list[list[WatchEvent]]:
        rev, _ = await store.get_prefix("/w/")
        seen: list[list[WatchEvent]] = []

        async def consume() -> None:
            async for batch in store.watch("/w/", rev + 1):
                seen.append(batch)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0)
        await writer.put("/w/a", b"1")
        await writer.txn([], [Put("/w/b", b"2"), Put("/w/c", b"3")])
        await asyncio.sleep(0)
        m.cut("n1")
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(task, 1)
        return seen

    seen = asyncio.run(scenario())
    assert [[e.kv.key for e in b] for b in seen] == [["/w/a"], ["/w/b", "/w/c"]]


def test_sim_store_watch_raises_compacted() -> None:
    _, m = make()
    store = SimStore(m, "n1")
    m.put("/k", b"1")
    m.put("/k", b"2")
    m.compact(m.revision)

    async def scenario() -> None:
        with pytest.raises(Compacted):
            async for _ in store.watch("/", 1):
                pass

    asyncio.run(scenario())


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(["/a", "/b", "/c/1", "/c/2"]), st.booleans()),
        st.tuples(st.just("delete"), st.sampled_from(["/a", "/c/", "/zz"]), st.booleans()),
        st.tuples(st.just("cas"), st.sampled_from(["/a", "/b"]), st.integers(0, 30)),
        st.tuples(st.just("grant"), st.just(""), st.integers(1, 3)),
        st.tuples(st.just("keepalive"), st.just(""), st.integers(0, 3)),
        st.tuples(st.just("revoke"), st.just(""), st.integers(0, 3)),
        st.tuples(st.just("advance"), st.just(""), st.integers(1, 1500)),
    ),
    max_size=60,
)


def run_ops(seed: int, ops: list[tuple[str, str, int]]) -> tuple[StoreModel, list[int]]:
    """Apply ops, checking after each that revisions only grow and never run ahead."""
    clock, m = make(seed=seed)
    leases: list[int] = []
    revisions = [m.revision]
    for kind, key, arg in ops:
        try:
            if kind == "put":
                m.put(key, b"v", leases[-1] if arg and leases else 0)
            elif kind == "delete":
                m.delete(key, prefix=bool(arg))
            elif kind == "cas":
                m.txn([Compare(key, "mod", "=", arg)], [Put(key, b"c")])
            elif kind == "grant":
                leases.append(m.lease_grant(arg)[0])
            elif kind == "keepalive" and leases:
                m.lease_keepalive(leases[arg % len(leases)])
            elif kind == "revoke" and leases:
                m.lease_revoke(leases[arg % len(leases)])
            elif kind == "advance":
                clock.advance(arg / 1000)
        except LeaseLost:
            pass
        assert m.revision >= revisions[-1]
        revisions.append(m.revision)
        rev, kvs = m.get_prefix("")
        assert all(0 < kv.create_revision <= kv.mod_revision <= rev for kv in kvs)
        assert all(kv.lease == 0 or kv.lease in m.leases for kv in kvs)
    log_revs = [e.kv.mod_revision for e in m.log]
    assert log_revs == sorted(log_revs)
    assert all(r <= m.revision for r in log_revs)
    return m, leases


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), OPS)
def test_random_ops_keep_revisions_monotonic_and_are_deterministic(
    seed: int, ops: list[tuple[str, str, int]]
) -> None:
    first, leases1 = run_ops(seed, ops)
    second, leases2 = run_ops(seed, ops)
    assert first.log == second.log
    assert leases1 == leases2
    assert first.get_prefix("") == second.get_prefix("")
    # Every revision bump is one distinct revision in the log (strictly increasing).
    distinct = sorted({e.kv.mod_revision for e in first.log})
    assert distinct == list(range(2, first.revision + 1))

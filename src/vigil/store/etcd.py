"""EtcdStore: the Store on etcd's v3 JSON gateway (grpc-gateway), over aiohttp.

The gateway speaks JSON over HTTP/1.1 POST: keys and values are base64, int64 fields are
decimal strings, fields at their zero value are left out (a failed txn has no
`succeeded`, a PUT watch event no `type`, a keepalive of an unknown lease no `TTL`).
Unary errors come back as `{"error", "message", "code"}` with an HTTP status; a streaming
call (watch, keepalive) reports an error inside a 200 stream as
`{"error": {"grpc_code", "http_code", "message", "http_status"}}`.

Every call runs under one deadline (`request_timeout`). Endpoints are tried in turn, the
one that answered last first:
  - an endpoint that refuses the connection is skipped for every call (nothing was sent);
  - reads and other idempotent calls (range, status, lease grant/keepalive/revoke) are
    *hedged*: when the first member has not answered within `hedge_after`, the same call
    goes to the next member too, and the first answer wins. A follower whose leader just
    died (its forwarded keepalives vanish) thus costs `hedge_after`, not the lease;
  - writes (put, delete, txn, compaction) move on only when the member rejected them
    before proposing ("no leader", "too many requests"); once a write may have been
    delivered, a failure raises `OutcomeUnknown` (a StoreUnavailable) and is not retried.
    With several endpoints an attempt gets a share of the deadline, and a member that did
    not answer (or whose caller gave up on it) stops being the first choice, so the
    caller's retry goes elsewhere.
KV, lease and watch calls carry gRPC metadata `hasleader=true`: a member cut off from
its leader rejects them at once instead of hanging until the deadline, and cancels
watches about three election timeouts after it lost its leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Final

import aiohttp

from vigil.store.base import (
    Compare,
    KeyValue,
    LeaseLost,
    OutcomeUnknown,
    Store,
    StoreError,
    StoreHealth,
    StoreUnavailable,
    TxnOp,
    TxnResult,
    WatchEvent,
)
from vigil.store.etcd_errors import (
    _RETRY_WRITE,
    EtcdCompacted,
    EtcdDuplicateKey,
    EtcdError,
    EtcdFutureRevision,
    EtcdInvalidArgument,
    EtcdLeaderChanged,
    EtcdLeaseNotFound,
    EtcdNoLeader,
    EtcdNoSpace,
    EtcdNotCapable,
    EtcdPermissionDenied,
    EtcdProtocolError,
    EtcdRequestTimedOut,
    EtcdRequestTooLarge,
    EtcdTooManyOps,
    EtcdTooManyRequests,
    EtcdUnauthenticated,
    EtcdUnavailable,
    EtcdWatchCanceled,
    error_from_response,
)
from vigil.store.etcd_wire import (
    JSON,
    JsonStream,
    _compare,
    _int,
    _kv,
    _op,
    _parse_body,
    _put_fields,
    _range_fields,
    _revision,
    _watch_events,
    prefix_range_end,
)

__all__ = [
    "EtcdCompacted",
    "EtcdDuplicateKey",
    "EtcdError",
    "EtcdFutureRevision",
    "EtcdInvalidArgument",
    "EtcdLeaderChanged",
    "EtcdLeaseNotFound",
    "EtcdNoLeader",
    "EtcdNoSpace",
    "EtcdNotCapable",
    "EtcdPermissionDenied",
    "EtcdProtocolError",
    "EtcdRequestTimedOut",
    "EtcdRequestTooLarge",
    "EtcdStore",
    "EtcdTooManyOps",
    "EtcdTooManyRequests",
    "EtcdUnauthenticated",
    "EtcdUnavailable",
    "EtcdWatchCanceled",
    "JsonStream",
    "OutcomeUnknown",
    "error_from_response",
    "normalize_endpoint",
    "prefix_range_end",
]

log = logging.getLogger(__name__)

_REQUIRE_LEADER: Final = {"Grpc-Metadata-hasleader": "true"}
_MIN_ATTEMPT: Final = 0.5
"""Smallest share of the deadline one write attempt gets (with several endpoints)."""
HEALTH_PROBE_TIMEOUT: Final = 0.6
"""A member whose status takes longer counts as unreachable: health answers promptly
(`vigil status` on the majority side of a partition must not wait for the minority)."""
HEDGE_AFTER: Final = 0.1
"""Seconds without an answer before an idempotent call is also sent to the next member."""


def normalize_endpoint(endpoint: str) -> str:
    endpoint = endpoint.strip().rstrip("/")
    return endpoint if "://" in endpoint else f"http://{endpoint}"


# --- the store ----------------------------------------------------------------------


class EtcdStore(Store):
    """A Store on one etcd cluster, reached through any of `endpoints` (client URLs)."""

    def __init__(self, endpoints: Sequence[str], request_timeout: float = 2.0,
                 hedge_after: float = HEDGE_AFTER) -> None:
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not endpoints:
            raise ValueError("EtcdStore needs at least one endpoint")
        if request_timeout <= 0:
            raise ValueError("request_timeout must be positive")
        self._endpoints: tuple[str, ...] = tuple(normalize_endpoint(e) for e in endpoints)
        self.request_timeout = request_timeout
        self.hedge_after = hedge_after
        self._current = 0
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._endpoints

    @property
    def current_endpoint(self) -> str:
        """The endpoint the next call tries first (the one that answered last)."""
        return self._endpoints[self._current]

    # --- transport ---

    def _session_or_open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise StoreError("EtcdStore is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30.0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),  # deadlines are ours
                headers={"Content-Type": "application/json"},
            )
        return self._session

    def _rotate(self, index: int) -> None:
        if self._current == index:
            self._current = (index + 1) % len(self._endpoints)

    async def _post_once(self, endpoint: str, path: str, body: JSON, leader: bool) -> JSON:
        session = self._session_or_open()
        headers = _REQUIRE_LEADER if leader else None
        async with session.post(
            endpoint + path, data=json.dumps(body), headers=headers
        ) as resp:
            raw = await resp.read()
            return _parse_body(raw, resp.status)

    async def _call(
        self, path: str, body: JSON, *, retry: bool, leader: bool = True
    ) -> JSON:
        """POST to the first endpoint that answers, within one deadline (see module doc)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout
        errors: list[str] = []
        sent: list[bool] = [False]
        try:
            async with asyncio.timeout_at(deadline):
                if retry:
                    return await self._hedged(path, body, leader, errors)
                return await self._write(path, body, leader, deadline, errors, sent)
        except TimeoutError:
            if sent[0]:
                raise OutcomeUnknown(
                    f"{path}: outcome unknown, no answer within {self.request_timeout}s"
                ) from None
            n = len(self._endpoints)
            detail = "; ".join(errors[-n:]) or "no answer"
            raise StoreUnavailable(
                f"{path}: no etcd endpoint answered within {self.request_timeout}s ({detail})"
            ) from None

    async def _hedged(self, path: str, body: JSON, leader: bool, errors: list[str]) -> JSON:
        """An idempotent call: a new member joins the race every `hedge_after` seconds
        without an answer (at once when an attempt fails); the first answer wins."""
        n = len(self._endpoints)
        pending: dict[asyncio.Task[JSON], int] = {}
        cursor = self._current
        launched = 0
        rounds = 0
        try:
            while True:
                if launched < n:
                    index = cursor
                    cursor = (cursor + 1) % n
                    launched += 1
                    task = asyncio.ensure_future(
                        self._post_once(self._endpoints[index], path, body, leader))
                    task.add_done_callback(_retrieve)
                    pending[task] = index
                    wait: float | None = self.hedge_after
                elif not pending:  # every member failed this round: back off, go again
                    rounds += 1
                    await asyncio.sleep(min(0.025 * 2**rounds, 0.25))
                    launched = 0
                    continue
                else:
                    wait = None
                done, _ = await asyncio.wait(pending, timeout=wait,
                                             return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    index = pending.pop(task)
                    exc = task.exception()
                    if exc is None:
                        self._current = index
                        return task.result()
                    if not isinstance(exc, _RETRYABLE):
                        raise exc
                    errors.append(f"{self._endpoints[index]}: {_describe(exc)}")
                    log.debug("etcd %s failed on %s: %s", path, self._endpoints[index],
                              errors[-1])
                    if index == self._current:
                        self._rotate(index)
        finally:
            for task in pending:
                task.cancel()

    async def _write(self, path: str, body: JSON, leader: bool, deadline: float,
                     errors: list[str], sent: list[bool]) -> JSON:
        """A write: tried on the next member only when it surely was not applied."""
        loop = asyncio.get_running_loop()
        n = len(self._endpoints)
        share = max(self.request_timeout / n, _MIN_ATTEMPT) if n > 1 else None
        attempt = 0
        rounds = 0
        while True:
            index = self._current
            endpoint = self._endpoints[index]
            sent[0] = True  # from here on the write may reach the member
            try:
                if share is None:
                    return await self._post_once(endpoint, path, body, leader)
                async with asyncio.timeout_at(min(loop.time() + share, deadline)):
                    return await self._post_once(endpoint, path, body, leader)
            except aiohttp.ClientConnectorError as e:  # never delivered
                errors.append(f"{endpoint}: {e.os_error or e}")
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                self._rotate(index)  # the caller's retry should try another member
                raise OutcomeUnknown(
                    f"{path} on {endpoint}: outcome unknown ({_describe(e)})") from e
            except EtcdUnavailable as e:
                if not isinstance(e, _RETRY_WRITE):
                    self._rotate(index)
                    raise OutcomeUnknown(f"{path} on {endpoint}: outcome unknown ({e})") from e
                errors.append(f"{endpoint}: {e}")
            except asyncio.CancelledError:
                self._rotate(index)  # the caller gave up on this member: try another next
                raise
            sent[0] = False  # rejected before it was proposed
            log.debug("etcd %s failed on %s: %s", path, endpoint, errors[-1])
            self._rotate(index)
            attempt += 1
            if attempt % n == 0:
                rounds += 1
                await asyncio.sleep(min(0.025 * 2**rounds, 0.25))

    # --- KV ---

    async def get(self, key: str) -> KeyValue | None:
        resp = await self._call("/v3/kv/range", _range_fields(key, False), retry=True)
        kvs = resp.get("kvs") or []
        return _kv(kvs[0]) if kvs else None

    async def get_prefix(self, prefix: str) -> tuple[int, list[KeyValue]]:
        resp = await self._call("/v3/kv/range", _range_fields(prefix, True), retry=True)
        return _revision(resp), [_kv(kv) for kv in resp.get("kvs") or []]

    async def put(self, key: str, value: bytes, lease: int = 0) -> int:
        resp = await self._call("/v3/kv/put", _put_fields(key, value, lease), retry=False)
        return _revision(resp)

    async def delete(self, key: str, prefix: bool = False) -> int:
        """Delete key (or every key under it); returns the store revision after it."""
        resp = await self._call("/v3/kv/deleterange", _range_fields(key, prefix), retry=False)
        return _revision(resp)

    async def txn(
        self,
        compares: Sequence[Compare],
        success: Sequence[TxnOp],
        failure: Sequence[TxnOp] = (),
    ) -> TxnResult:
        body: JSON = {
            "compare": [_compare(c) for c in compares],
            "success": [_op(op) for op in success],
            "failure": [_op(op) for op in failure],
        }
        resp = await self._call("/v3/kv/txn", body, retry=False)
        return TxnResult(bool(resp.get("succeeded", False)), _revision(resp))

    async def compact(self, revision: int, physical: bool = True) -> None:
        """Discard history before `revision`; watches from older revisions get Compacted."""
        body: JSON = {"revision": str(revision), "physical": physical}
        await self._call("/v3/kv/compaction", body, retry=False)

    # --- leases ---

    async def lease_grant(self, ttl: int) -> tuple[int, int]:
        # Retried: a lease granted by a lost attempt only expires unused.
        resp = await self._call("/v3/lease/grant", {"TTL": str(ttl)}, retry=True)
        if resp.get("error"):
            raise error_from_response({"message": resp["error"]})
        return _int(resp, "ID"), _int(resp, "TTL")

    async def lease_keepalive(self, lease_id: int) -> int:
        """Renew once; the caller should take its timestamp *before* calling (S2)."""
        resp = await self._call("/v3/lease/keepalive", {"ID": str(lease_id)}, retry=True)
        result = resp.get("result")
        ttl = _int(result, "TTL") if isinstance(result, dict) else 0
        if ttl <= 0:
            raise LeaseLost(f"lease {lease_id:x} expired or was revoked")
        return ttl

    async def lease_revoke(self, lease_id: int) -> None:
        """Revoke the lease, deleting its keys; revoking a lease already gone is a no-op."""
        with contextlib.suppress(EtcdLeaseNotFound):
            await self._call("/v3/lease/revoke", {"ID": str(lease_id)}, retry=True)

    async def lease_ttl(self, lease_id: int) -> int:
        """Remaining whole seconds of a lease (-1 when it is gone)."""
        resp = await self._call("/v3/lease/timetolive", {"ID": str(lease_id)}, retry=True)
        return _int(resp, "TTL")  # etcd says -1 for an unknown lease; 0 is left out

    # --- watch ---

    async def watch(
        self,
        prefix: str,
        start_revision: int,
        *,
        progress_notify: bool = False,
        idle_timeout: float | None = None,
    ) -> AsyncGenerator[list[WatchEvent], None]:
        """Batches of events under prefix from start_revision on, in revision order.

        Raises Compacted if start_revision is gone, StoreUnavailable when the stream
        breaks (or, with idle_timeout, when nothing arrives for that long: pair it with
        progress_notify and etcd's --experimental-watch-progress-notify-interval).
        """
        create: JSON = _range_fields(prefix, True)
        create["start_revision"] = str(start_revision)
        if progress_notify:
            create["progress_notify"] = True
        resp, stream, pending = await self._open_watch({"create_request": create})
        try:
            while True:
                for message in pending:
                    events = _watch_events(message)
                    if events:
                        yield events
                try:
                    async with asyncio.timeout(idle_timeout):
                        chunk = await resp.content.readany()
                except TimeoutError:
                    raise StoreUnavailable(
                        f"watch {prefix!r}: no message for {idle_timeout}s"
                    ) from None
                except (aiohttp.ClientError, OSError) as e:
                    raise StoreUnavailable(f"watch {prefix!r} broke: {_describe(e)}") from e
                if not chunk:
                    raise StoreUnavailable(f"watch {prefix!r}: stream closed by the server")
                pending = stream.feed(chunk)
        finally:
            resp.close()

    async def _open_watch(
        self, body: JSON
    ) -> tuple[aiohttp.ClientResponse, JsonStream, list[JSON]]:
        """Start a watch stream on the first endpoint that confirms it (within the deadline)."""
        session = self._session_or_open()
        errors: list[str] = []
        n = len(self._endpoints)
        # From the first endpoint (the agent's own member) on, not the last one that
        # answered: a watch on a member behind a partition stalls without an error, while
        # the own member, once cut from its leader, cancels its watches (hasleader).
        index = 0
        try:
            async with asyncio.timeout(self.request_timeout):
                attempt = 0
                while True:
                    endpoint = self._endpoints[index]
                    resp: aiohttp.ClientResponse | None = None
                    try:
                        resp = await session.post(
                            endpoint + "/v3/watch", data=json.dumps(body), headers=_REQUIRE_LEADER
                        )
                        if resp.status != 200:
                            _parse_body(await resp.read(), resp.status)  # raises
                        stream = JsonStream()
                        pending: list[JSON] = []
                        while not pending:
                            chunk = await resp.content.readany()
                            if not chunk:
                                raise EtcdUnavailable("watch stream closed before it was created")
                            pending = stream.feed(chunk)
                        first = pending[0]
                        result = first.get("result")
                        if not isinstance(result, dict) or not result.get("created"):
                            _watch_events(first)  # raises if it is an error
                            raise EtcdProtocolError(f"watch not created: {first!r}")
                        if result.get("canceled"):
                            _watch_events(first)
                        return resp, stream, pending[1:]
                    except (aiohttp.ClientError, OSError, EtcdUnavailable) as e:
                        if resp is not None:
                            resp.close()
                        if isinstance(e, EtcdWatchCanceled):
                            raise
                        errors.append(f"{endpoint}: {_describe(e)}")
                    except BaseException:
                        if resp is not None:
                            resp.close()
                        raise
                    index = (index + 1) % n
                    attempt += 1
                    if attempt % n == 0:
                        await asyncio.sleep(0.05)
        except TimeoutError:
            detail = "; ".join(errors[-n:]) or "no answer"
            raise StoreUnavailable(
                f"watch: no etcd endpoint answered within {self.request_timeout}s ({detail})"
            ) from None

    # --- cluster ---

    async def _probe(self, endpoint: str) -> tuple[JSON, JSON | None]:
        """An endpoint's status and (best effort) its member list, in one deadline."""
        async with asyncio.timeout(min(self.request_timeout, HEALTH_PROBE_TIMEOUT)):
            status = await self._post_once(endpoint, "/v3/maintenance/status", {}, leader=False)
            try:
                members = await self._post_once(
                    endpoint, "/v3/cluster/member/list", {}, leader=False
                )
            except (aiohttp.ClientError, OSError, EtcdError):
                members = None
            return status, members

    async def health(self) -> StoreHealth:
        """Asks every endpoint for its status, in parallel within one deadline."""
        self._session_or_open()
        results = await asyncio.gather(
            *(self._probe(e) for e in self._endpoints), return_exceptions=True
        )
        reachable: list[tuple[str, JSON]] = []
        unreachable: list[str] = []
        names: dict[int, str] = {}
        for endpoint, res in zip(self._endpoints, results, strict=True):
            if isinstance(res, BaseException):
                if not isinstance(res, Exception):
                    raise res  # CancelledError and friends
                log.debug("etcd status of %s failed: %s", endpoint, _describe(res))
                unreachable.append(endpoint)
                continue
            status, members = res
            reachable.append((endpoint, status))
            for m in (members or {}).get("members") or []:
                member_id = _int(m, "ID")
                names.setdefault(member_id, m.get("name") or f"{member_id:x}")
        # The leader as seen by the member with the highest term that knows one.
        with_leader = [s for _, s in reachable if _int(s, "leader")]
        leader: str | None = None
        if with_leader:
            best = max(with_leader, key=lambda s: _int(s, "raftTerm"))
            leader_id = _int(best, "leader")
            leader = names.get(leader_id, f"{leader_id:x}")
        revision = max((_revision(s) for _, s in reachable), default=0)
        return StoreHealth(
            reachable_endpoints=tuple(e for e, _ in reachable),
            unreachable_endpoints=tuple(unreachable),
            leader=leader,
            revision=revision,
            members=tuple(sorted(names.values())),
        )

    async def wait_ready(self, timeout: float) -> int:
        """Until a linearizable read succeeds (quorum + leader); returns the revision."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: Exception | None = None
        while True:
            try:
                async with asyncio.timeout_at(max(deadline, loop.time() + 0.05)):
                    rev, _ = await self._range_count()
                return rev
            except (StoreUnavailable, TimeoutError) as e:
                last = e
            if loop.time() >= deadline:
                raise StoreUnavailable(f"etcd not ready within {timeout}s: {last}")
            await asyncio.sleep(min(0.1, max(0.0, deadline - loop.time())))

    async def _range_count(self) -> tuple[int, int]:
        body = _range_fields("", True)
        body["count_only"] = True
        resp = await self._call("/v3/kv/range", body, retry=True)
        return _revision(resp), _int(resp, "count")

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> EtcdStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


_RETRYABLE: Final = (aiohttp.ClientError, TimeoutError, OSError, EtcdUnavailable)


def _retrieve(task: asyncio.Task[JSON]) -> None:
    """Hedged attempts that lost the race may still fail later: mark it seen."""
    if not task.cancelled():
        task.exception()


def _describe(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__

"""The errors etcd reports, one exception class each, and how an error body maps to one.

Errors whose member cannot serve the request now are `StoreUnavailable`s (the caller may
try again or elsewhere); `OutcomeUnknown` is raised when a write may have been applied.
`vigil.store.etcd` re-exports all of them.
"""

from __future__ import annotations

from typing import Final

from vigil.store.base import LeaseLost, StoreError, StoreUnavailable


class EtcdError(StoreError):
    """An error etcd reported; `code` is the gRPC status code when known."""

    def __init__(self, message: str, code: int | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


class EtcdUnavailable(EtcdError, StoreUnavailable):
    """gRPC Unavailable / DeadlineExceeded: the member cannot serve the request now."""


class EtcdNoLeader(EtcdUnavailable):
    """The member has no leader; it rejected the request before proposing it."""


class EtcdLeaderChanged(EtcdUnavailable):
    """The leader changed while the request was in flight."""


class EtcdRequestTimedOut(EtcdUnavailable):
    """etcd's own request timeout: a write may or may not have been applied."""


class EtcdTooManyRequests(EtcdUnavailable):
    """The member is overloaded (apply lags commit); rejected before proposing."""


class EtcdNotCapable(EtcdUnavailable):
    """The member is not ready for v3 requests yet (still starting)."""


class EtcdWatchCanceled(EtcdUnavailable):
    """The server canceled a watch for another reason than compaction."""


class EtcdLeaseNotFound(EtcdError, LeaseLost):
    """etcdserver: requested lease not found."""


class EtcdInvalidArgument(EtcdError):
    """The request itself is wrong (gRPC InvalidArgument)."""


class EtcdDuplicateKey(EtcdInvalidArgument):
    """A txn writes the same key twice in one branch."""


class EtcdTooManyOps(EtcdInvalidArgument):
    """A txn has more operations than the server's --max-txn-ops."""


class EtcdRequestTooLarge(EtcdInvalidArgument):
    """The request exceeds the server's --max-request-bytes."""


class EtcdCompacted(EtcdError):
    """A request named a revision that was compacted away (also: compacting it again)."""


class EtcdFutureRevision(EtcdError):
    """A request named a revision the store has not reached."""


class EtcdNoSpace(EtcdError):
    """The backend quota is exceeded (NOSPACE alarm): writes fail until defrag+disarm."""


class EtcdPermissionDenied(EtcdError):
    """gRPC PermissionDenied."""


class EtcdUnauthenticated(EtcdError):
    """gRPC Unauthenticated (auth enabled, token missing or invalid)."""


class EtcdProtocolError(EtcdError):
    """The gateway answered something that is not the expected JSON."""


_BY_MESSAGE: Final[dict[str, type[EtcdError]]] = {
    "etcdserver: no leader": EtcdNoLeader,
    "etcdserver: leader changed": EtcdLeaderChanged,
    "etcdserver: too many requests": EtcdTooManyRequests,
    "etcdserver: not capable": EtcdNotCapable,
    "etcdserver: requested lease not found": EtcdLeaseNotFound,
    "etcdserver: duplicate key given in txn request": EtcdDuplicateKey,
    "etcdserver: too many operations in txn request": EtcdTooManyOps,
    "etcdserver: request is too large": EtcdRequestTooLarge,
    "etcdserver: mvcc: required revision has been compacted": EtcdCompacted,
    "etcdserver: mvcc: required revision is a future revision": EtcdFutureRevision,
    "etcdserver: mvcc: database space exceeded": EtcdNoSpace,
}
_BY_CODE: Final[dict[int, type[EtcdError]]] = {
    1: EtcdUnavailable,  # Canceled: e.g. "grpc: the client connection is closing" (shutdown)
    3: EtcdInvalidArgument,
    4: EtcdRequestTimedOut,  # DeadlineExceeded
    5: EtcdError,  # NotFound (other than leases)
    7: EtcdPermissionDenied,
    8: EtcdTooManyRequests,  # ResourceExhausted
    11: EtcdError,  # OutOfRange
    14: EtcdUnavailable,
    16: EtcdUnauthenticated,
}
_RETRY_WRITE: Final = (EtcdNoLeader, EtcdTooManyRequests, EtcdNotCapable)
"""Errors a member returns before proposing a write: safe to try another member."""


def error_from_response(data: object, http_status: int | None = None) -> EtcdError:
    """The exception for an error body (unary or streaming shape)."""
    message, code = "", None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):  # streaming: {"error": {"grpc_code", "http_code", ...}}
            message = str(err.get("message", ""))
            code = err.get("grpc_code")
            http_status = err.get("http_code", http_status)
        else:
            message = str(data.get("message") or err or "")
            code = data.get("code")
    else:
        message = str(data)
    message = message.strip()
    code = code if isinstance(code, int) else None
    cls = _BY_MESSAGE.get(message)
    if cls is None and message.startswith("etcdserver: request timed out"):
        cls = EtcdRequestTimedOut
    if cls is None and code is not None:
        cls = _BY_CODE.get(code)
    if cls is None:
        cls = EtcdUnavailable if http_status in (502, 503, 504) else EtcdError
    return cls(message or f"HTTP {http_status}", code, http_status)

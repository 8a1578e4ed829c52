"""What every lab (loopback or network namespaces) asks its cluster, and what a probe's
samples say about an outage."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from vigil.cli.client import ApiFailed, ApiUnreachable

T = TypeVar("T")

RETRY_ON: tuple[type[Exception], ...] = (ApiUnreachable, ApiFailed, OSError)


def wait_for(what: str, predicate: Callable[[], T | None], timeout: float,
             interval: float = 0.05, retry_on: tuple[type[Exception], ...] = RETRY_ON) -> T:
    """Poll `predicate` until it returns something true; TimeoutError names `what`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except retry_on as e:
            last_error = e
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}"
                               + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(interval)


class _Sample(Protocol):
    @property
    def t(self) -> float: ...
    @property
    def ok(self) -> bool: ...


class ClusterQueries:
    """Mixed into a lab class that provides `status(node)` (an agent's /v1/status)."""

    retry_on: tuple[type[Exception], ...] = RETRY_ON
    """Errors that mean "not yet" while waiting."""

    def status(self, node: str | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def resource(self, rid: str, node: str | None = None) -> dict[str, Any]:
        for r in self.status(node)["resources"]:
            if r["id"] == rid:
                return dict(r)
        raise KeyError(rid)

    def running_on(self, rid: str) -> str | None:
        r = self.resource(rid)
        return str(r["node"]) if r["state"] == "started" else None

    def wait_running(self, rid: str, timeout: float = 30.0,
                     where: Callable[[str], bool] = lambda n: True) -> str:
        def check() -> str | None:
            n = self.running_on(rid)
            return n if n and where(n) else None
        return wait_for(f"{rid} running", check, timeout, retry_on=self.retry_on)

    def wait_settled(self, timeout: float = 30.0) -> dict[str, Any]:
        """Until the DC says it has nothing left to do (its last decision)."""
        def check() -> dict[str, Any] | None:
            dc = self.status().get("dc")
            if not dc:
                return None
            doc = self.status(dc)
            return doc if doc["local"]["dc_reason"] == "nothing to do" else None
        return wait_for("the cluster to settle", check, timeout, retry_on=self.retry_on)


def outage_after(samples: Iterable[_Sample], t0: float) -> float | None:
    """Seconds from the last success sent before the first failure at/after t0 to the
    first success sent after it: the gap a client saw. None if it did not come back; 0.0
    if nothing failed. Samples in the order they were sent."""
    last_ok: float | None = None
    failing = False
    for s in samples:
        if s.t < t0:
            if s.ok:
                last_ok = s.t
            continue
        if not s.ok:
            failing = True
        elif failing:
            return s.t - (last_ok if last_ok is not None else t0)
        else:
            last_ok = s.t
    return None if failing else 0.0

"""The inequalities between timings, and between timings and the etcd settings, that a
config must satisfy for the lease (S2) and etcd to work; checked after each value is read.

Internal to the config loader (`vigil.model.load`).
"""

from __future__ import annotations

import math

from vigil.model.config import StoreConfig, Timings
from vigil.model.durations import format_duration
from vigil.model.problems import _Report
from vigil.model.yaml_map import _Map

_ETCD_MAX_ELECTION_TIMEOUT = 50.0


def _check_timings(report: _Report, t: Timings, tm: _Map, s: StoreConfig, sm: _Map) -> None:
    """Enforce the inequalities that make the lease (S2) and etcd settings workable."""

    def usable(*names: str) -> bool:
        return not any(name in report.bad for name in names)

    def blame(field: str, message: str, *candidates: tuple[_Map, str]) -> None:
        # Point at the first of the involved keys that the file actually sets.
        for m, key in candidates:
            if m.has(key):
                report.add(m.key_pos(key), m.field(key), message)
                return
        report.add(candidates[0][0].where, field, message)

    ttl, ka, margin = t.lease_ttl, t.keepalive_interval, t.lease_margin
    hb, election = s.etcd_heartbeat_interval, s.etcd_election_timeout
    fmt = format_duration
    if usable("timings.keepalive_interval", "timings.lease_ttl") and ka > ttl / 3 + 1e-9:
        blame(
            "timings.keepalive_interval",
            f"keepalive_interval ({fmt(ka)}) must be at most lease_ttl / 3"
            f" ({fmt(ttl)} / 3 = {fmt(ttl / 3)}) so a lease survives two lost keepalives;"
            f" use keepalive_interval: {fmt(math.floor(ttl * 1000 / 3) / 1000)}"
            f" or lease_ttl: {fmt(math.ceil(3 * ka))}",
            (tm, "keepalive_interval"),
            (tm, "lease_ttl"),
        )
    names = ("timings.keepalive_interval", "timings.lease_margin", "timings.lease_ttl")
    if usable(*names) and ka + margin >= ttl - 1e-9:
        fix = f"lease_ttl: {fmt(math.floor(ka + margin) + 1)}"
        if ttl > ka:
            fix = f"lease_margin: {fmt(round((ttl - ka) / 2, 3))} or {fix}"
        blame(
            "timings.lease_margin",
            f"keepalive_interval + lease_margin ({fmt(ka)} + {fmt(margin)} ="
            f" {fmt(ka + margin)}) must be less than lease_ttl ({fmt(ttl)}): a node stops"
            f" its resources when less than lease_margin of its lease is left, so it would"
            f" stop them between keepalives; use {fix}",
            (tm, "lease_margin"),
            (tm, "keepalive_interval"),
            (tm, "lease_ttl"),
        )
    if usable("timings.lease_ttl", "store.etcd_election_timeout") and ttl < 1.5 * election - 1e-9:
        blame(
            "timings.lease_ttl",
            f"lease_ttl ({fmt(ttl)}) must be at least 1.5 x store.etcd_election_timeout"
            f" (1.5 x {fmt(election)} = {fmt(1.5 * election)}): etcd silently lengthens"
            f" shorter leases, so a lost node would keep its lease longer than vigil"
            f" assumes; use lease_ttl: {fmt(math.ceil(1.5 * election - 1e-9))} or"
            f" etcd_election_timeout: {fmt(math.floor(ttl * 1000 / 1.5) / 1000)}",
            (tm, "lease_ttl"),
            (sm, "etcd_election_timeout"),
        )
    tolerance = ttl - margin - ka
    if (
        usable(*names, "store.etcd_election_timeout")
        and ka + margin < ttl
        and ka <= ttl / 3 + 1e-9
        and ttl >= 1.5 * election - 1e-9
        and tolerance < 2 * election - 1e-9
    ):
        blame(
            "timings.lease_ttl",
            f"a node can go only {fmt(tolerance)} without store contact (lease_ttl -"
            f" lease_margin - keepalive_interval) before it must stop its resources, but"
            f" replacing a lost etcd leader can take 2 x etcd_election_timeout"
            f" ({fmt(2 * election)}): every node would stop its resources when the etcd"
            f" leader dies; use lease_ttl: {fmt(math.ceil(2 * election + margin + ka))} or"
            f" etcd_election_timeout: {fmt(math.floor(tolerance * 1000 / 2) / 1000)}",
            (tm, "lease_ttl"),
            (sm, "etcd_election_timeout"),
            (tm, "lease_margin"),
        )
    if usable("store.etcd_election_timeout", "store.etcd_heartbeat_interval") and (
        election < 5 * hb - 1e-9
    ):
        blame(
            "store.etcd_election_timeout",
            f"etcd_election_timeout ({fmt(election)}) must be at least 5 x"
            f" etcd_heartbeat_interval (5 x {fmt(hb)} = {fmt(5 * hb)}), or etcd refuses to"
            f" start; use etcd_election_timeout: {fmt(5 * hb)} or"
            f" etcd_heartbeat_interval: {fmt(math.floor(election * 1000 / 5) / 1000)}",
            (sm, "etcd_election_timeout"),
            (sm, "etcd_heartbeat_interval"),
        )
    if usable("store.etcd_election_timeout") and election > _ETCD_MAX_ELECTION_TIMEOUT:
        blame(
            "store.etcd_election_timeout",
            f"etcd_election_timeout ({fmt(election)}) is above etcd's limit of 50s; use at"
            " most 50s (1s suits a LAN)",
            (sm, "etcd_election_timeout"),
        )

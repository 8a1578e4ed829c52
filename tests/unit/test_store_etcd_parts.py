"""The etcd backend's pure parts: error mapping, stream framing, encodings, command line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vigil.model.config import ClusterConfig, NodeConfig, StoreConfig
from vigil.store.base import Compacted, Compare, LeaseLost, StoreUnavailable
from vigil.store.embedded import EmbeddedEtcd
from vigil.store.etcd import (
    EtcdCompacted,
    EtcdDuplicateKey,
    EtcdError,
    EtcdLeaseNotFound,
    EtcdNoLeader,
    EtcdNoSpace,
    EtcdPermissionDenied,
    EtcdProtocolError,
    EtcdRequestTimedOut,
    EtcdUnavailable,
    EtcdWatchCanceled,
    JsonStream,
    error_from_response,
    normalize_endpoint,
    prefix_range_end,
)
from vigil.store.etcd_binary import EtcdNotFound, etcd_version, find_etcd, version_problem
from vigil.store.etcd_wire import _compare, _watch_events


def unary(message: str, code: int) -> dict[str, object]:
    return {"error": message, "message": message, "code": code}


@pytest.mark.parametrize(
    ("body", "status", "cls"),
    [
        (unary("etcdserver: requested lease not found", 5), 404, EtcdLeaseNotFound),
        (unary("etcdserver: no leader", 14), 503, EtcdNoLeader),
        (unary("etcdserver: request timed out", 14), 503, EtcdRequestTimedOut),
        (unary("etcdserver: request timed out, possibly due to previous leader failure", 14),
         503, EtcdRequestTimedOut),
        (unary("etcdserver: duplicate key given in txn request", 3), 400, EtcdDuplicateKey),
        (unary("etcdserver: mvcc: required revision has been compacted", 11), 400,
         EtcdCompacted),
        (unary("etcdserver: mvcc: database space exceeded", 8), 429, EtcdNoSpace),
        (unary("etcdserver: permission denied", 7), 403, EtcdPermissionDenied),
        (unary("something new", 14), 503, EtcdUnavailable),
        ({"error": {"grpc_code": 14, "http_code": 503, "message": "etcdserver: no leader",
                    "http_status": "Service Unavailable"}}, 200, EtcdNoLeader),
        ("<html>bad gateway</html>", 502, EtcdUnavailable),
        ("Not Found", 404, EtcdError),
    ],
)
def test_errors_map_to_their_own_types(body: object, status: int, cls: type) -> None:
    err = error_from_response(body, status)
    assert type(err) is cls


def test_error_types_are_the_interface_errors() -> None:
    assert isinstance(error_from_response(unary("etcdserver: no leader", 14)), StoreUnavailable)
    lost = error_from_response(unary("etcdserver: requested lease not found", 5))
    assert isinstance(lost, LeaseLost)
    assert lost.code == 5


def test_json_stream_splits_objects_across_any_chunking() -> None:
    msgs = (b'{"result":{"created":true}}\n{"result":{"events":[{"kv":{"key":"w6k="}}]}}\n'
            b'{"error":{"grpc_code":14,"message":"etcdserver: no leader"}}')
    for size in (1, 2, 7, len(msgs)):
        stream = JsonStream()
        out = []
        for i in range(0, len(msgs), size):
            out += stream.feed(msgs[i:i + size])
        assert [next(iter(m)) for m in out] == ["result", "result", "error"]
    with pytest.raises(EtcdProtocolError):
        JsonStream().feed(b"[1]\n")


def test_watch_messages() -> None:
    events = _watch_events({"result": {"events": [
        {"kv": {"key": "L2E=", "value": "MQ==", "mod_revision": "5", "create_revision": "5",
                "version": "1"}},
        {"type": "DELETE", "kv": {"key": "L2E=", "mod_revision": "6"}},
    ]}})
    assert [(e.type, e.kv.key, e.kv.value, e.kv.mod_revision) for e in events] == [
        ("put", "/a", b"1", 5), ("delete", "/a", b"", 6)]
    assert _watch_events({"result": {"created": True}}) == []
    with pytest.raises(Compacted) as info:
        _watch_events({"result": {"canceled": True, "compact_revision": "4"}})
    assert info.value.compact_revision == 4
    with pytest.raises(EtcdWatchCanceled):
        _watch_events({"result": {"canceled": True, "cancel_reason": "permission denied"}})
    with pytest.raises(EtcdWatchCanceled):  # any break is StoreUnavailable
        _watch_events({"error": {"grpc_code": 13, "message": "internal"}})


def test_prefix_range_end_and_compares() -> None:
    assert prefix_range_end(b"/a/") == b"/a0"
    assert prefix_range_end(b"a\xff") == b"b"
    assert prefix_range_end(b"\xff\xff") == b"\0"
    assert _compare(Compare("/k", "create", "=", 0)) == {
        "key": "L2s=", "result": "EQUAL", "target": "CREATE", "create_revision": "0"}
    assert _compare(Compare("/k", "value", "!=", b"x")) == {
        "key": "L2s=", "result": "NOT_EQUAL", "target": "VALUE", "value": "eA=="}
    with pytest.raises(TypeError):
        _compare(Compare("/k", "mod", "=", b"1"))


def test_endpoints_are_normalized() -> None:
    assert normalize_endpoint("127.0.0.1:2379/") == "http://127.0.0.1:2379"
    assert normalize_endpoint("https://h:1") == "https://h:1"


def fake_etcd(tmp_path: Path, version: str) -> str:
    path = tmp_path / f"etcd-{version}"
    path.write_text(f"#!/bin/sh\necho 'etcd Version: {version}'\necho 'Git SHA: x'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_versions(tmp_path: Path) -> None:
    assert etcd_version(fake_etcd(tmp_path, "3.4.23")) == (3, 4, 23)
    assert version_problem((3, 4, 23)) is None
    assert version_problem((3, 5, 3)) is None
    assert version_problem((3, 6, 0)) is None
    assert "older" in (version_problem((3, 3, 9)) or "")
    for bad in ((3, 5, 0), (3, 5, 1), (3, 5, 2)):
        assert "inconsistency" in (version_problem(bad) or "")


def test_find_etcd_skips_bad_versions_and_says_how_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("VIGIL_ETCD", fake_etcd(tmp_path, "3.5.1"))
    with pytest.raises(EtcdNotFound, match="apt-get install etcd-server") as info:
        find_etcd()
    assert "3.5.1" in str(info.value)
    good = fake_etcd(tmp_path, "3.4.23")
    os.rename(good, tmp_path / "etcd")
    assert find_etcd() == str(tmp_path / "etcd")


def three_nodes(**store: float) -> ClusterConfig:
    nodes = tuple(NodeConfig(f"n{i}", f"10.0.0.{i}") for i in (1, 2, 3))
    return ClusterConfig("prod", nodes, StoreConfig(**store))  # type: ignore[arg-type]


def test_embedded_command_line(tmp_path: Path) -> None:
    binary = fake_etcd(tmp_path, "3.4.23")
    config = three_nodes(etcd_heartbeat_interval=0.1, etcd_election_timeout=1.0)
    member = EmbeddedEtcd(config, "n2", tmp_path / "state", binary=binary)
    cmd = member.command()
    args = dict(zip(cmd[1::2], cmd[2::2], strict=False))
    assert cmd[0] == binary
    assert args["--name"] == "n2"
    assert args["--data-dir"] == str(tmp_path / "state" / "etcd")
    assert args["--listen-client-urls"] == args["--advertise-client-urls"] == (
        "http://10.0.0.2:2379")
    assert args["--listen-peer-urls"] == "http://10.0.0.2:2380"
    assert args["--initial-cluster"] == (
        "n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380,n3=http://10.0.0.3:2380")
    assert (args["--initial-cluster-token"], args["--initial-cluster-state"]) == ("prod", "new")
    assert (args["--heartbeat-interval"], args["--election-timeout"]) == ("100", "1000")
    assert "--experimental-watch-progress-notify-interval" in cmd
    assert member.log_path == tmp_path / "state" / "etcd.log"


def test_embedded_rejects_bad_timings_and_external_stores(tmp_path: Path) -> None:
    binary = fake_etcd(tmp_path, "3.4.23")
    with pytest.raises(ValueError, match="5 times"):
        EmbeddedEtcd(three_nodes(etcd_heartbeat_interval=0.5, etcd_election_timeout=1.0),
                     "n1", tmp_path, binary=binary)
    external = ClusterConfig("x", three_nodes().nodes, StoreConfig(mode="external"))
    with pytest.raises(ValueError, match="external"):
        EmbeddedEtcd(external, "n1", tmp_path, binary=binary)

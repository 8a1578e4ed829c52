"""Heartbeat packets: round trip, every rejection, replay checks, key files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.core.heartbeat_packet import (
    MAGIC,
    MAX_PACKET,
    VERSION,
    Heartbeat,
    KeyFileError,
    Rejected,
    ReplayGuard,
    decode,
    encode,
    generate_key,
    load_key,
    write_key,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(32)
CLUSTER = "prod"


def packet(sender: str = "n1", link: int = 0, incarnation: int = 1_700_000_000_000_000_000,
           seq: int = 1, key: bytes = KEY, cluster: str = CLUSTER) -> bytes:
    return encode(key, cluster, sender, link, incarnation, seq)


def reason(data: bytes) -> str:
    result = decode(KEY, CLUSTER, data)
    assert isinstance(result, Rejected), result
    return result.reason


# --- encode / decode -----------------------------------------------------------------


@pytest.mark.parametrize("sender", ["n1", "node-with-a-long-name.example.org", "nœud", "x" * 255])
def test_round_trip(sender: str) -> None:
    data = packet(sender, link=3, incarnation=2**64 - 1, seq=2**63)
    assert decode(KEY, CLUSTER, data) == Heartbeat(sender, 3, 2**64 - 1, 2**63)
    assert len(data) == 61 + len(sender.encode()) <= MAX_PACKET
    assert data[:3] == MAGIC + bytes([VERSION])


def test_encode_refuses_what_the_format_cannot_carry() -> None:
    for bad in [dict(sender=""), dict(sender="x" * 256), dict(link=256), dict(link=-1),
                dict(seq=2**64), dict(incarnation=-1)]:
        with pytest.raises(ValueError):
            packet(**bad)  # type: ignore[arg-type]


def test_flipped_mac_bit_is_bad_mac() -> None:
    data = bytearray(packet())
    data[-1] ^= 1
    assert reason(bytes(data)) == "bad-mac"


@pytest.mark.parametrize("offset", [11, 15, 24, 29, 30])  # link, incarnation, seq, sender
def test_corrupted_field_is_bad_mac(offset: int) -> None:
    data = bytearray(packet())
    data[offset] ^= 0x40
    assert reason(bytes(data)) == "bad-mac"


def test_forged_with_another_key_is_bad_mac() -> None:
    assert reason(packet(key=OTHER_KEY)) == "bad-mac"


def test_other_cluster_is_wrong_cluster_whatever_its_key() -> None:
    assert reason(packet(cluster="staging")) == "wrong-cluster"
    data = bytearray(packet())
    data[5] ^= 1  # the cluster id
    assert reason(bytes(data)) == "wrong-cluster"
    assert reason(packet(cluster="staging", key=OTHER_KEY)) == "wrong-cluster"


def test_other_version_is_bad_version() -> None:
    data = bytearray(packet())
    data[2] = VERSION + 1
    assert reason(bytes(data)) == "bad-version"


@pytest.mark.parametrize("data", [
    b"", b"V", b"VH", b"GET / HTTP/1.1\r\n\r\n", b"\x00" * 100,
    packet()[:-1], packet() + b"\x00", packet()[:40],
])
def test_malformed(data: bytes) -> None:
    assert reason(data) == "malformed"


def test_zero_length_sender_is_malformed() -> None:
    data = bytearray(packet())
    data[28] = 0  # sender length
    assert reason(bytes(data[:29] + data[31:])) == "malformed"


@given(st.binary(max_size=MAX_PACKET + 10))
def test_random_bytes_never_decode(data: bytes) -> None:
    assert isinstance(decode(KEY, CLUSTER, data), Rejected)


@given(st.binary(min_size=3, max_size=MAX_PACKET).map(lambda b: MAGIC + bytes([VERSION]) + b))
def test_random_bytes_with_a_valid_header_never_decode(data: bytes) -> None:
    assert isinstance(decode(KEY, CLUSTER, data), Rejected)


@given(st.integers(min_value=0, max_value=62), st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_is_rejected(offset: int, xor: int) -> None:
    data = bytearray(packet())
    data[offset] ^= xor
    assert isinstance(decode(KEY, CLUSTER, bytes(data)), Rejected)


# --- replay guard ----------------------------------------------------------------------


def hb(seq: int, incarnation: int = 100, sender: str = "n2", link: int = 0) -> Heartbeat:
    return Heartbeat(sender, link, incarnation, seq)


def test_seq_must_grow_within_an_incarnation() -> None:
    guard = ReplayGuard()
    assert guard.accept(hb(1))
    assert guard.accept(hb(2))
    assert not guard.accept(hb(2)), "the same packet twice"
    assert not guard.accept(hb(1)), "an earlier packet"
    assert guard.accept(hb(10)), "gaps are fine (lost packets)"
    assert not guard.accept(hb(9))


def test_replay_of_a_captured_packet_is_rejected() -> None:
    guard = ReplayGuard()
    captured = decode(KEY, CLUSTER, packet(seq=5))
    assert isinstance(captured, Heartbeat)
    assert guard.accept(captured)
    assert guard.accept(hb(6, incarnation=captured.incarnation, sender="n1"))
    replayed = decode(KEY, CLUSTER, packet(seq=5))
    assert isinstance(replayed, Heartbeat)
    assert not guard.accept(replayed)


def test_restart_with_a_newer_incarnation_is_accepted_and_the_old_one_is_not() -> None:
    guard = ReplayGuard()
    assert guard.accept(hb(500, incarnation=100))
    assert guard.accept(hb(1, incarnation=200)), "restarted: seq starts over"
    assert not guard.accept(hb(501, incarnation=100)), "old incarnation replayed"
    assert guard.accept(hb(2, incarnation=200))


def test_streams_are_per_sender_and_link() -> None:
    guard = ReplayGuard()
    assert guard.accept(hb(5, link=0))
    assert guard.accept(hb(5, link=1))
    assert guard.accept(hb(5, sender="n3"))
    assert not guard.accept(hb(5, link=1))


# --- key files -------------------------------------------------------------------------


def test_generate_key_is_64_hex_and_random() -> None:
    a, b = generate_key(), generate_key()
    assert len(a) == 64 and bytes.fromhex(a) and a != b


def test_write_then_load(tmp_path: Path) -> None:
    path = tmp_path / "cluster.key"
    key = write_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32 and load_key(path) == key


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "cluster.key"
    key = write_key(path)
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        write_key(path)
    assert load_key(path) == key


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o620])
def test_load_refuses_a_key_others_may_access(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "cluster.key"
    path.write_text(generate_key())
    os.chmod(path, mode)
    with pytest.raises(KeyFileError) as e:
        load_key(path)
    assert str(path) in str(e.value) and f"chmod 600 {path}" in str(e.value)
    assert f"{mode:04o}" in str(e.value)


@pytest.mark.parametrize("content", ["", "abc", "zz" * 32, generate_key() + "00"])
def test_load_refuses_what_is_not_a_key(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cluster.key"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="64 hex characters"):
        load_key(path)


def test_load_accepts_surrounding_whitespace_and_upper_case(tmp_path: Path) -> None:
    path = tmp_path / "cluster.key"
    text = generate_key()
    path.write_text(f"  {text.upper()}\n")
    os.chmod(path, 0o400)
    assert load_key(path) == bytes.fromhex(text)


def test_load_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=str(tmp_path / "nope")):
        load_key(tmp_path / "nope")

"""Direct heartbeats on the wire: an authenticated, compact UDP packet, and replay checks.

Layout (network byte order), 61 bytes plus the sender's name:

    magic "VH" | version u8 | cluster id 8 bytes | link u8 | incarnation u64 | seq u64
    | sender length u8 | sender (UTF-8) | HMAC-SHA256(key, everything before) 32 bytes

The cluster id is the first 8 bytes of SHA-256 of the cluster name: a packet from another
cluster is told apart (`wrong-cluster`) even when it uses another key. `incarnation` is the
sending agent's start time in ns (it grows across restarts); `seq` grows with every send
round of one incarnation. `ReplayGuard` keeps, per (sender, link), the newest pair seen.

The key file helpers keep the cluster key (32 random bytes, 64 hex characters) in a file
only its owner can read.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import struct
from dataclasses import dataclass
from typing import Literal

MAGIC = b"VH"
VERSION = 1
KEY_BYTES = 32
MAC_BYTES = 32
_HEAD = struct.Struct("!2sB8sBQQB")
_U64 = 2**64
MAX_PACKET = _HEAD.size + 255 + MAC_BYTES

RejectReason = Literal["malformed", "bad-version", "wrong-cluster", "bad-mac"]


@dataclass(frozen=True)
class Heartbeat:
    sender: str
    link: int
    incarnation: int
    seq: int


@dataclass(frozen=True)
class Rejected:
    reason: RejectReason
    detail: str


def cluster_id(cluster: str) -> bytes:
    return hashlib.sha256(cluster.encode()).digest()[:8]


def encode(key: bytes, cluster: str, sender: str, link: int, incarnation: int,
           seq: int) -> bytes:
    """One heartbeat packet; raises ValueError on values the format cannot carry."""
    name = sender.encode()
    if not 1 <= len(name) <= 255:
        raise ValueError(f"sender name must be 1-255 bytes of UTF-8, got {len(name)}")
    if not 0 <= link <= 255:
        raise ValueError(f"link index must be 0-255, got {link}")
    if not (0 <= incarnation < _U64 and 0 <= seq < _U64):
        raise ValueError("incarnation and seq must fit in 64 unsigned bits")
    body = _HEAD.pack(MAGIC, VERSION, cluster_id(cluster), link, incarnation, seq,
                      len(name)) + name
    return body + hmac.digest(key, body, "sha256")


def decode(key: bytes, cluster: str, data: bytes) -> Heartbeat | Rejected:
    """The heartbeat in `data`, or why it was rejected. Never raises."""
    if len(data) < 3 or data[:2] != MAGIC:
        return Rejected("malformed", "not a vigil heartbeat")
    if data[2] != VERSION:
        return Rejected("bad-version", f"version {data[2]}, this agent speaks {VERSION}")
    if len(data) < _HEAD.size + 1 + MAC_BYTES:
        return Rejected("malformed", f"{len(data)} bytes is too short")
    _, _, cid, link, incarnation, seq, name_len = _HEAD.unpack_from(data)
    if len(data) != _HEAD.size + name_len + MAC_BYTES or name_len == 0:
        return Rejected("malformed", f"length {len(data)} does not match sender length")
    if not hmac.compare_digest(cid, cluster_id(cluster)):
        return Rejected("wrong-cluster", f"cluster id {cid.hex()} is not {cluster!r}")
    body, mac = data[:-MAC_BYTES], data[-MAC_BYTES:]
    if not hmac.compare_digest(mac, hmac.digest(key, body, "sha256")):
        return Rejected("bad-mac", "authentication failed (forged, corrupted or wrong key)")
    try:
        sender = body[_HEAD.size:].decode()
    except UnicodeDecodeError:
        return Rejected("malformed", "sender name is not UTF-8")
    return Heartbeat(sender, link, incarnation, seq)


class ReplayGuard:
    """Per (sender, link) the newest (incarnation, seq) accepted.

    An older incarnation is a replay; in the same incarnation seq must grow; a newer
    incarnation (the sender restarted) starts afresh. Only authenticated packets reach
    the guard, so its size is bounded by peers x links.
    """

    def __init__(self) -> None:
        self._newest: dict[tuple[str, int], tuple[int, int]] = {}

    def accept(self, hb: Heartbeat) -> bool:
        key = (hb.sender, hb.link)
        prev = self._newest.get(key)
        if prev is not None and (hb.incarnation, hb.seq) <= prev:
            return False
        self._newest[key] = (hb.incarnation, hb.seq)
        return True


class KeyFileError(ValueError):
    """The cluster key file is missing, unsafe or does not hold a key."""


def generate_key() -> str:
    """A new cluster key: 64 hex characters (32 random bytes)."""
    return secrets.token_hex(KEY_BYTES)


def write_key(path: str | os.PathLike[str]) -> bytes:
    """Write a new key to `path` with mode 0600 and return it; never overwrites."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise KeyFileError(f"refusing to overwrite the existing key file {path}") from None
    except OSError as e:
        raise KeyFileError(f"cannot create key file {path}: {e.strerror}") from None
    text = generate_key()
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (text + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return bytes.fromhex(text)


def load_key(path: str | os.PathLike[str]) -> bytes:
    """The 32-byte key in `path`; refuses a file that group or others may access."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"key file {path} is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"key file {path} is accessible by group or others (mode {mode:04o}); "
                f"run: chmod 600 {path}")
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    text = raw.decode("ascii", errors="replace").strip()
    if len(text) != 2 * KEY_BYTES or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise KeyFileError(f"key file {path} must hold 64 hex characters (32 bytes), "
                           f"found {len(text)} characters")
    return bytes.fromhex(text)

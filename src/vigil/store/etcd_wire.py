"""How EtcdStore talks to etcd's v3 JSON gateway: base64 keys and values, int64 fields as
decimal strings, txn compares and operations, and the framing of streamed responses
(watch, keepalive) into JSON objects. No I/O: `vigil.store.etcd` sends and receives.
"""

from __future__ import annotations

import base64
import codecs
import json
from typing import Any, Final

from vigil.store.base import (
    Compacted,
    Compare,
    Delete,
    KeyValue,
    Put,
    StoreUnavailable,
    TxnOp,
    WatchEvent,
)
from vigil.store.etcd_errors import (
    EtcdPermissionDenied,
    EtcdProtocolError,
    EtcdUnauthenticated,
    EtcdWatchCanceled,
    error_from_response,
)

JSON = dict[str, Any]

_MAX_STREAM_BUFFER: Final = 64 * 1024 * 1024


def _key_bytes(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64key(key: str) -> str:
    return _b64(_key_bytes(key))


def _unb64(data: str) -> bytes:
    return base64.b64decode(data)


def _unb64key(data: str) -> str:
    return _unb64(data).decode("utf-8", "surrogateescape")


def prefix_range_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with prefix (b"\\0": no end)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


def _range_fields(key: str, prefix: bool) -> JSON:
    raw = _key_bytes(key)
    if prefix and not raw:
        return {"key": _b64(b"\0"), "range_end": _b64(b"\0")}  # the whole keyspace
    fields: JSON = {"key": _b64(raw)}
    if prefix:
        fields["range_end"] = _b64(prefix_range_end(raw))
    return fields


def _int(data: JSON, name: str) -> int:
    return int(data.get(name, 0))


def _revision(resp: JSON) -> int:
    header = resp.get("header")
    return _int(header, "revision") if isinstance(header, dict) else 0


def _kv(data: JSON) -> KeyValue:
    return KeyValue(
        key=_unb64key(data["key"]),
        value=_unb64(data.get("value", "")),
        create_revision=_int(data, "create_revision"),
        mod_revision=_int(data, "mod_revision"),
        version=_int(data, "version"),
        lease=_int(data, "lease"),
    )


def _event(data: JSON) -> WatchEvent:
    if data.get("type") == "DELETE":
        return WatchEvent("delete", _kv(data["kv"]))
    return WatchEvent("put", _kv(data["kv"]))


_CMP_RESULT: Final = {"=": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}
_CMP_FIELD: Final = {
    "create": ("CREATE", "create_revision"),
    "mod": ("MOD", "mod_revision"),
    "version": ("VERSION", "version"),
    "lease": ("LEASE", "lease"),
}


def _compare(c: Compare) -> JSON:
    out: JSON = {"key": _b64key(c.key), "result": _CMP_RESULT[c.op]}
    if c.target == "value":
        if not isinstance(c.value, bytes):
            raise TypeError(f"compare on value of {c.key!r} needs bytes, got {c.value!r}")
        out.update(target="VALUE", value=_b64(c.value))
    else:
        if not isinstance(c.value, int):
            raise TypeError(f"compare on {c.target} of {c.key!r} needs an int, got {c.value!r}")
        target, field = _CMP_FIELD[c.target]
        out.update(target=target)
        out[field] = str(c.value)
    return out


def _put_fields(key: str, value: bytes, lease: int) -> JSON:
    fields: JSON = {"key": _b64key(key), "value": _b64(value)}
    if lease:
        fields["lease"] = str(lease)
    return fields


def _op(op: TxnOp) -> JSON:
    if isinstance(op, Put):
        return {"request_put": _put_fields(op.key, op.value, op.lease)}
    if isinstance(op, Delete):
        return {"request_delete_range": _range_fields(op.key, op.prefix)}
    raise TypeError(f"not a txn op: {op!r}")


class JsonStream:
    """Splits a gateway stream (JSON objects, newline-separated or not) into objects."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._decoder = json.JSONDecoder()

    def feed(self, data: bytes) -> list[JSON]:
        self._buf += self._text.decode(data)
        if len(self._buf) > _MAX_STREAM_BUFFER:
            raise EtcdProtocolError("stream message larger than 64 MiB or not JSON")
        out: list[JSON] = []
        while True:
            text = self._buf.lstrip()
            # Parse only when a message may be complete: avoids re-parsing a growing prefix.
            if not text or not (text.endswith("}") or "\n" in text):
                self._buf = text
                return out
            try:
                obj, end = self._decoder.raw_decode(text)
            except json.JSONDecodeError:
                self._buf = text
                return out
            if not isinstance(obj, dict):
                raise EtcdProtocolError(f"unexpected stream message: {obj!r}")
            out.append(obj)
            self._buf = text[end:]


def _parse_body(body: bytes, status: int) -> JSON:
    """The JSON object of a response; raises the mapped EtcdError for an error."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data: object = json.JSONDecoder().raw_decode(text)[0] if text else {}
    except json.JSONDecodeError:
        if status != 200:
            raise error_from_response(text, status) from None
        raise EtcdProtocolError(f"response is not JSON: {text[:200]!r}") from None
    if status != 200:
        raise error_from_response(data, status)
    if not isinstance(data, dict):
        raise EtcdProtocolError(f"response is not a JSON object: {text[:200]!r}")
    if isinstance(data.get("error"), dict):  # an error inside a 200 stream
        raise error_from_response(data, status)
    return data


def _watch_events(message: JSON) -> list[WatchEvent]:
    """The events of one watch message; raises for errors, cancellation, compaction."""
    if "error" in message:
        err = error_from_response(message)
        if isinstance(err, StoreUnavailable | EtcdPermissionDenied | EtcdUnauthenticated):
            raise err
        raise EtcdWatchCanceled(f"watch broke: {err}") from err  # any break: caller re-reads
    result = message.get("result")
    if not isinstance(result, dict):
        raise EtcdProtocolError(f"unexpected watch message: {message!r}")
    compact = _int(result, "compact_revision")
    if compact:
        raise Compacted(compact)
    if result.get("canceled"):
        reason = result.get("cancel_reason") or "no reason given"
        raise EtcdWatchCanceled(f"watch canceled by etcd: {reason}")
    return [_event(e) for e in result.get("events") or []]

"""Value parsers of the config loader: each returns the clean value or raises
ValueError with text for the operator (what was expected, what was given, the fix).

Internal to the config loader (`vigil.model.load`).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from vigil.model.durations import (
    DURATION_HINT,
    describe,
    format_duration,
    is_bool,
    parse_duration,
    parse_score,
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_CLUSTER_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OCF_AGENT = re.compile(r"ocf:([A-Za-z0-9_.-]+):([A-Za-z0-9_.-]+)")
_PREFIX = re.compile(r"(/[A-Za-z0-9_.-]+)+")
_MIN_MONITOR_INTERVAL = 0.1


def _text(value: object, expected: str) -> str:
    if isinstance(value, str):
        return str(value)  # drop ruamel's str subclasses
    quote = " (put it in quotes to make it text)" if isinstance(value, int | float) else ""
    raise ValueError(f"expected {expected}; got {describe(value)}{quote}")


def _name(value: object) -> str:
    expected = "a name of letters, digits, '_', '.' and '-' starting with a letter or digit"
    text = _text(value, expected)
    if not _NAME.fullmatch(text):
        raise ValueError(f"{text!r} is not a valid name; expected {expected}")
    return text


def _cluster_name(value: object) -> str:
    expected = "lowercase letters, digits, '_', '.' and '-', starting with a letter or digit"
    text = _text(value, f"a cluster name of {expected}")
    if not _CLUSTER_NAME.fullmatch(text):
        raise ValueError(f"{text!r} is not a valid cluster name; use {expected}, e.g. demo")
    return text


def _address(value: object) -> str:
    expected = "an IPv4 or IPv6 address such as 10.0.0.1 or fd00::1"
    text = _text(value, expected).strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an IP address; expected {expected} (host names are not"
            " accepted: the agent listens on this address)"
        ) from None
    if address.is_unspecified or address.is_multicast:
        raise ValueError(
            f"{text} cannot be a node's address: other nodes connect to it; give the"
            " node's own unicast address"
        )
    return str(address)


def _port(value: object) -> int:
    if is_bool(value) or not isinstance(value, int):
        raise ValueError(f"expected a port number 1-65535; got {describe(value)}")
    if not 1 <= value <= 65535:
        raise ValueError(f"port {int(value)} is out of range; expected 1-65535")
    return int(value)


def _bool(value: object) -> bool:
    if not is_bool(value):
        raise ValueError(f"expected true or false; got {describe(value)}")
    return bool(value)


def _choice(*choices: str) -> Callable[[object], str]:
    """Enum parser; case-insensitive, returns the canonical spelling."""

    def parse(value: object) -> str:
        expected = f"one of: {', '.join(choices)}"
        text = _text(value, expected)
        for choice in choices:
            if text.strip().lower() == choice.lower():
                return choice
        raise ValueError(f"{text!r} is not valid; expected {expected}")

    return parse


def _positive(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be more than 0; expected {DURATION_HINT}")
    return seconds


def _monitor_interval(value: object) -> float:
    seconds = parse_duration(value)
    if 0 < seconds < _MIN_MONITOR_INTERVAL:
        raise ValueError(
            f"a monitor interval of {format_duration(seconds)} would run the agent"
            " continuously; use 0 to disable the monitor, or at least 100ms"
        )
    return seconds


def _lease_ttl(value: object) -> float:
    seconds = parse_duration(value)
    if seconds < 1 or not seconds.is_integer():
        better = format_duration(max(1, math.ceil(seconds)))
        raise ValueError(
            f"lease_ttl must be a whole number of seconds, at least 1s (etcd grants"
            f" leases in whole seconds); got {format_duration(seconds)}: use lease_ttl: {better}"
        )
    return seconds


def _migration_threshold(value: object) -> int:
    threshold = parse_score(value)
    if threshold < 1:
        raise ValueError(
            f"must be at least 1 (got {threshold}); use INFINITY to never move a resource"
            " because of its failures"
        )
    return threshold


def _agent(value: object) -> str:
    expected = "'process', 'vip' or 'ocf:<provider>:<type>' (e.g. ocf:heartbeat:Dummy)"
    text = _text(value, expected).strip()
    if text in ("process", "vip") or _OCF_AGENT.fullmatch(text):
        return text
    if text.lower().startswith("ocf"):
        raise ValueError(
            f"{text!r}: an OCF agent is named ocf:<provider>:<type>, e.g. "
            "ocf:heartbeat:Dummy (the provider is the directory under "
            "/usr/lib/ocf/resource.d)"
        )
    raise ValueError(f"unknown agent {text!r}; expected {expected}")


def _prefix(value: object) -> str:
    expected = "a key prefix such as /vigil: '/' then names, no trailing '/'"
    text = _text(value, expected)
    if not _PREFIX.fullmatch(text):
        raise ValueError(f"{text!r} is not a valid prefix; expected {expected}")
    return text


def _endpoint(value: object) -> str:
    expected = "an etcd client URL such as http://10.0.0.5:2379 or https://etcd1:2379"
    text = _text(value, expected).strip()
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port; expected {expected}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not a URL; expected {expected}")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(f"{text!r}: give only scheme, host and port, e.g. http://10.0.0.5:2379")
    return text


def _param_value(value: object) -> str:
    if is_bool(value):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return str(float(value))
    if isinstance(value, str):
        return str(value)
    raise ValueError(
        f"expected a single value (text or number); got {describe(value)}"
        ' (write an empty string as "")'
    )

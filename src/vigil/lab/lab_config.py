"""The lab's cluster config: the user's file merged with what the lab owns.

The user's file gives resources, constraints, timings, etcd timings, heartbeat timings,
`fencing.action`/`retries`, watchdog and no-quorum policy. The lab owns the hosts, so it
sets (replacing whatever the file says there):

- `nodes`: one per lab node (and witness), addresses on link 1, `links` on every link;
- `store.type: embedded` (endpoints dropped; the user's etcd timings are kept);
- `heartbeat.key_file` and `heartbeat.port` (the user's `interval`/`timeout` are kept);
- `fencing.devices`/`levels`: the lab fence device alone (unless fencing is off), since
  devices of real hardware cannot reach lab hosts;
- `cluster`: "lab" when the file has none.

Before parsing, `${vip}`, `${vip2}`, `${service}`, `${nic}`, `${subnet}` and `${port}`
in the file are replaced by the lab's values (other `$` text is left alone), so one file
works whatever the lab's layout.
"""

from __future__ import annotations

import io
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from vigil.lab.netns import LabError

DATA = Path(__file__).parent / "data"
EXAMPLE_CONFIG = DATA / "lab-example.yaml"
_USER_STORE_KEYS = ("prefix", "etcd_heartbeat_interval", "etcd_election_timeout",
                    "request_timeout")


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace the lab placeholders (`${vip}` ...) and nothing else."""
    return string.Template(text).safe_substitute(values)


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.default_flow_style = False
    y.width = 4096
    return y


def _insert(doc: Any, pos: int, key: str, value: Any) -> None:
    if hasattr(doc, "insert"):
        doc.insert(min(pos, len(doc)), key, value)
    else:
        doc[key] = value


def merge(user_text: str, *, nodes: list[dict[str, Any]], key_file: str, hb_port: int,
          fence_device: dict[str, Any] | None, values: Mapping[str, str],
          source: str = "<config>") -> str:
    """The full cluster config text for the lab (see the module doc for the rules)."""
    text = substitute(user_text, values)
    try:
        doc = _yaml().load(text) or {}
    except Exception as e:  # ruamel's errors carry the position in their text
        raise LabError(f"{source}: not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise LabError(f"{source}: the top level must be a mapping (cluster:, resources: ...)")
    doc.setdefault("cluster", "lab")
    doc.pop("nodes", None)
    _insert(doc, 1, "nodes", nodes)
    user_store = doc.get("store") or {}
    store: dict[str, Any] = {"type": "embedded"}
    if isinstance(user_store, Mapping):
        store.update({k: user_store[k] for k in _USER_STORE_KEYS if k in user_store})
    doc.pop("store", None)
    _insert(doc, 2, "store", store)
    user_hb = doc.get("heartbeat") or {}
    hb: dict[str, Any] = {"key_file": key_file, "port": hb_port}
    if isinstance(user_hb, Mapping):
        hb.update({k: user_hb[k] for k in ("enabled", "interval", "timeout") if k in user_hb})
    doc["heartbeat"] = hb
    user_fencing = doc.get("fencing")
    if fence_device is None:
        doc.pop("fencing", None)
    else:
        fencing: dict[str, Any] = {}
        if isinstance(user_fencing, Mapping):
            fencing.update({k: user_fencing[k] for k in ("action", "retries")
                            if k in user_fencing})
        fencing["devices"] = [fence_device]
        doc["fencing"] = fencing
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()

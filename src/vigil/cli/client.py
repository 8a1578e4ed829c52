"""A small synchronous client of the agents' HTTP API for the CLI (stdlib only)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from vigil.model.load import ConfigInvalid, load_config_file

DEFAULT_CONFIG = "/etc/vigil/vigil.yaml"


class ApiUnreachable(Exception):
    pass


class ApiFailed(Exception):
    def __init__(self, status: int, doc: dict[str, Any]) -> None:
        super().__init__(doc.get("error", f"HTTP {status}"))
        self.status = status
        self.doc = doc


def api_urls(api: str | None, config: str | None) -> list[str]:
    """--api / VIGIL_API wins; else every node of the config file, in order."""
    api = api or os.environ.get("VIGIL_API")
    if api:
        return [u.rstrip("/") for u in api.split(",")]
    path = config or os.environ.get("VIGIL_CONFIG") or DEFAULT_CONFIG
    try:
        cfg = load_config_file(path)
    except ConfigInvalid as e:
        raise ApiUnreachable(
            f"no API address: pass --api URL (or set VIGIL_API), or a config with --config "
            f"({path}: {e.problems[0].message if e.problems else e})") from e
    return [n.api_url for n in cfg.nodes]


class Client:
    def __init__(self, urls: list[str], timeout: float = 10.0) -> None:
        self.urls = urls
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             timeout: float | None = None) -> dict[str, Any]:
        errors = []
        for url in self.urls:
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                    doc: dict[str, Any] = json.loads(resp.read() or b"{}")
                    return doc
            except urllib.error.HTTPError as e:
                try:
                    doc = json.loads(e.read() or b"{}")
                except ValueError:
                    doc = {"error": f"HTTP {e.code} from {url}"}
                if e.code == 503:  # this node cannot answer; another may
                    errors.append(f"{url}: {doc.get('error')}")
                    continue
                raise ApiFailed(e.code, doc) from e
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                errors.append(f"{url}: {getattr(e, 'reason', e)}")
        raise ApiUnreachable("no vigil agent answered:\n  " + "\n  ".join(errors) +
                             "\nIs the agent running (`systemctl status vigil`)? Is --api right?")

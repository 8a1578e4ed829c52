"""`vigil config apply`: every class of bad config is refused and changes nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.cli.client import ApiFailed
from vigil.lab.local import LocalCluster

pytestmark = [pytest.mark.integration]

GOOD_RESOURCES = """resources:
  - id: d
    agent: ocf:heartbeat:Dummy
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("cfg"), nodes=1, resources_yaml=GOOD_RESOURCES)
    c.start()
    try:
        c.wait_running("d", 30)
        yield c
    finally:
        c.down(remove=False)


def vigil(c: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", "--api", c.api_url("n1"), *args],
                          capture_output=True, text=True, timeout=60)


def stored(c: LocalCluster) -> dict[str, object]:
    return dict(c.call("GET", "/v1/config"))


BROKEN = {
    "yaml-syntax": ("resources:\n  - id: [unclosed\n", "invalid YAML"),
    "unknown-key": (GOOD_RESOURCES + "    stickyness: 5\n", "stickyness"),
    "wrong-type": (GOOD_RESOURCES + "    meta: {migration_threshold: lots}\n",
                   "migration_threshold"),
    "missing-reference": (GOOD_RESOURCES + "constraints:\n  location:\n"
                          "    - {resource: nope, node: n1, score: 10}\n", "nope"),
    "unknown-node": (GOOD_RESOURCES + "constraints:\n  location:\n"
                     "    - {resource: d, node: n9, score: 10}\n", "n9"),
    "impossible-timings": (GOOD_RESOURCES, "keepalive_interval"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_bad_config_is_refused_and_nothing_changes(cluster: LocalCluster, tmp_path: Path,
                                                   case: str) -> None:
    before = stored(cluster)
    text, needle = BROKEN[case]
    body = cluster.config_text(text)
    if case == "impossible-timings":
        body = body.replace("store:", "timings:\n  keepalive_interval: 5s\nstore:", 1)
    f = tmp_path / f"{case}.yaml"
    f.write_text(body)
    res = vigil(cluster, "config", "apply", str(f))
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{f}:" in res.stderr and needle in res.stderr, res.stderr
    assert "nothing was applied" in res.stderr
    # the server validates too: a client that skips local validation changes nothing
    with pytest.raises(ApiFailed) as err:
        cluster.call("PUT", "/v1/config", {"source": body, "filename": str(f)})
    assert err.value.status == 422 and err.value.doc["problems"]
    assert stored(cluster) == before


def test_good_config_is_applied_as_a_new_version(cluster: LocalCluster, tmp_path: Path) -> None:
    before = stored(cluster)
    f = tmp_path / "good.yaml"
    f.write_text(cluster.config_text(GOOD_RESOURCES + """  - id: d2
    agent: ocf:heartbeat:Dummy
"""))
    res = vigil(cluster, "config", "apply", str(f))
    assert res.returncode == 0, res.stderr
    after = stored(cluster)
    assert after["version"] == int(before["version"]) + 1  # type: ignore[call-overload]
    assert after["source"] == f.read_text()
    assert cluster.wait_running("d2", 20) == "n1"
    again = vigil(cluster, "config", "apply", str(f))
    assert again.returncode == 0 and "unchanged" in again.stdout


def test_cluster_name_change_is_refused(cluster: LocalCluster) -> None:
    before = stored(cluster)
    body = cluster.config_text(GOOD_RESOURCES).replace("cluster: demo", "cluster: other")
    with pytest.raises(ApiFailed) as err:
        cluster.call("PUT", "/v1/config", {"source": body, "filename": "x.yaml"})
    assert err.value.status == 422 and "cluster name" in str(err.value)
    assert stored(cluster) == before


def test_removed_resource_is_stopped_and_forgotten(cluster: LocalCluster, tmp_path: Path) -> None:
    with_extra = cluster.config_text(GOOD_RESOURCES + """  - id: gone
    agent: ocf:heartbeat:Dummy
""")
    f = tmp_path / "with.yaml"
    f.write_text(with_extra)
    assert vigil(cluster, "config", "apply", str(f)).returncode == 0
    assert cluster.wait_running("gone", 20) == "n1"
    state = cluster.state_dir("n1") / "rsctmp" / "Dummy-gone.state"
    assert state.exists()
    f.write_text(cluster.config_text(GOOD_RESOURCES))
    assert vigil(cluster, "config", "apply", str(f)).returncode == 0
    from vigil.lab.local import wait_for
    wait_for("gone stopped", lambda: not state.exists(), 20)
    wait_for("gone forgotten", lambda: all(
        r["id"] != "gone" for r in cluster.status()["resources"]), 10)
    assert cluster.running_on("d") == "n1"

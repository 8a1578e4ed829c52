"""Unit tests of the scheduler's parts: score arithmetic, placement order, scale."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_scheduler_support import config, placed, render, resource, state

from vigil.model.config import INFINITY as INF
from vigil.scheduler import add_scores, format_score, schedule
from vigil.scheduler.inputs import prepare
from vigil.scheduler.placement_order import placement_order, strongly_connected
from vigil.scheduler.scores import ScoreSheet, clamp

scores = st.integers(-3 * INF, 3 * INF)


@pytest.mark.parametrize(
    ("a", "b", "total"),
    [
        (1, 2, 3),
        (-INF, INF, -INF),
        (INF, -INF, -INF),
        (INF, 5, INF),
        (-INF, 5, -INF),
        (INF - 1, 10, INF),
        (-INF + 1, -10, -INF),
        (2 * INF, -1, INF),
        (-2 * INF, 2 * INF, -INF),
    ],
)
def test_add_scores_saturates(a: int, b: int, total: int) -> None:
    assert add_scores(a, b) == total


@given(scores, scores)
def test_add_scores_is_commutative_and_in_range(a: int, b: int) -> None:
    assert add_scores(a, b) == add_scores(b, a)
    assert -INF <= add_scores(a, b) <= INF


@given(scores, scores, scores)
def test_a_ban_is_never_outvoted(a: int, b: int, c: int) -> None:
    assert add_scores(add_scores(add_scores(a, -INF), b), c) == -INF


def test_format_score() -> None:
    assert [format_score(s) for s in (INF, 2 * INF, -INF, 0, -5)] == [
        "INFINITY",
        "INFINITY",
        "-INFINITY",
        "0",
        "-5",
    ]
    assert clamp(5 * INF) == INF


def test_score_sheet_remembers_the_first_ban() -> None:
    sheet = ScoreSheet(["n1", "n2"])
    sheet.add("n1", 10, "location prefers n1")
    sheet.add("n1", -INF, "n1 is in standby")
    sheet.add("n1", -INF, "location bans n1")
    sheet.add("n1", INF, "cli-prefer")
    sheet.add("n9", 5, "unknown node: ignored")
    assert sheet.totals() == {"n1": -INF, "n2": 0}
    assert sheet.ban("n1") == "n1 is in standby"
    assert sheet.ban("n2") is None


def test_placement_order_puts_colocation_targets_first() -> None:
    cfg = config(
        "n1",
        ["ip", "web", "db", "fs"],
        colocations=[("ip", "web", INF), ("web", "db", 50), ("db", "fs", INF)],
    )
    assert placement_order(prepare(cfg, state("n1"))) == ["fs", "db", "web", "ip"]


def test_placement_order_puts_mandatory_first_before_then() -> None:
    cfg = config("n1", ["app", "db", "log"], orders=[("db", "app")])
    assert placement_order(prepare(cfg, state("n1"))) == ["db", "app", "log"]


def test_placement_order_lets_colocation_win_over_order() -> None:
    # vip follows web, but starts before it: web must still be placed first.
    cfg = config("n1", ["vip", "web"], colocations=[("vip", "web", INF)], orders=[("vip", "web")])
    assert placement_order(prepare(cfg, state("n1"))) == ["web", "vip"]


def test_placement_order_breaks_colocation_cycles_by_config_order() -> None:
    cfg = config(
        "n1", ["c", "a", "b"], colocations=[("a", "b", INF), ("b", "a", INF), ("c", "a", 5)]
    )
    # c only follows the cycle: it must not jump ahead of a, although listed first.
    assert placement_order(prepare(cfg, state("n1"))) == ["a", "c", "b"]


def _reachable(out: list[list[int]], start: int) -> set[int]:
    seen, todo = {start}, [start]
    while todo:
        for w in out[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


@given(
    st.integers(1, 8).flatmap(
        lambda n: st.lists(st.lists(st.integers(0, n - 1), max_size=3), min_size=n, max_size=n)
    )
)
def test_strongly_connected_matches_mutual_reachability(out: list[list[int]]) -> None:
    comp = strongly_connected(out)
    reach = [_reachable(out, v) for v in range(len(out))]
    for v in range(len(out)):
        for w in range(len(out)):
            assert (comp[v] == comp[w]) == (w in reach[v] and v in reach[w])


def test_unknown_names_in_constraints_are_ignored() -> None:
    cfg = config(
        "n1 n2",
        ["web"],
        locations=[("web", "n9", -INF), ("ghost", "n1", INF)],
        colocations=[("web", "ghost", INF), ("web", "web", -INF)],
        orders=[("ghost", "web"), ("web", "web")],
    )
    t = schedule(cfg, state("n1 n2"))
    assert render(t) == ["1 start web@n1"]


def test_node_missing_from_snapshot_counts_as_unclean() -> None:
    cfg = config("n1 n2", ["web", "db"])
    t = schedule(cfg, state("n2", {"web@n1": "started"}))
    assert placed(t) == {"web": None, "db": "n2"}
    assert "unclean" in t.placements["web"].reason


def test_migration_threshold_zero_never_bans() -> None:
    cfg = config("n1 n2", [resource("web", migration_threshold=0)])
    st_ = state("n1 n2", {"web@n1": "failed"})
    assert render(schedule(cfg, st_)) == ["1 stop web@n1", "2 start web@n1 after 1"]


def test_hundreds_of_resources_are_placed_and_balanced() -> None:
    """A big cluster: every group of three (fs <- db <- app) stays together, load spreads."""
    names = " ".join(f"n{i}" for i in range(10))
    rids: list[str] = []
    colocations: list[tuple[str, str, int]] = []
    orders: list[tuple[str, str]] = []
    for g in range(150):
        fs, db, app = f"fs{g}", f"db{g}", f"app{g}"
        rids += [fs, db, app]
        colocations += [(db, fs, INF), (app, db, INF)]
        orders += [(fs, db), (db, app)]
    cfg = config(names, rids, colocations=colocations, orders=orders)
    t = schedule(cfg, state(names))
    where = placed(t)
    assert all(where[f"db{g}"] == where[f"fs{g}"] == where[f"app{g}"] for g in range(150))
    per_node = [sum(1 for n in where.values() if n == f"n{i}") for i in range(10)]
    assert per_node == [45] * 10
    assert len(t.actions) == 450 and all(a.op == "start" for a in t.actions)
    # Converged: scheduling the result again changes nothing.
    running = {f"{r}@{n}": "started" for r, n in where.items() if n}
    assert schedule(cfg, state(names, running)).actions == ()

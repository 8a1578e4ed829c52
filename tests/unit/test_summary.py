"""The Transition Summary formatter: crm_simulate's layout rules."""

from __future__ import annotations

from vigil.model.cib import import_cib_text
from vigil.model.transition import Action, Transition
from vigil.scheduler import schedule
from vigil.scheduler.summary import Change, Fence, apply_transition, format_summary, summarize


def test_widths_follow_crm_simulate_rules() -> None:
    # The resource column grows to len+2 only when an id is longer than the current width,
    # in line order (7 -> 9, then 8 fits); details are right-aligned to the longest.
    lines = format_summary([], [Change("Recover", "abcdefg", "node1 -> node2"),
                                Change("Start", "abcdefgh", "node1"),
                                Change("Stop", "x", "node2", "node availability")])
    assert lines == [
        "  * Recover    abcdefg     ( node1 -> node2 )",
        "  * Start      abcdefgh    (          node1 )",
        "  * Stop       x           (          node2 )  due to node availability",
    ]


def test_fence_lines_come_first_and_blocked_reasons() -> None:
    lines = format_summary([Fence("node1", "peer is no longer part of the cluster")],
                           [Change("Start", "then", "node1", "unrunnable first start", True)])
    assert lines == ["  * Fence (reboot) node1 'peer is no longer part of the cluster'",
                     "  * Start      then    ( node1 )  due to unrunnable first start (blocked)"]


CIB = """<cib><configuration><crm_config><cluster_property_set id="o">
<nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes>
<resources><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/>
<primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/></resources>
<constraints><rsc_location id="l" rsc="a" node="n2" score="100"/></constraints>
</configuration><status>
<node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member">
<lrm id="1"><lrm_resources><lrm_resource id="a" class="ocf" provider="heartbeat" type="Dummy">
<lrm_rsc_op id="a_last_0" operation="start" call-id="2" rc-code="0" op-status="0"
 interval="0" transition-key="2:1:0:x"/></lrm_resource></lrm_resources></lrm></node_state>
<node_state id="2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/>
</status></cib>"""


def test_summarize_a_move_and_a_start_then_everything_settles() -> None:
    imported = import_cib_text(CIB)
    transition = schedule(imported.config, imported.state)
    assert summarize(imported.config, imported.state, transition) == [
        "  * Move       a       ( n1 -> n2 )",
        "  * Start      b       (       n1 )",
    ]
    after = apply_transition(imported.state, transition)
    assert summarize(imported.config, after, schedule(imported.config, after)) == []


def _action(i: int, op: str, node: str, rsc: str = "db", instance: str = "") -> Action:
    return Action(i, node, rsc, op, instance=instance)  # type: ignore[arg-type]


def test_promote_demote_and_instance_names() -> None:
    imported = import_cib_text(CIB)
    transition = Transition(actions=(
        _action(1, "demote", "n1", "a", "a:0"),
        _action(2, "start", "n2", "a", "a:1"),
        _action(3, "promote", "n2", "a", "a:1"),
    ), fence=(("n3", "peer is no longer part of the cluster"),))
    assert summarize(imported.config, imported.state, transition) == [
        "  * Fence (reboot) n3 'peer is no longer part of the cluster'",
        "  * Demote     a:0     ( Promoted -> Unpromoted n1 )",
        "  * Promote    a:1     (    Stopped -> Promoted n2 )",
    ]


def test_details_are_at_least_five_wide() -> None:
    # crm_simulate with nodes n1/n2: "(    n2 )".
    assert format_summary([], [Change("Start", "a", "n2")]) == ["  * Start      a       (    n2 )"]


def test_fence_for_a_failed_operation_uses_crm_simulates_reason() -> None:
    # The scheduler explains "stop of svc failed on n1"; crm_simulate prints
    # "svc failed there" for any failed operation whose on-fail is fence.
    imported = import_cib_text(CIB)
    transition = Transition(actions=(), fence=(
        ("n1", "stop of a failed on n1"),
        ("n2", "monitor of b:1 failed on n2 (on_fail fence)"),
    ))
    assert summarize(imported.config, imported.state, transition) == [
        "  * Fence (reboot) n1 'a failed there'",
        "  * Fence (reboot) n2 'b:1 failed there'",
    ]


def test_demote_and_promote_in_place_is_a_re_promote() -> None:
    # What crm_simulate prints for on-fail=demote of the Promoted monitor.
    imported = import_cib_text(CIB)
    transition = Transition(actions=(
        _action(1, "demote", "n1", "a", "a:0"),
        _action(2, "promote", "n1", "a", "a:0"),
    ))
    assert summarize(imported.config, imported.state, transition) == [
        "  * Re-promote   a:0     ( Promoted n1 )",
    ]


def test_stopped_on_several_nodes_is_a_line_per_node() -> None:
    imported = import_cib_text(CIB)
    transition = Transition(actions=(_action(1, "stop", "n1", "a"), _action(2, "stop", "n2", "a")))
    assert summarize(imported.config, imported.state, transition) == [
        "  * Stop       a       (    n1 )  due to node availability",
        "  * Stop       a       (    n2 )  due to node availability",
    ]

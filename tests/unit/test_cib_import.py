"""The CIB importer: what maps, what is listed as not imported, and the status section."""

from __future__ import annotations

import json

import pytest

from vigil.model.cib import CibError, import_cib_text
from vigil.model.load import load_config_text
from vigil.model.state import Membership, RscState

CIB = """<cib><configuration><crm_config><cluster_property_set id="o">
<nvpair id="o1" name="stonith-enabled" value="true"/>
<nvpair id="o2" name="shutdown-escalation" value="20m"/></cluster_property_set></crm_config>
<nodes><node id="1" uname="n1"><instance_attributes id="n1a">
<nvpair id="n1s" name="standby" value="on"/><nvpair id="n1r" name="rack" value="r1"/>
</instance_attributes></node><node id="2" uname="n2"/><node id="3" uname="n3"/></nodes>
<resources>
<primitive id="fence1" class="stonith" type="fence_ipmilan">
 <instance_attributes id="f1"><nvpair id="f1h" name="pcmk_host_list" value="n1 n2"/>
 <nvpair id="f1i" name="ip" value="10.0.0.9"/></instance_attributes></primitive>
<group id="g"><primitive id="g1" class="ocf" provider="heartbeat" type="Dummy">
 <operations><op id="g1m" name="monitor" interval="10s" timeout="30s" on-fail="restart"/>
 </operations></primitive>
 <primitive id="g2" class="ocf" provider="heartbeat" type="Dummy"/></group>
<primitive id="lsb1" class="lsb" type="cron"/>
<bundle id="b1"/>
</resources>
<constraints>
<rsc_location id="l1" rsc="g" node="n2" score="INFINITY"/>
<rsc_location id="l2" rsc="g"><rule id="r" score="-INFINITY">
 <expression id="e" attribute="rack" operation="eq" value="r9"/></rule></rsc_location>
<rsc_ticket id="t1" rsc="g" ticket="T"/>
</constraints></configuration>
<status>
<node_state id="2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member">
<lrm id="2"><lrm_resources><lrm_resource id="g1" class="ocf" provider="heartbeat" type="Dummy">
<lrm_rsc_op id="g1_last_0" operation="start" call-id="2" rc-code="0" op-status="0"
 interval="0" transition-key="2:1:0:x"/>
<lrm_rsc_op id="g1_mon" operation="monitor" call-id="3" rc-code="7" op-status="0"
 interval="10000" transition-key="3:1:0:x"/></lrm_resource></lrm_resources></lrm>
<transient_attributes id="2"><instance_attributes id="s2">
<nvpair id="s2f" name="fail-count-g1#monitor_10000" value="2"/>
<nvpair id="s2p" name="pingd" value="100"/></instance_attributes></transient_attributes>
</node_state>
<node_state id="3" uname="n3" in_ccm="false" crmd="offline" join="down" expected="member"/>
</status></cib>"""


def test_config_maps_and_validates() -> None:
    imported = import_cib_text(CIB, "cib.xml")
    config = load_config_text(imported.yaml)  # what `vigil config validate` runs
    assert [r.id for r in config.resources] == ["g1", "g2"]
    assert config.groups[0].members == ("g1", "g2")
    assert config.resources[0].ops.monitor_interval == 10.0
    assert config.resources[0].meta.stickiness == 0  # Pacemaker's default, said explicitly
    assert config.fencing.devices[0].hosts == ("n1", "n2")
    assert dict(config.fencing.devices[0].params) == {"ip": "10.0.0.9"}
    locs = {loc.id: loc for loc in config.locations}
    assert locs["l1"].resource == "g" and locs["l1"].node == "n2"
    assert locs["l2"].rules[0].expressions[0].attribute == "rack"
    assert dict(config.node("n1").attributes) == {"rack": "r1"}


def test_everything_not_imported_is_listed_with_its_path() -> None:
    notes = {n.path: n.why for n in import_cib_text(CIB, "cib.xml").notes}
    assert any("lsb1" in p for p in notes)
    assert any("bundle[@id='b1']" in p for p in notes)
    assert any("rsc_ticket[@id='t1']" in p for p in notes)
    assert any("shutdown-escalation" in p for p in notes)


def test_status_section() -> None:
    state = import_cib_text(CIB, "cib.xml").state
    assert state.nodes["n1"].membership is Membership.UNCLEAN  # never seen, fencing on
    assert state.nodes["n1"].standby
    assert state.nodes["n2"].membership is Membership.ONLINE
    assert state.nodes["n3"].membership is Membership.UNCLEAN  # vanished member
    assert state.state_of("n2", "g1") is RscState.FAILED
    assert state.failures[("n2", "g1")].count == 2
    assert dict(state.node_attributes["n2"]) == {"pingd": "100"}


def test_not_a_cib() -> None:
    with pytest.raises(CibError, match="not well-formed"):
        import_cib_text("<cib>", "x.xml")
    with pytest.raises(CibError, match="not <cib>"):
        import_cib_text("<config/>", "x.xml")


def test_state_file_round_trip() -> None:
    from vigil.model.cib.state_file import state_from_doc, state_to_doc, state_to_json

    state = import_cib_text(CIB, "cib.xml", now=5.0).state
    assert state_from_doc(state_to_doc(state)) == state
    text = state_to_json(state)  # what `vigil import cib --state` writes
    assert json.loads(text) == state_to_doc(state)
    assert state_from_doc(json.loads(text)) == state
    assert '\n  {"node": "n2", "resource": "g1"' in text  # one entry per line
    with pytest.raises(ValueError, match="not a vigil state file"):
        state_from_doc({"nodes": {"n1": {}}}, "s.json")


LEGACY = """<cib><configuration><crm_config><cluster_property_set id="a">
<nvpair id="a1" name="stonith-enabled" value="false"/></cluster_property_set>
<cluster_property_set id="b"><nvpair id="b1" name="redis_REPL_INFO" value="n1"/>
</cluster_property_set></crm_config>
<nodes><node id="n1" uname="n1"/><node id="n2" uname="n2"/></nodes>
<resources><master id="ms-db"><meta_attributes id="m"><nvpair id="m1" name="master-max" value="1"/>
<nvpair id="m2" name="notify" value="true"/></meta_attributes>
<primitive id="db" class="ocf" provider="linbit" type="drbd">
<instance_attributes id="p"><nvpair id="p1" name="drbd_resource" value="r0"/></instance_attributes>
<operations><op id="o1" name="monitor" interval="29s" role="Master"/>
<op id="o2" name="monitor" interval="31s" role="Slave"/></operations></primitive></master>
<primitive id="fs" class="ocf" provider="heartbeat" type="Filesystem"/></resources>
<constraints><rsc_colocation id="fs-on-master" rsc="fs" with-rsc="ms-db" with-rsc-role="Master"
 score="INFINITY"/><rsc_order id="promote-first" first="ms-db" first-action="promote" then="fs"
 then-action="start" score="INFINITY"/></constraints></configuration><status/></cib>"""


def test_legacy_master_slave_names() -> None:
    imported = import_cib_text(LEGACY, "legacy.xml")
    clone = imported.config.clones[0]
    assert clone.promotable and clone.promoted_max == 1 and clone.notify
    db = imported.config.resource("db")
    assert db.ops.monitor_interval == 31.0  # the Slave (unpromoted) monitor
    assert db.ops.monitor_promoted_interval == 29.0
    coloc = imported.config.colocations[0]
    assert (coloc.with_resource, coloc.with_role) == ("ms-db", "Promoted")
    order = imported.config.orders[0]
    assert (order.first_action, order.then_action, order.kind) == ("promote", "start",
                                                                   "Mandatory")
    assert any("redis_REPL_INFO" in n.path for n in imported.notes)


def _op(rid: str, task: str, call: int, rc: int, interval: int = 0, expected: int = 0) -> str:
    return (f'<lrm_rsc_op id="{rid}-{call}" operation="{task}" call-id="{call}" rc-code="{rc}" '
            f'op-status="0" interval="{interval}" transition-key="{call}:1:{expected}:x"/>')


def _history_cib(resources: str, history: str) -> str:
    return f"""<cib><configuration><crm_config><cluster_property_set id="o">
<nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes>
<resources>{resources}</resources><constraints/></configuration><status>
<node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member">
<lrm id="1"><lrm_resources>{history}</lrm_resources></lrm>
<transient_attributes id="1"><instance_attributes id="t1">
<nvpair id="t1a" name="fail-count-u:1#monitor_10000" value="2"/>
</instance_attributes></transient_attributes></node_state></status></cib>"""


def test_history_of_clone_instances_unmanaged_and_promoted_failures() -> None:
    resources = (
        '<clone id="u-clone"><meta_attributes id="um"><nvpair id="um1" '
        'name="globally-unique" value="true"/></meta_attributes>'
        '<primitive id="u" class="ocf" provider="heartbeat" type="Dummy"/></clone>'
        '<clone id="a-clone"><primitive id="a" class="ocf" provider="heartbeat" '
        'type="Dummy"/></clone>'
        '<primitive id="off" class="ocf" provider="heartbeat" type="Dummy">'
        '<meta_attributes id="om"><nvpair id="om1" name="is-managed" value="false"/>'
        '</meta_attributes></primitive>'
        '<clone id="db-clone"><meta_attributes id="dm"><nvpair id="dm1" name="promotable" '
        'value="true"/></meta_attributes>'
        '<primitive id="db" class="ocf" provider="pacemaker" type="Stateful"/></clone>')
    history = "".join(
        f'<lrm_resource id="{rid}" class="ocf" provider="heartbeat" type="Dummy">{ops}'
        "</lrm_resource>" for rid, ops in (
            ("u:1", _op("u:1", "start", 2, 0)),
            ("a:0", _op("a:0", "start", 3, 0)),  # an old-style anonymous instance name
            ("off", _op("off", "start", 4, 0) + _op("off", "monitor", 5, 7, 10000)),
            ("db", _op("db", "start", 6, 0) + _op("db", "promote", 7, 0)
             + _op("db", "monitor", 8, 1, 9000, expected=8)),
        ))
    imported = import_cib_text(_history_cib(resources, history))
    st = imported.state
    assert st.resources[("n1", "u:1")].state is RscState.STARTED  # unique: per instance
    assert st.failures[("n1", "u:1")].count == 2
    assert st.resources[("n1", "a")].state is RscState.STARTED  # anonymous: the primitive
    # Pacemaker: a monitor finding an unmanaged resource not running means stopped.
    assert st.resources[("n1", "off")].state is RscState.STOPPED
    db = st.resources[("n1", "db")]
    assert db.state is RscState.FAILED and db.promoted  # failed while promoted: rc 9
    assert not imported.notes[1:]


def test_promoted_monitor_timeout_and_on_fail() -> None:
    def db(ops: str) -> str:
        return ('<clone id="db-clone"><meta_attributes id="dm"><nvpair id="dm1" '
                'name="promotable" value="true"/></meta_attributes><primitive id="db" '
                f'class="ocf" provider="pacemaker" type="Stateful"><operations>{ops}'
                "</operations></primitive></clone>")

    imported = import_cib_text(_history_cib(db(
        '<op id="dbp" name="monitor" interval="9s" role="Promoted" timeout="30s" '
        'on-fail="demote"/>'), ""))
    assert load_config_text(imported.yaml) == imported.config
    ops = imported.config.resource("db").ops
    assert (ops.monitor_promoted_interval, ops.monitor_promoted_timeout) == (9.0, 30.0)
    assert ops.on_fail_for("monitor_promoted", False) == "demote"
    # Pacemaker's Promoted monitor does not inherit the plain monitor's on-fail.
    imported = import_cib_text(_history_cib(db(
        '<op id="dbm" name="monitor" interval="10s" role="Unpromoted" on-fail="stop"/>'
        '<op id="dbp" name="monitor" interval="9s" role="Promoted"/>'), ""))
    ops = imported.config.resource("db").ops
    assert ops.on_fail_for("monitor", False) == "stop"
    assert ops.on_fail_for("monitor_promoted", False) == "restart"

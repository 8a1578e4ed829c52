"""Running one drill: a fresh lab, the probe and the detector, the steps in order, the
final state, then the lab torn down — always, also on a failed step or Ctrl-C.

Nodes named by selectors (`owner`, `dc` ...) are resolved when their step runs, from the
detector (owner) and the cluster's own answers (DC) or etcd's (leader); `as: name` keeps
the resolved node for later steps and for the expectations (`$name`).
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vigil.cli.client import ApiFailed, ApiUnreachable
from vigil.lab.drills.detector import Detector, Host, watch_list
from vigil.lab.drills.expectations import judge
from vigil.lab.drills.model import Drill, Step
from vigil.lab.drills.probe import VipProbe
from vigil.lab.drills.record import Mark, Record
from vigil.lab.drills.report import DrillResult
from vigil.lab.drills.spec import STANDARD_CONFIG
from vigil.lab.netlab import LabClient, NetnsLab
from vigil.lab.netns import LabError
from vigil.model.load import load_config_text

Log = Callable[[str], None]
LAB_ROOT = Path("/dev/shm/vigil-lab")
# Lab fault kinds each drill `heal:` undoes (power-off, hang, links: dedicated calls).
_HEAL_KINDS = {
    "partition": ("partition",),
    "isolate-store": ("isolate-from-store",),
    "asymmetric": ("asymmetric",),
    "loss": ("loss",),
    "monitor-fail": ("resource-monitor-fail",),
    "stop-fail": ("resource-stop-fail",),
    "stop-hang": ("resource-stop-hang",),
    "kill-etcd-leader": ("kill-etcd-leader",),
}
# Faults after which a node's own API may hang: ask the others first.
_SILENT = ("poweroff", "hang", "partition", "isolate-from-store", "loss", "link-down",
           "flap-link", "crash-agent", "stop-node")


class StepFailed(Exception):
    pass


class Aborted(Exception):
    """Ctrl-C: stop running steps."""


class DrillRun:
    def __init__(self, drill: Drill, log: Log = print, logs_dir: Path | None = None,
                 keep_all_logs: bool = False, ready_timeout: float = 90.0) -> None:
        self.drill = drill
        self.log = log
        self.logs_dir = logs_dir
        """Where agent logs are copied: a failed drill's always, every drill's with
        `keep_all_logs`."""
        self.keep_all_logs = keep_all_logs
        self.ready_timeout = ready_timeout
        setup = drill.setup
        self.lab = NetnsLab.create(LAB_ROOT / f"drill-{secrets.token_hex(3)}",
                                   name=f"d{secrets.token_hex(3)}", nodes=setup.nodes,
                                   witness=setup.witness, links=setup.links,
                                   config=setup.config or STANDARD_CONFIG,
                                   fencing=setup.fencing)
        self.record = Record(drill.name, self.lab.nodes, setup.service, setup.vip)
        self.t0 = 0.0
        self.wall_start = time.time()
        self.abort = threading.Event()
        self.interrupted = False
        self._since = 0.0
        self.probe: VipProbe | None = None
        self.detector: Detector | None = None

    # -- the run ----------------------------------------------------------------------

    def run(self) -> DrillResult:
        """Run the drill; the lab is torn down whatever happens. Ctrl-C stops the steps and
        tears down; the result then fails ("interrupted") and `interrupted` is set."""
        started = time.monotonic()
        # The steps run in a worker thread: talking to a host means entering its network
        # namespace (setns), and a process whose *main* thread sits in a node's namespace
        # counts as one of that node's processes — a power-off would kill the runner.
        worker = threading.Thread(target=self._guarded_run, name="drill-steps", daemon=True)
        try:
            worker.start()
            while worker.is_alive():
                worker.join(0.2)
        except KeyboardInterrupt:
            self.interrupted = True
            self.abort.set()
            self.record.errors.append("interrupted (Ctrl-C)")
            worker.join(30)
        finally:
            self._stop_samplers()
            verdicts = judge(self.drill, self.record)
            self._teardown(keep_logs=self.keep_all_logs or not all(v.ok for v in verdicts))
        return DrillResult(self.drill, self.record, verdicts, time.monotonic() - started)

    def _guarded_run(self) -> None:
        try:
            self._run()
        except Aborted:
            pass
        except Exception as e:  # recorded: the drill fails, the report says why
            self.record.errors.append(f"lab: {type(e).__name__}: {e}")

    def _run(self) -> None:
        self.log(f"{self.drill.name}: bringing up {len(self.lab.nodes)} nodes "
                 f"({self.lab.name}, {self.lab.links} link(s))")
        self.lab.up()
        self.lab.wait_ready(self.ready_timeout)
        self.wall_start = time.time()
        self.t0 = time.monotonic()
        self._start_samplers()
        deadline = self.t0 + self.drill.setup.timeout
        for step in self.drill.steps:
            if self.abort.is_set():
                raise Aborted
            if time.monotonic() > deadline:
                self.record.errors.append(f"the drill's timeout "
                                          f"({self.drill.setup.timeout:g}s) passed before "
                                          f"{step.mark}")
                break
            if not self._step(step, deadline):
                break
        self._final_state()

    def sleep(self, seconds: float) -> None:
        if self.abort.wait(max(0.0, seconds)):
            raise Aborted

    def _start_samplers(self) -> None:
        config = load_config_text(self.lab.config_text(), str(self.lab.config_path))
        watched = watch_list([(r.id, r.agent, dict(r.params)) for r in config.resources])
        hosts = [Host(n, self.lab.ns(n), self.lab.state_dir(n)) for n in self.lab.nodes]
        self.detector = Detector(hosts, watched, self.t0)
        self.probe = VipProbe(self.lab.ns(self.lab.client_host), self.lab.vip,
                              self.lab.service_port, self.t0)
        self.detector.start()
        self.probe.start()

    def _stop_samplers(self) -> None:
        end = time.monotonic() - self.t0 if self.t0 else 0.0
        if self.probe is not None:
            self.probe.stop()
            self.record.probes = self.probe.snapshot()
            if self.probe.error:
                self.record.errors.append(self.probe.error)
        if self.detector is not None:
            self.detector.stop()
            self.record.holders = list(self.detector.samples)
            self.record.sampler_cost = self.detector.cost()
            if not self.record.holders and self.detector.errors:
                self.record.errors.append("detector: " + "; ".join(self.detector.errors))
        self.record.duration = end

    def _teardown(self, keep_logs: bool) -> None:
        failed = bool(self.record.errors)
        if keep_logs and self.logs_dir is not None:
            dest = self.logs_dir / self.drill.name
            for host in self.lab.nodes + self.lab.witnesses:
                src = self.lab.state_dir(host) / "agent.log"
                if src.exists():
                    dest.mkdir(parents=True, exist_ok=True)
                    with contextlib.suppress(OSError):
                        shutil.copyfile(src, dest / f"{host}.log")
        try:
            self.lab.down(remove=True)
        except Exception as e:  # teardown must not hide the drill's outcome
            self.record.errors.append(f"teardown: {e}")
        self.log(f"{self.drill.name}: lab down{' (after errors)' if failed else ''}")

    # -- steps --------------------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _step(self, step: Step, deadline: float) -> bool:
        t = self.now()
        label = step.describe()
        try:
            label = self._do(step, deadline)
            ok, error = True, ""
        except (StepFailed, LabError, TimeoutError, ApiUnreachable, ApiFailed, OSError,
                KeyError) as e:
            ok, error = False, str(e).splitlines()[0] if str(e) else type(e).__name__
            self.record.errors.append(f"{step.mark} ({label}): {error}")
        self.record.marks.append(Mark(step.mark, t, self.now(), label, step.kind, ok, error))
        self.log(f"  t={t:7.2f}s {label}{'' if ok else ' -- FAILED: ' + error}")
        return ok

    def _do(self, step: Step, deadline: float) -> str:
        if step.kind == "wait":
            self.sleep(min(step.seconds, deadline - time.monotonic()))
            return f"wait {step.seconds:g}s"
        if step.kind == "until":
            return self._until(step, min(time.monotonic() + step.seconds, deadline))
        node = self._resolve(step.node) if step.node else None
        if step.save_as and node:
            self.record.variables[step.save_as] = node
        if step.kind == "fault":
            return self._fault(step, node)
        if step.kind == "heal":
            return self._heal(step, node)
        return self._action(step, node)

    # -- nodes ----------------------------------------------------------------------------

    def owner(self) -> str | None:
        """Where the service runs now: the detector's latest view, else the cluster's."""
        if self.detector is not None and self.detector.samples:
            held = self.detector.samples[-1].holders.get(self.drill.setup.service, ())
            if len(held) == 1:
                return held[0]
        with contextlib.suppress(ApiUnreachable, ApiFailed, StopIteration, LabError):
            return self._running_on(self.drill.setup.service)
        return None

    def _running_on(self, rid: str, status: dict[str, Any] | None = None) -> str | None:
        doc = status or self.status()
        r = next(r for r in doc["resources"] if r["id"] == rid)
        return str(r["node"]) if r["state"] == "started" and r["node"] else None

    def _resolve(self, ref: str) -> str:
        nodes = self.lab.nodes
        if ref.startswith("$"):
            return self.record.variables[ref[1:]]
        if ref in nodes or ref in self.lab.witnesses:
            return ref
        if ref in ("owner", "other"):
            owner = self.owner()
            if owner is None:
                raise StepFailed("no node runs the service (owner unknown)")
            if ref == "owner":
                return owner
            dc = self._dc()
            rest = [n for n in nodes if n not in (owner, dc)] or \
                [n for n in nodes if n != owner]
            return rest[0]
        if ref in ("dc", "not-dc"):
            dc = self._dc()
            return dc if ref == "dc" else next(n for n in nodes if n != dc)
        leader = self.lab.etcd_leader()
        if leader is None:
            raise StepFailed("no etcd leader found")
        return leader if ref == "etcd-leader" else next(n for n in nodes if n != leader)

    def _dc(self) -> str:
        dc = self.status().get("dc")
        if not dc:
            raise StepFailed("the cluster has no DC right now")
        return str(dc)

    def client(self) -> LabClient:
        """The API of every node, the ones under a fault last (a hung node's API would
        hold each call for the whole timeout)."""
        faulted = set()
        for f in self.lab.faults.active():
            if f.kind in _SILENT:
                faulted.update(f.target.replace("|", ",").split(","))
        order = sorted(self.lab.nodes, key=lambda n: n in faulted)
        return LabClient([(self.lab.ns(n), self.lab.api_url(n)) for n in order], timeout=2.0)

    def status(self) -> dict[str, Any]:
        return self.client().call("GET", "/v1/status")

    # -- conditions -----------------------------------------------------------------------

    def _until(self, step: Step, until: float) -> str:
        what = step.what
        node = self._resolve(step.node) if step.node else None
        label = f"until {what}" + (f" {node}" if node else "") + \
            (f" {step.resource}" if step.resource else "")
        last_error = ""
        self._since = self.now()
        while True:
            try:
                if self._condition(step, node):
                    return label + f" (after {self.now():.2f}s)"
            except (ApiUnreachable, ApiFailed, LabError, OSError, KeyError,
                    StopIteration) as e:
                last_error = str(e).splitlines()[0] if str(e) else type(e).__name__
            if time.monotonic() > until:
                raise StepFailed(f"timed out after {step.seconds:g}s"
                                 + (f" (last error: {last_error})" if last_error else ""))
            self.sleep(0.05)

    def _condition(self, step: Step, node: str | None) -> bool:
        what = step.what
        if what == "serving":
            assert self.probe is not None
            who = self.probe.serving(since=self._since)
            return who is not None and (node is None or who == node)
        if what == "moved-from":
            assert self.probe is not None and self.detector is not None
            who = self.probe.serving(since=self._since)
            vip = self.detector.samples[-1].holders.get(self.drill.setup.vip, ()) \
                if self.detector.samples else ()
            return who is not None and who != node and node not in vip
        if what == "not-serving":
            assert self.probe is not None
            return self.probe.serving() is None
        doc = self.status()
        if what == "settled":
            dc = doc.get("dc")
            if not dc:
                return False
            dc_doc = self.client_for(str(dc)).call("GET", "/v1/status")
            return bool(dc_doc["local"]["dc_reason"] == "nothing to do")
        if what == "running":
            rid = step.resource or self.drill.setup.service
            on = self._running_on(rid, doc)
            return on is not None and (node is None or on == node)
        if what == "all-running":
            return all(r["state"] == "started" for r in doc["resources"])
        if what == "node-online":
            return any(n["name"] == node and n["state"] == "online" for n in doc["nodes"])
        if what == "node-offline":
            return any(n["name"] == node and n["state"] in ("offline", "fenced", "being-fenced")
                       for n in doc["nodes"])
        if what == "fenced":
            return node in self._fenced()
        raise StepFailed(f"unknown condition {what}")

    def client_for(self, node: str) -> LabClient:
        return LabClient([(self.lab.ns(node), self.lab.api_url(node))], timeout=2.0)

    def _fence_history(self) -> list[dict[str, Any]]:
        doc = self.client().call("GET", "/v1/fence/history?limit=200")
        return [h for h in doc["history"]
                if h["state"] == "done" and h["requested_at"] >= self.wall_start - 1]

    def _fenced(self) -> list[str]:
        return sorted({h["node"] for h in self._fence_history()})

    # -- faults, heals, actions -------------------------------------------------------------

    def _fault(self, step: Step, node: str | None) -> str:
        f = self.lab.faults
        what = step.what
        link = step.link or 1
        if what == "power-off":
            f.poweroff(_need(node))
        elif what == "hang":
            f.hang(_need(node))
        elif what == "agent-crash":
            f.crash_agent(_need(node))
        elif what == "resource-kill":
            f.kill_resource(_need(node), step.resource or self.drill.setup.service)
        elif what == "link-down":
            f.link_down(_need(node), link)
        elif what == "flap":
            half = (step.period or 1.0) / 2
            f.flap_link(_need(node), link, down_s=half, up_s=half, count=step.count or 0)
        elif what == "partition":
            groups = [[self._resolve(n) for n in g] for g in step.groups]
            listed = {n for g in groups for n in g}
            groups[-1] += [n for n in self.lab.nodes + self.lab.witnesses if n not in listed]
            if step.save_as:  # the first node named: `groups: [[owner], ...]` pins the owner
                self.record.variables[step.save_as] = groups[0][0]
            f.partition(groups)
            return "fault partition " + " | ".join(",".join(g) for g in groups)
        elif what == "isolate-store":
            f.isolate_from_store(_need(node))
        elif what == "asymmetric":
            targets = [self._resolve(n) for g in step.groups for n in g]
            for dst in targets:
                f.asymmetric(_need(node), dst)
            return f"fault asymmetric {node} -> {','.join(targets)} dropped"
        elif what == "loss":
            hosts = [node] if node else self.lab.nodes
            for h in hosts:
                f.loss(h, step.percent or 20, step.link)
            return f"fault loss {step.percent}% on {','.join(hosts)}" + \
                (f" link {step.link}" if step.link else "")
        elif what in ("monitor-fail", "stop-fail", "stop-hang"):
            rid = step.resource or self.drill.setup.service
            f.resource_fault(rid, what, node)
            return f"fault {what} {rid}" + (f" on {node}" if node else "")
        elif what == "kill-etcd-leader":
            fault = f.kill_etcd_leader()
            if step.save_as:
                self.record.variables[step.save_as] = fault.target
            return f"fault kill-etcd-leader (etcd of {fault.target})"
        else:
            raise StepFailed(f"unknown fault {what}")
        extra = f" link {link}" if what in ("link-down", "flap") else ""
        extra += f" {step.resource or self.drill.setup.service}" if what == "resource-kill" else ""
        return f"fault {what} {node}{extra}"

    def _heal(self, step: Step, node: str | None) -> str:
        f = self.lab.faults
        what = step.what
        if what == "all":
            f.undo_all()
        elif what == "power-off":
            f.power_on(_need(node))
        elif what == "hang":
            f.resume(_need(node))
        elif what == "agent-crash":
            f.start_agent(_need(node))
        elif what in ("link-down", "flap"):
            f.link_up(_need(node), step.link or 1)
        else:
            kinds = _HEAL_KINDS[what]
            undone = [x for x in f.active() if x.kind in kinds
                      and (node is None or node in x.target.replace("|", ",").split(",")
                           or x.target == "*")]
            if not undone:
                raise StepFailed(f"no {what} fault is in force")
            for x in reversed(undone):
                f.undo(x.id)
        return f"heal {what}" + (f" {node}" if node else "")

    def _action(self, step: Step, node: str | None) -> str:
        what = step.what
        rid = step.resource
        if what in ("move", "clear", "cleanup"):
            body = {"node": node} if node else {}
            self.client().call("POST", f"/v1/resources/{rid}/{what}", body, timeout=30)
        elif what in ("standby", "unstandby"):
            self.client().call("POST", f"/v1/nodes/{node}/{what}", {}, timeout=30)
        elif what == "stop-node":
            self.lab.faults.stop_node(_need(node))
        elif what == "start-node":
            self._start_node(_need(node))
        else:
            raise StepFailed(f"unknown action {what}")
        return f"do {what}" + (f" {rid}" if rid else "") + (f" {node}" if node else "")

    def _start_node(self, node: str) -> None:
        """Boot a node's agent once its planned stop has finished. (The lab's
        start_agent boots only a node that still has processes, so that it never boots a
        powered-off one; a node stopped the planned way has none left either.)"""
        until = time.monotonic() + 120
        while self.lab.agent_pid(node) is not None:
            if time.monotonic() > until:
                raise StepFailed(f"the agent of {node} is still stopping after 120s")
            self.sleep(0.05)
        self.lab.faults.start_agent(node)
        if self.lab.agent_pid(node) is None:
            self.lab.boot(node)

    # -- the end ------------------------------------------------------------------------------

    def _final_state(self) -> None:
        try:
            doc = self.status()
            self.record.final_resources = {
                r["id"]: {"state": r["state"], "node": r["node"]} for r in doc["resources"]}
            self.record.final_nodes = {n["name"]: n["state"] for n in doc["nodes"]}
            self.record.final_nodes["dc"] = str(doc.get("dc"))
            history = self._fence_history()
            self.record.fenced = sorted({h["node"] for h in history})
            # Fencing on the timeline: when it was confirmed, on the drill's clock.
            for h in history:
                t = float(h["finished_at"]) - self.wall_start
                self.record.marks.append(Mark(
                    f"fenced-{h['node']}-{len(self.record.marks)}", t, t,
                    f"{h['node']} fenced ({h['action']}, by {h['requested_by']})", "fenced"))
            self.record.marks.sort(key=lambda m: m.t)
        except (ApiUnreachable, ApiFailed, LabError, OSError) as e:
            self.record.errors.append(f"final status: {e}")


def _need(node: str | None) -> str:
    if node is None:
        raise StepFailed("this step needs a node")
    return node


def run_drill(drill: Drill, log: Log = print, logs_dir: Path | None = None) -> DrillResult:
    return DrillRun(drill, log, logs_dir).run()

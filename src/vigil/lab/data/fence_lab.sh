#!/bin/sh
# fence_lab, the shell edition: the same fence-agents protocol and parameters as
# `python -m vigil.lab.fence_lab`, without Python's start-up time (~0.1 s), so the
# failover benchmark measures vigil rather than its test fence device.
# A lab node is every process with VIGIL_LAB_NODE=<tag> in its environment.
action=reboot plug= tag= state_dir= fail=0 delay=0 record=
while IFS= read -r line || [ -n "$line" ]; do
  key=${line%%=*}; value=${line#*=}
  value=${value#\"}; value=${value%\"}
  case "$key" in
    action|option) action=$value ;;
    plug|port) plug=$value ;;
    tag) tag=$value ;;
    state_dir) state_dir=$value ;;
    fail) fail=$value ;;
    delay) delay=$value ;;
    record) record=$value ;;
  esac
done
node=${tag:-$plug}
[ -n "$record" ] && echo "$(date +%s.%N) $action $node" >> "$record"
[ "$delay" != 0 ] && sleep "$delay"

pids() {
  [ -n "$node" ] || return 0
  grep -lsxz "VIGIL_LAB_NODE=$node" /proc/[0-9]*/environ 2>/dev/null \
    | sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p' | grep -vx "$$"
}

off() {
  [ "$fail" = 1 ] || [ "$fail" = true ] && { echo "fence_lab: failing on purpose (fail=1)" >&2; exit 1; }
  [ -n "$node" ] || { echo "fence_lab: no plug or tag given" >&2; exit 1; }
  rounds=0
  while :; do
    list=$(pids)
    [ -z "$list" ] && break
    # shellcheck disable=SC2086
    kill -STOP $list 2>/dev/null; kill -KILL $list 2>/dev/null
    rounds=$((rounds + 1))
    [ "$rounds" -gt 1000 ] && { echo "fence_lab: processes of $node survive SIGKILL" >&2; exit 1; }
  done
  [ -n "$state_dir" ] && rm -rf "$state_dir/rsctmp"
  return 0
}

case "$action" in
  off) off; exit 0 ;;
  reboot) off; exit 0 ;;
  on|monitor|list|list-status|validate-all) exit 0 ;;
  status) [ -n "$(pids)" ] && exit 0 || exit 2 ;;
  metadata)
    echo '<?xml version="1.0" ?>'
    echo '<resource-agent name="fence_lab" shortdesc="Powers off a vigil lab node">'
    echo '<parameters><parameter name="plug" unique="0" required="0"><content type="string"/></parameter></parameters>'
    echo '<actions><action name="on"/><action name="off"/><action name="reboot"/><action name="status"/><action name="monitor"/><action name="list"/><action name="metadata"/></actions>'
    echo '</resource-agent>'
    exit 0 ;;
  *) echo "fence_lab: unknown action '$action'" >&2; exit 1 ;;
esac

#!/bin/sh
# fence_netns: the network-namespace lab's fence agent (fence-agents stdin protocol:
# key=value lines; actions off, on, reboot, status, monitor, list, metadata).
# A lab host is the network namespace <prefix><plug>. off = take its links down (it
# answers nothing from then on, not even ARP for an address still configured on it),
# then SIGSTOP+SIGKILL every process in the namespace (`ip netns pids`) until none is
# left, and empty its rsctmp (a power cut empties tmpfs). on = flush the addresses a
# running host added (a booting machine starts with its own addresses only), links up,
# then boot the host (its boot.sh starts etcd member + agent) after boot_delay seconds,
# in the background, as a machine's firmware would. reboot = off, then (in the
# background, after boot_delay) on. Shell, not Python: fencing is on the failover path.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
action=reboot plug= prefix= links=1 lab_dir= boot_delay=0 record= fail=0
while IFS= read -r line || [ -n "$line" ]; do
  key=${line%%=*}; value=${line#*=}
  value=${value#\"}; value=${value%\"}
  case "$key" in
    action|option) action=$value ;;
    plug|port) plug=$value ;;
    prefix) prefix=$value ;;
    links) links=$value ;;
    lab_dir) lab_dir=$value ;;
    boot_delay) boot_delay=$value ;;
    record) record=$value ;;
    fail) fail=$value ;;
  esac
done
ns=$prefix$plug
[ -n "$record" ] && echo "$(date +%s.%N) $action $plug" >> "$record"

need_host() {
  [ -n "$plug" ] && [ -n "$prefix" ] || { echo "fence_netns: plug and prefix are required" >&2; exit 1; }
  [ -e "/run/netns/$ns" ] || { echo "fence_netns: no lab host $ns" >&2; exit 1; }
}

links_set() {  # links_set up|down: one `ip` run for every link
  k=1 batch=
  while [ "$k" -le "$links" ]; do
    batch="${batch}link set eth$k $1
"
    k=$((k + 1))
  done
  printf '%s' "$batch" | ip -n "$ns" -force -batch - 2>/dev/null
}

off() {
  [ "$fail" = 1 ] && { echo "fence_netns: failing on purpose (fail=1)" >&2; exit 1; }
  need_host
  links_set down
  rounds=0
  while :; do
    list=$(ip netns pids "$ns" 2>/dev/null)
    [ -z "$list" ] && break
    # shellcheck disable=SC2086
    kill -STOP $list 2>/dev/null; kill -KILL $list 2>/dev/null
    rounds=$((rounds + 1))
    [ "$rounds" -gt 2000 ] && { echo "fence_netns: processes of $ns survive SIGKILL" >&2; exit 1; }
  done
  [ -n "$lab_dir" ] && rm -rf "$lab_dir/$plug/rsctmp"
  return 0
}

on() {
  need_host
  if [ -n "$(ip netns pids "$ns" 2>/dev/null)" ]; then
    links_set up  # already on (booted): nothing else to do
    return 0
  fi
  # Addresses the host added while it ran (a VIP) do not survive a power cycle.
  k=1
  while [ "$k" -le "$links" ]; do
    base=$(cat "$lab_dir/$plug/eth$k.addr" 2>/dev/null)
    if [ -n "$base" ]; then
      ip -n "$ns" -4 addr flush dev "eth$k" 2>/dev/null
      ip -n "$ns" addr add "$base" dev "eth$k" 2>/dev/null
    fi
    k=$((k + 1))
  done
  links_set up
  [ -x "$lab_dir/$plug/boot.sh" ] || { echo "fence_netns: $lab_dir/$plug/boot.sh missing" >&2; exit 1; }
  setsid sh -c "sleep $boot_delay; exec '$lab_dir/$plug/boot.sh'" </dev/null >/dev/null 2>&1 &
  return 0
}

case "$action" in
  off) off; echo "Success: Powered OFF"; exit 0 ;;
  on) on; echo "Success: Powered ON"; exit 0 ;;
  reboot)
    off
    # The power-on half runs in the background after boot_delay (the host stays dark
    # meanwhile, as a rebooting machine does): fencing is confirmed as soon as it is off.
    setsid sh -c "sleep $boot_delay; printf '%s\n' action=on plug=$plug prefix=$prefix \
      links=$links lab_dir=$lab_dir boot_delay=0 | '$0'" </dev/null >/dev/null 2>&1 &
    echo "Success: Rebooted"; exit 0 ;;
  status) need_host; [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && { echo "Status: ON"; exit 0; }
          echo "Status: OFF"; exit 2 ;;
  list|list-status)  # every lab node host: "plug,alias" (list-status adds on/off)
    [ -n "$prefix" ] || exit 0
    for f in /run/netns/"$prefix"n*; do
      [ -e "$f" ] || continue
      h=${f#/run/netns/"$prefix"}
      if [ "$action" = list ]; then echo "$h,$h"
      elif [ -n "$(ip netns pids "$prefix$h" 2>/dev/null)" ]; then echo "$h,$h,on"
      else echo "$h,$h,off"; fi
    done
    exit 0 ;;
  monitor|validate-all) exit 0 ;;
  metadata|meta-data)
    echo '<?xml version="1.0" ?>'
    echo '<resource-agent name="fence_netns" shortdesc="Powers a vigil network-namespace lab host off and on">'
    echo '<parameters>'
    for p in plug prefix links lab_dir boot_delay record fail; do
      echo "<parameter name=\"$p\" unique=\"0\" required=\"0\"><content type=\"string\"/></parameter>"
    done
    echo '</parameters>'
    echo '<actions><action name="on"/><action name="off"/><action name="reboot"/><action name="status"/><action name="monitor"/><action name="list"/><action name="metadata"/></actions>'
    echo '</resource-agent>'
    exit 0 ;;
  *) echo "fence_netns: unknown action '$action'" >&2; exit 1 ;;
esac

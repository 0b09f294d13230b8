#!/bin/sh
# Stands up (and takes down) one machine's worth of OVN with vswitch as its
# hardware VTEP, all in network namespaces, every daemon with its own
# run/db/log directory under DIR, nothing started through systemd:
#
#   PREFIX-hv   an OVN hypervisor: ovsdb-server (Open_vSwitch), ovs-vswitchd
#               with the userspace datapath (datapath_type=netdev: no kernel
#               module), ovn-controller with VXLAN encapsulation, underlay
#               address 10.99.0.1 on br-phy; the OVN central databases and
#               ovn-northd (unix sockets, no address needed) also run here
#   PREFIX-h1   a host on logical switch port lsp-h1: 192.168.90.1
#   PREFIX-vt   the VTEP machine: ovsdb-server (hardware_vtep),
#               ovn-controller-vtep, and `vswitch run --vtep-db` with a VXLAN
#               port at 10.99.0.2 and the port to h2
#   PREFIX-h2   a host behind vswitch: 192.168.90.2
#
# Usage: ovn-lab.sh up|down|vtep-db-stop|vtep-db-start [PREFIX [DIR]]
# (root; PREFIX default "ovn", DIR default /tmp/PREFIX-lab). VSWITCH names
# the binary (default `vswitch` on the PATH), VNI the VNI vswitch's VXLAN
# port starts with (default 42), KEY the logical switch's tunnel_key (pinned
# with requested-tnl-key; by default OVN picks one, which vswitch's VTEP
# thread maps onto its port in place of VNI; OVN with VXLAN encapsulation
# allows 1-4095).
# `down` stops what `up` started, by the PIDs in DIR/*.pid, and deletes the
# namespaces.
set -eu

cmd=${1:-}
P=${2:-ovn}
D=${3:-/tmp/$P-lab}
VSWITCH=${VSWITCH:-vswitch}
VNI=${VNI:-42}
KEY=${KEY:-}
HV=$P-hv
VT=$P-vt
H1=$P-h1
H2=$P-h2
# The switch's name: its control socket, and its Physical_Switch.
SW=$P-vs

run() { ip netns exec "$1" env OVS_RUNDIR="$2" OVS_DBDIR="$2" OVS_LOGDIR="$2" \
    OVN_RUNDIR="$2" OVN_DBDIR="$2" OVN_LOGDIR="$2" sh -c "$3"; }

daemon_opts() { echo "-vconsole:off --detach --no-chdir --pidfile=$D/$1.pid --log-file=$D/$1.log"; }

serve() { # NAME NS: an ovsdb-server for $D/NAME/NAME.db on unix:$D/NAME.sock in NS
    dir=$D/$1
    run "$2" "$dir" "ovsdb-server $dir/$1.db --remote=punix:$D/$1.sock \
        --unixctl=$dir/ctl $(daemon_opts "$1")"
}

db() { # NAME SCHEMA NS: a new database, served
    mkdir -p "$D/$1"
    rm -f "$D/$1/$1.db"
    ovsdb-tool create "$D/$1/$1.db" "$2"
    serve "$1" "$3"
}

wait_for() { # what, command: up to 10 s
    i=0
    until sh -c "$2" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 100 ]; then
            echo "ovn-lab: $1 did not come up (logs in $D)" >&2
            exit 1
        fi
        sleep 0.1
    done
}

up() {
    mkdir -p "$D"
    for ns in $HV $VT $H1 $H2; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
    # Underlay: hypervisor br-phy (10.99.0.1) to the VTEP machine (10.99.0.2).
    ip link add "$P-u1" netns "$HV" type veth peer name "$P-u2" netns "$VT"
    ip -n "$HV" link set "$P-u1" up
    ip -n "$VT" link set "$P-u2" up
    ip -n "$VT" addr add 10.99.0.2/24 dev "$P-u2"
    # Hosts.
    ip link add eth0 netns "$H1" type veth peer name "$P-p1" netns "$HV"
    ip link add eth0 netns "$H2" type veth peer name "$P-p2" netns "$VT"
    ip -n "$H1" link set eth0 address 02:90:00:00:00:01 up
    ip -n "$H2" link set eth0 address 02:90:00:00:00:02 up
    ip -n "$H1" addr add 192.168.90.1/24 dev eth0
    ip -n "$H2" addr add 192.168.90.2/24 dev eth0
    ip -n "$HV" link set "$P-p1" up
    ip -n "$VT" link set "$P-p2" up
    # Inner MTU: 1500 - 50 bytes of VXLAN.
    ip -n "$H1" link set eth0 mtu 1450
    ip -n "$H2" link set eth0 mtu 1450
    # The userspace datapath forwards what a veth hands it with the checksum
    # left to offload as it is (TCP then fails): the host finishes its own.
    ip netns exec "$H1" ethtool -K eth0 tx off >/dev/null

    # OVN central.
    db nb /usr/share/ovn/ovn-nb.ovsschema "$HV"
    db sb /usr/share/ovn/ovn-sb.ovsschema "$HV"
    NB=unix:$D/nb.sock
    SB=unix:$D/sb.sock
    mkdir -p "$D/northd"
    run "$HV" "$D/northd" "ovn-northd --ovnnb-db=$NB --ovnsb-db=$SB \
        --unixctl=$D/northd/ctl $(daemon_opts northd)"

    # The hypervisor.
    db conf /usr/share/openvswitch/vswitch.ovsschema "$HV"
    HVDB=unix:$D/conf.sock
    # One run directory for both: ovn-controller finds br-int.mgmt there.
    mkdir -p "$D/hv"
    ovs-vsctl --db="$HVDB" --no-wait init
    run "$HV" "$D/hv" "ovs-vswitchd $HVDB $(daemon_opts vswitchd)"
    ovs-vsctl --db="$HVDB" -- add-br br-phy -- set bridge br-phy datapath_type=netdev \
        -- add-port br-phy "$P-u1"
    wait_for "br-phy" "ip -n $HV link show br-phy"
    ip -n "$HV" addr add 10.99.0.1/24 dev br-phy
    ip -n "$HV" link set br-phy up
    ovs-vsctl --db="$HVDB" -- add-br br-int -- set bridge br-int datapath_type=netdev \
        fail-mode=secure other-config:disable-in-band=true \
        -- add-port br-int "$P-p1" -- set interface "$P-p1" external_ids:iface-id=lsp-h1
    ovs-vsctl --db="$HVDB" set open_vswitch . external_ids:system-id=hv1 \
        external_ids:ovn-remote="$SB" external_ids:ovn-encap-type=vxlan \
        external_ids:ovn-encap-ip=10.99.0.1 external_ids:ovn-bridge=br-int \
        external_ids:ovn-bridge-datapath-type=netdev
    run "$HV" "$D/hv" "ovn-controller $HVDB $(daemon_opts controller)"

    # The VTEP machine: its database, ovn-controller-vtep, vswitch.
    db vtep /usr/share/openvswitch/vtep.ovsschema "$VT"
    VTDB=unix:$D/vtep.sock
    mkdir -p "$D/cvtep"
    run "$VT" "$D/cvtep" "ovn-controller-vtep --vtep-db=$VTDB --ovnsb-db=$SB $(daemon_opts cvtep)"
    ip netns exec "$VT" "$VSWITCH" run --name "$SW" --vtep-db "$VTDB" \
        "vxlan:vx0,vni=$VNI,local=10.99.0.2" "$P-p2" >"$D/vswitch.log" 2>&1 &
    echo $! >"$D/vswitch.pid"
    wait_for "vswitch's Physical_Switch" "vtep-ctl --db=$VTDB list-ports $SW | grep -qx $P-p2"

    # The logical switch, its port on the hypervisor, its port on the VTEP.
    ovn-nbctl --db="$NB" ls-add ls0
    if [ -n "$KEY" ]; then
        ovn-nbctl --db="$NB" set logical_switch ls0 other_config:requested-tnl-key="$KEY"
    fi
    ovn-nbctl --db="$NB" lsp-add ls0 lsp-h1 -- lsp-set-addresses lsp-h1 "02:90:00:00:00:01 192.168.90.1"
    ovn-nbctl --db="$NB" lsp-add ls0 lsp-vtep -- lsp-set-type lsp-vtep vtep \
        -- lsp-set-options lsp-vtep vtep-physical-switch="$SW" vtep-logical-switch=ls0 \
        -- lsp-set-addresses lsp-vtep unknown
    vtep-ctl --db="$VTDB" add-ls ls0 -- bind-ls "$SW" "$P-p2" 0 ls0
    echo "ovn-lab: up (logs and sockets in $D)"
    echo "  ip netns exec $H2 ping 192.168.90.1"
    echo "  vtep-ctl --db=$VTDB list-local-macs ls0"
    echo "  $VSWITCH fdb show --name $SW"
}

down() {
    pids=""
    for pidfile in "$D"/*.pid; do
        [ -e "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null && pids="$pids $pid"
        rm -f "$pidfile"
    done
    # Up to 5 s for them to end, then for good.
    for pid in $pids; do
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    for ns in $HV $VT $H1 $H2; do
        ip netns del "$ns" 2>/dev/null || true
    done
    echo "ovn-lab: down ($D kept for its logs)"
}

stop_vtep_db() {
    pid=$(cat "$D/vtep.pid")
    kill "$pid"
    rm -f "$D/vtep.pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

case $cmd in
up) up ;;
down) down ;;
# Take the hardware_vtep database server away and bring it back (its data kept).
vtep-db-stop) stop_vtep_db ;;
vtep-db-start) serve vtep "$VT" ;;
*)
    echo "usage: ovn-lab.sh up|down|vtep-db-stop|vtep-db-start [PREFIX [DIR]]" >&2
    exit 2
    ;;
esac

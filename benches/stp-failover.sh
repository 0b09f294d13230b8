#!/bin/bash
# Spanning tree failover: the same ring of three switches A, B, C (links A-B,
# B-C, C-A), built of (MODE=vswitch) three vswitch processes with RSTP, each
# in a namespace of its own, (MODE=linux) three Linux bridges with kernel STP,
# each in a namespace of its own, or (MODE=ovs) three Open vSwitch bridges on
# the userspace datapath with RSTP (datapath_type=netdev, rstp_enable=true),
# in one ovs-vswitchd started here in a namespace of its own and stopped at
# the end. Timers everywhere: hello 1 s, max age 6 s, forward delay 4 s
# (the shortest the kernel takes). A is root; a host on A pings a host on B
# every 10 ms over the active link A-B; after 3 s that link is cut (A's end
# set down). Reported: the outage (the longest gap between two echo replies)
# and the echo requests lost. Root only; a vswitch binary: VSWITCH (default
# target/release/vswitch of this checkout).
# usage: MODE=vswitch|linux|ovs [DURATION=30] [SHOW=1] [KEEP=ping.txt] benches/stp-failover.sh
# (SHOW: print the switches' stp show, the spanning tree log lines, and when
# the kernel told B's namespace of the link change (ip monitor);
# KEEP: keep ping's output)
set -eu
MODE=${MODE:-vswitch}
case "$MODE" in vswitch | linux | ovs) ;; *)
	echo "MODE=$MODE: expected vswitch, linux or ovs" >&2
	exit 2
	;;
esac
P=vsw-stpf
HERE="$(cd "$(dirname "$0")/.." && pwd)"
VSWITCH=${VSWITCH:-$HERE/target/release/vswitch}
WORK=$(mktemp -d /tmp/stp-failover.XXXXXX)
DURATION=${DURATION:-30}
PIDS=()
NSS=()

cleanup() {
	# Only what this script started, by PID, then its namespaces and files.
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
	for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

newns() {
	ip netns del "$1" 2>/dev/null || true
	ip netns add "$1"
	NSS+=("$1")
	ip -n "$1" link set lo up
}

# The namespace of switch $1 (a, b or c).
ns() { if [ "$MODE" = ovs ]; then echo ${P}o; else echo $P$1; fi; }

if [ "$MODE" = ovs ]; then newns ${P}o; else for s in a b c; do newns $P$s; done; fi
newns ${P}ha
newns ${P}hb

# Ring links: interface "xy" on switch x faces switch y.
for pair in ab bc ca; do
	x=${pair:0:1} y=${pair:1:1}
	ip link add $x$y netns "$(ns $x)" type veth peer name $y$x netns "$(ns $y)"
done
for h in a b; do
	ip link add eth0 netns ${P}h$h type veth peer name h$h netns "$(ns $h)"
done
ip -n ${P}ha addr add 10.77.0.1/24 dev eth0
ip -n ${P}hb addr add 10.77.0.2/24 dev eth0
ip -n ${P}ha link set eth0 up
ip -n ${P}hb link set eth0 up

declare -A PRIO=([a]=4096 [b]=32768 [c]=36864)
declare -A PORTS=([a]="ab ac ha" [b]="ba bc hb" [c]="ca cb")

case "$MODE" in
vswitch)
	for s in a b c; do
		cfg=$WORK/$s.toml
		{
			echo 'stp = "rstp"'
			echo "stp-priority = ${PRIO[$s]}"
			echo 'stp-hello-time = 1'
			echo 'stp-max-age = 6'
			echo 'stp-forward-delay = 4'
			if [ $s != c ]; then
				echo "[ports.h$s]"
				echo 'stp-edge = true'
			fi
		} >"$cfg"
		for p in ${PORTS[$s]}; do ip -n "$(ns $s)" link set "$p" up; done
		# shellcheck disable=SC2086
		ip netns exec "$(ns $s)" "$VSWITCH" run --name $P-$s --config "$cfg" ${PORTS[$s]} \
			>"$WORK/vswitch-$s.log" 2>&1 &
		PIDS+=($!)
	done
	;;
linux)
	for s in a b c; do
		ip -n "$(ns $s)" link add br0 type bridge stp_state 1 forward_delay 400 max_age 600 \
			hello_time 100 priority "${PRIO[$s]}"
		for p in ${PORTS[$s]}; do
			ip -n "$(ns $s)" link set "$p" master br0
			ip -n "$(ns $s)" link set "$p" up
		done
		ip -n "$(ns $s)" link set br0 up
	done
	;;
ovs)
	db=$WORK/conf.db
	ovsdb-tool create "$db" /usr/share/openvswitch/vswitch.ovsschema
	export OVS_RUNDIR=$WORK OVS_LOGDIR=$WORK OVS_DBDIR=$WORK
	ip netns exec ${P}o ovsdb-server "$db" --remote=punix:"$WORK/db.sock" \
		--pidfile="$WORK/ovsdb-server.pid" --unixctl="$WORK/ovsdb-server.ctl" \
		--log-file="$WORK/ovsdb-server.log" >/dev/null 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do [ -S "$WORK/db.sock" ] && break; sleep 0.1; done
	ip netns exec ${P}o ovs-vswitchd unix:"$WORK/db.sock" --pidfile="$WORK/ovs-vswitchd.pid" \
		--unixctl="$WORK/ovs-vswitchd.ctl" --log-file="$WORK/ovs-vswitchd.log" >/dev/null 2>&1 &
	# Stopped first: put before ovsdb-server.
	PIDS=($! "${PIDS[@]}")
	vsctl() { ovs-vsctl --db=unix:"$WORK/db.sock" --timeout=10 "$@"; }
	vsctl --no-wait init
	for s in a b c; do
		vsctl add-br br$s -- set bridge br$s datapath_type=netdev rstp_enable=true \
			other_config:rstp-priority="${PRIO[$s]}" other_config:rstp-hello-time=1 \
			other_config:rstp-max-age=6 other_config:rstp-forward-delay=4
		for p in ${PORTS[$s]}; do
			ip -n ${P}o link set "$p" up
			vsctl add-port br$s "$p"
		done
	done
	for h in a b; do vsctl set port h$h other_config:rstp-port-admin-edge=true; done
	;;
esac

# Converged: the hosts reach each other, then 3 s more without a topology change to wait for.
t0=$(date +%s.%N)
for _ in $(seq 120); do
	ip netns exec ${P}ha ping -c 1 -W 1 -q 10.77.0.2 >/dev/null 2>&1 && break
done
t1=$(date +%s.%N)
ip netns exec ${P}ha ping -c 1 -W 1 -q 10.77.0.2 >/dev/null
echo "$MODE: hosts reach each other $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s after the start"
sleep 3

if [ -n "${SHOW:-}" ]; then
	ip -ts -n "$(ns b)" monitor link >"$WORK/monitor-b.txt" 2>&1 &
	PIDS+=($!)
fi
ip netns exec ${P}ha ping -D -i 0.01 -W 1 -w "$DURATION" 10.77.0.2 >"$WORK/ping.txt" 2>&1 &
PING=$!
sleep 3
CUT=$(date +%s.%N)
ip -n "$(ns a)" link set ab down
wait $PING || true
[ -z "${KEEP:-}" ] || cp "$WORK/ping.txt" "$KEEP"

sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$WORK/ping.txt")
got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$WORK/ping.txt")
# The outage: the longest gap between two echo replies that starts within a
# second of the cut (a reply already on its way may still arrive just after
# it); and, for the noise of the machine, the longest gap elsewhere.
read -r outage noise < <(sed -n 's/^\[\([0-9.]*\)\] .*icmp_seq=.*time=.*/\1/p' "$WORK/ping.txt" |
	awk -v cut="$CUT" '
		NR > 1 {
			gap = $1 - prev
			if (prev >= cut - 0.1 && prev <= cut + 1) { if (gap > outage) outage = gap }
			else if (gap > noise) noise = gap
		}
		{ prev = $1; last = $1 }
		END {
			if (last <= cut + 1) outage = -1
			printf "%.3f %.3f\n", outage, noise
		}')
if [ "$outage" = "-1.000" ]; then
	outage="more than the rest of the run (no reply after the cut)"
else
	outage="$outage s"
fi
echo "$MODE: cut A-B at 3 s: outage $outage (longest gap between echo replies from the cut); lost $((sent - got)) of $sent echo requests (ping -i 0.01 over ${DURATION} s); longest gap elsewhere $noise s"
if [ "$MODE" = vswitch ] && [ -n "${SHOW:-}" ]; then
	for s in a b c; do "$VSWITCH" stp show --name $P-$s; done
	grep -h 'stp:\|removed\|is down\|is up\|WARN\|ERROR' "$WORK"/vswitch-*.log | tail -n 40
fi
if [ -n "${SHOW:-}" ]; then
	echo "cut at $(date -u -d "@$CUT" +%H:%M:%S.%N); the kernel's link messages in B's namespace:"
	cat "$WORK/monitor-b.txt"
fi

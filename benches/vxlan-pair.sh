#!/bin/bash
# VXLAN throughput and latency: machine 1 as vswitch (MODE=vswitch) or as a
# Linux bridge + vxlan device (MODE=linux), machine 2 always Linux; hosts
# behind each; iperf3 TCP and 64-byte UDP h1 -> h2, and ping. Root only.
# Uses target/release/vswitch of this checkout (or $VSWITCH). VXOPTS adds options to the
# vxlan: port (VXOPTS=,udpcsum: outer checksums, which UDP GSO needs; zero
# ones by default), RUNOPTS to `vswitch run` (RUNOPTS="--poll-us 0");
# PERF=FILE records the switch (MODE=linux: the machine) with perf record -g
# during the TCP run
# (PERF_RUN=udp: during the 64-byte run). With vswitch, also prints the CPU
# time the switch took in each run (user + system, all threads), which a
# loaded machine changes much less than the rates.
# UNDERLAY=wire makes machine 1's underlay veth segment GSO super-frames
# before machine 2 sees them, as a physical link does.
# usage: MODE=linux|vswitch [VXOPTS=...] [RUNOPTS=...] [UNDERLAY=wire] [PERF=file [PERF_RUN=udp]] benches/vxlan-pair.sh
set -e
. "$(dirname "$0")/lab.sh"
vs=${VSWITCH:-$(dirname "$0")/../target/release/vswitch}
P=vsw-vxb
cleanup() { # what this script started, and its namespaces, even on failure
  for n in m1 m2 h1 h2; do
    for p in $(ip netns pids $P$n 2>/dev/null); do kill $p 2>/dev/null || true; done
  done
  sleep 0.3
  for n in m1 m2 h1 h2; do ip netns del $P$n 2>/dev/null || true; done
}
# (Another run's namespaces make the first `ip netns add` fail, before the trap.)
for n in m1 m2 h1 h2; do ip netns add $P$n; trap cleanup EXIT; ip -n $P$n link set lo up; done
ip link add u1 netns ${P}m1 type veth peer name u2 netns ${P}m2
ip -n ${P}m1 addr add 10.83.0.1/24 dev u1; ip -n ${P}m1 link set u1 up
ip -n ${P}m2 addr add 10.83.0.2/24 dev u2; ip -n ${P}m2 link set u2 up
# UNDERLAY=wire: machine 1's underlay veth segments what it is handed, as
# every physical link carries frames of at most its MTU (a NIC's TSO or the
# kernel's software GSO): machine 2 then receives the same packets from
# either machine 1. It changes what vswitch's UDP GSO sends (udpcsum) are,
# which the veth otherwise carries whole to machine 2; the Linux pair's
# super-frames are segmented at the veth either way (its TX checksum offload
# is off, below, and the kernel segments a GSO packet its device cannot
# checksum).
if [ "$UNDERLAY" = wire ]; then
  ip netns exec ${P}m1 ethtool -K u1 tx-udp_tnl-segmentation off tx-udp_tnl-csum-segmentation off \
    tx-udp-segmentation off >/dev/null
fi
ip link add eth0 netns ${P}h1 type veth peer name s1 netns ${P}m1
ip link add eth0 netns ${P}h2 type veth peer name s2 netns ${P}m2
ip -n ${P}h1 addr add 192.168.83.1/24 dev eth0; ip -n ${P}h1 link set eth0 mtu 1450 up; ip -n ${P}m1 link set s1 up
ip -n ${P}h2 addr add 192.168.83.2/24 dev eth0; ip -n ${P}h2 link set eth0 mtu 1450 up; ip -n ${P}m2 link set s2 up
linux() { # ns local remote
  ip -n $1 link add br0 type bridge mcast_snooping 0
  ip -n $1 link add vx type vxlan id 42 dstport 4789 local $2 noudpcsum
  ip -n $1 link set vx master br0 up; ip -n $1 link set br0 up
  ip netns exec $1 bridge fdb append 00:00:00:00:00:00 dev vx dst $3
}
linux ${P}m2 10.83.0.2 10.83.0.1; ip -n ${P}m2 link set s2 master br0
# Over veths nothing ever computes the inner checksums Linux leaves partial: the
# underlay "NIC" must (as a real one does). vswitch completes them itself, so
# its machine's underlay veth keeps its offloads.
ip netns exec ${P}m2 ethtool -K u2 tx off >/dev/null
if [ "$MODE" = linux ]; then
  ip netns exec ${P}m1 ethtool -K u1 tx off >/dev/null
  linux ${P}m1 10.83.0.1 10.83.0.2; ip -n ${P}m1 link set s1 master br0
else
  ip netns exec ${P}m1 "$vs" run --name vsw-vxb $RUNOPTS vxlan:vx0,vni=42,local=10.83.0.1,remote=10.83.0.2$VXOPTS s1 >/tmp/vxlan-pair.log 2>&1 &
  VSW=$!
  sleep 1.5
fi
ip netns exec ${P}h1 ping -c 3 -q 192.168.83.2 >/dev/null
iperf3_server ${P}h2
record() { # the run ($1) that PERF_RUN names (tcp by default): the switch, or
  # with MODE=linux the whole machine (the Linux pair works in softirqs)
  if [ -n "$PERF" ] && [ "${PERF_RUN:-tcp}" = "$1" ]; then
    if [ -n "$VSW" ]; then WHO="-p $VSW"; else WHO=-a; fi
    perf record -g -o "$PERF" $WHO -- sleep 4 >/dev/null 2>&1 &
    PERFPID=$!
  fi
}
cpu() { # the switch's CPU seconds so far
  if [ -n "$VSW" ]; then awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' /proc/$VSW/stat; fi
}
spent() { if [ -n "$VSW" ]; then echo "  switch CPU: $(echo "$(cpu) - $1" | bc) s"; fi; }
record tcp
echo "$MODE TCP h1->h2:"; C=$(cpu); ip netns exec ${P}h1 iperf3 -c 192.168.83.2 -t 5 | grep -E "sender|receiver"
spent "$C"
[ -n "$PERFPID" ] && wait $PERFPID && PERFPID=
iperf3_server ${P}h2
record udp
# Host 2's UDP receive-buffer overflows (/proc/net/snmp, Udp: RcvbufErrors).
rcvbuf() { ip netns exec ${P}h2 awk '/^Udp:/ { if (h) print $6; h = 1 }' /proc/net/snmp; }
# The switch's frames dropped for a full receive ring.
rxfull() { if [ -n "$VSW" ]; then ip netns exec ${P}m1 "$vs" stats --name vsw-vxb -j | python3 -c "import json,sys; print(json.load(sys.stdin)['drops'].get('rx-full', 0))"; fi; }
rx_packets() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }
# Frames host 2's interface received (from machine 2's bridge): the test's
# datagrams, and a few dozen of iperf3's control connection and ARP.
delivered() { rx_packets ${P}h2 eth0; }
# Packets machine 2's underlay veth received: what machine 1 put into the
# tunnel, whatever host 2 then managed to read.
underlay_rx() { rx_packets ${P}m2 u2; }
echo "$MODE UDP 64B h1->h2:"; C=$(cpu); B=$(rcvbuf); F=$(rxfull); U=$(underlay_rx); D=$(delivered); T0=$(date +%s.%N)
ip netns exec ${P}h1 iperf3 -u -b 0 -l 64 -c 192.168.83.2 -t 5 | grep -E "sender|receiver"
T=$(echo "$(date +%s.%N) - $T0" | bc)
echo "  into the tunnel (machine 2's underlay rx): $(echo "($(underlay_rx) - $U) / $T" | bc) packets/s;" \
  "delivered to host 2's interface: $(echo "($(delivered) - $D) / $T" | bc) packets/s"
spent "$C"
lost="  lost at host 2's socket (RcvbufErrors): $(($(rcvbuf) - B))"
if [ -n "$VSW" ]; then lost="$lost; in the switch's ring (rx-full): $(($(rxfull) - F))"; fi
echo "$lost"
[ -n "$PERFPID" ] && wait $PERFPID
# The most the overlay carries with at most 1% lost (as RFC 2544 measures a
# device's throughput, with the Linux pair's own loss at full speed as the
# bound): the run above measures how much of a flood arrives, which also
# depends on how much CPU the flooding sender leaves host 2's receiver. A
# probe unpaced (-b 0), then a bisection over iperf3's -b, 3 s a probe; the
# figure is the highest rate received by a probe that lost at most 1% (a
# sender that cannot reach its -b, as the Linux pair's, which does the whole
# path's work in its own system calls, passes with what it reached).
probe() { # rate (Mbit/s, 0: unpaced) -> "lost% received_mbit delivered_lost% delivered_mbit"
  iperf3_server ${P}h2
  local b f i j
  b=$(rcvbuf); f=$(rxfull); i=$(delivered)
  # The rate received: end.sum_received where this iperf3 gives it, else
  # end.sum's rate less what was lost. Delivered: the frames host 2's
  # interface received against the datagrams sent.
  j=$(ip netns exec ${P}h1 iperf3 -u -b "${1}M" -l 64 -c 192.168.83.2 -t 3 -J)
  DELIVERED=$(delivered) BEFORE=$i python3 -c "
import json, os, sys
e = json.load(sys.stdin)['end']; s = e['sum']
got = e.get('sum_received', {}).get('bits_per_second', s['bits_per_second'] * (1 - s['lost_percent'] / 100))
out = '%.2f %.1f' % (s['lost_percent'], got / 1e6)
# What the client sent (end.sum_sent from iperf3 3.10 on; before, end.sum
# counts what the server received).
sent = e.get('sum_sent', s).get('packets', 0)
dlv = int(os.environ['DELIVERED']) - int(os.environ['BEFORE'])
if sent > 0 and s['seconds'] > 0:
    out += ' %.2f %.1f' % (max(0, 100 * (sent - dlv) / sent), min(dlv, sent) * 64 * 8 / s['seconds'] / 1e6)
print(out)" <<<"$j" || true
  echo "  probe $1 Mbit/s: lost at host 2's socket $(($(rcvbuf) - b)), in the ring ${f:+$(($(rxfull) - f))}" >&2
}
consider() { # offered loss got: true if at most 1% lost
  if [ -z "$3" ]; then echo "  probe $1 Mbit/s gave no result: counted as lossy" >&2; return 1; fi
  [ "$(echo "$2 <= 1" | bc)" = 1 ] || return 1
  if [ "$(echo "$3 > $best" | bc)" = 1 ]; then best=$3; best_at="$1 Mbit/s offered, $2% lost"; fi
}
bisect() { # which: 1 (what host 2's receiver read) or 3 (what its interface received)
  local lo=0 hi=256 mid r
  best=0; best_at="none"
  read -ra r <<<"$(probe 0)"
  consider unpaced "${r[$1 - 1]}" "${r[$1]}" || true
  for _ in 1 2 3 4 5 6 7; do
    mid=$(((lo + hi) / 2))
    read -ra r <<<"$(probe $mid)"
    if consider $mid "${r[$1 - 1]}" "${r[$1]}"; then lo=$mid; else hi=$mid; fi
  done
}
bisect 1
echo "$MODE UDP 64B, most received with <= 1% lost: $best Mbit/s ($best_at)"
# The same for the frames host 2's interface received, whether or not its
# receiver then found the CPU to read them: the overlay's own rate, as a
# tester counts the frames its port receives (RFC 2544).
bisect 3
echo "$MODE UDP 64B, most delivered to host 2's interface with <= 1% lost: $best Mbit/s ($best_at)"
echo "$MODE ping:"; ip netns exec ${P}h1 ping -c 20 -i 0.05 -q 192.168.83.2 | tail -1

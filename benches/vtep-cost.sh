#!/usr/bin/env bash
# benches/vtep-cost.sh [SECONDS]
#
# What the VTEP thread (`vswitch run --vtep-db`) costs with a big FDB. Root.
# A namespace of its own with a hardware_vtep ovsdb-server (its files under a
# temp dir) and vswitch with a VXLAN port on loopback and two veth ports to
# two host namespaces; port a bound to a logical switch (tunnel_key 42), port
# b not bound. Host b then sends frames from ENTRIES source MACs (the switch
# learns them on the unbound port), and for SECONDS (default 30) nothing else
# happens. Reports the CPU time of the switch's `vtep` thread, its control
# thread and its forwarding loop over that time, and the switch's
# control.max_stall_us and max_stall_cpu_us (the longest control work of one
# forwarding loop turn since it started, clock and CPU, and its request).
#
# Env: VSWITCH (binary, default target/release/vswitch), ENTRIES (default
# 100000). Everything it starts is ended by PID and the namespaces removed
# on exit, also on failure or Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vs=${VSWITCH:-$root/target/release/vswitch}
dur=${1:-30}
entries=${ENTRIES:-100000}
p=vtc$(($$ % 10000))
name=$p-vs
tmp=$(mktemp -d /tmp/vtep-cost.XXXXXX)
sw=""
db=""
cleanup() {
  set +e
  [ -n "$sw" ] && kill "$sw" 2>/dev/null && wait "$sw" 2>/dev/null
  [ -n "$db" ] && kill "$db" 2>/dev/null && wait "$db" 2>/dev/null
  for n in vt ha hb; do ip netns del "$p-$n" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for n in vt ha hb; do ip netns add "$p-$n"; done
ip -n "$p-vt" link set lo up
for h in a b; do
  ip link add "$p-$h" netns "$p-vt" type veth peer name eth0 netns "$p-h$h"
  ip -n "$p-vt" link set "$p-$h" up
  ip -n "$p-h$h" link set eth0 up
done

ovsdb-tool create "$tmp/vtep.db" /usr/share/openvswitch/vtep.ovsschema
ip netns exec "$p-vt" ovsdb-server "$tmp/vtep.db" --remote="punix:$tmp/vtep.sock" \
  --unixctl="$tmp/ctl" --no-chdir -vconsole:off --log-file="$tmp/ovsdb.log" &
db=$!
vtctl() { vtep-ctl --db="unix:$tmp/vtep.sock" "$@"; }
for _ in $(seq 100); do [ -S "$tmp/vtep.sock" ] && break; sleep 0.1; done

ip netns exec "$p-vt" "$vs" run --name "$name" --capacity $((entries * 2)) \
  --vtep-db "unix:$tmp/vtep.sock" "vxlan:vx0,vni=42,local=127.0.0.1" "$p-a" "$p-b" \
  2>"$tmp/switch.log" &
sw=$!
for _ in $(seq 100); do vtctl list-ports "$name" 2>/dev/null | grep -qx "$p-a" && break; sleep 0.1; done
vtctl add-ls ls0 -- set Logical_Switch ls0 tunnel_key=42 -- bind-ls "$name" "$p-a" 0 ls0

. "$root/benches/lab.sh"
# Frames from host b with ENTRIES source MACs, to a MAC nobody has.
fill "$entries" "$p-hb" eth0
echo "fdb entries: $(stat 's["fdb"]["entries"]')"

# CPU time (utime + stime, in clock ticks) of the vtep thread, the control
# thread and the forwarding loop (the main thread).
tid() { grep -lx "$1" /proc/"$sw"/task/*/comm | head -1 | cut -d/ -f5; }
tids="$(tid vtep) $(tid vswitch-control) $sw"
ticks() { for t in $tids; do awk '{printf "%d ", $14 + $15}' "/proc/$sw/task/$t/stat"; done; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
sleep "$dur"
t1=$(ticks)
echo "binary: $vs"
python3 - "$t0" "$t1" "$hz" "$dur" <<'PY'
import sys
t0, t1 = ([int(x) for x in a.split()] for a in sys.argv[1:3])
hz, dur = int(sys.argv[3]), float(sys.argv[4])
for name, a, b in zip(["vtep", "control", "forwarding"], t0, t1):
    cpu = (b - a) / hz
    print(f"{name} thread CPU over {dur:.0f} s: {cpu:.2f} s ({100 * cpu / dur:.1f}% of one CPU)")
PY
echo "since start: control.max_stall_us $(stat 's["control"]["max_stall_us"]')" \
  "max_stall_cpu_us $(stat 's["control"]["max_stall_cpu_us"]')" \
  "($(stat 's["control"]["max_stall_request"]'))"

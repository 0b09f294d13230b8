#!/usr/bin/env bash
# benches/flush-stall.sh
#
# How long does a flush of a big FDB hold up forwarding? A 3-host lab of its
# own (`vswitch lab up 3` with a unique prefix), one switch with capacity
# ENTRIES + 1024, the table filled by frames from host 3 with ENTRIES source
# MACs, then while host 1 pings host 2 every 10 ms: `vswitch fdb flush`
# (its answer and how long the client waited), the loop turns until the
# memory is reclaimed (`fdb.reclaiming` back to 0, where the switch has it),
# and the switch's control.max_stall_us (the longest control work of one
# loop turn: the flush request, or a reclaim slice) before and after.
#
# Env: VSWITCH (binary, default target/release/vswitch), ENTRIES (default
# 100000). Everything it starts is ended by PID and the lab is removed on
# exit, also on failure or Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vs=${VSWITCH:-$root/target/release/vswitch}
entries=${ENTRIES:-100000}
prefix=vfl$(($$ % 10000))
name=flush-$$
tmp=$(mktemp -d /tmp/flush-stall.XXXXXX)
sw=""
ping=""
cleanup() {
  set +e
  if [ -n "$ping" ]; then kill "$ping" 2>/dev/null; wait "$ping" 2>/dev/null; fi
  if [ -n "$sw" ]; then kill "$sw" 2>/dev/null; wait "$sw" 2>/dev/null; fi
  "$vs" lab down --prefix "$prefix" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$root/benches/lab.sh"

"$vs" lab up 3 --prefix "$prefix" >/dev/null
"$vs" run --name "$name" --capacity "$((entries + 1024))" \
  "${prefix}1-vsw" "${prefix}2-vsw" "${prefix}3-vsw" 2>"$tmp/switch.log" &
sw=$!
for _ in $(seq 100); do "$vs" show --name "$name" >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec "$(ns 1)" ping -c 1 -W 1 "$(addr 2)" >/dev/null
fill_to "$entries"
echo "fdb entries: $(stat 's["fdb"]["entries"]') (capacity $((entries + 1024)))"
stall0=$(stat 's["control"]["max_stall_us"]')

ip netns exec "$(ns 1)" ping -i 0.01 -w 4 -q "$(addr 2)" >"$tmp/ping" 2>&1 &
ping=$!
sleep 1
t0=$(date +%s.%N)
answer=$("$vs" fdb flush --name "$name")
t1=$(date +%s.%N)
# Until the switch says nothing is left to reclaim (an older switch has no
# such number: its flush was done when it answered).
for _ in $(seq 200); do
  left=$(stat 's["fdb"].get("reclaiming", 0)')
  [ "$left" -eq 0 ] && break
  sleep 0.05
done
t2=$(date +%s.%N)
wait "$ping" || true
ping=""
rtt=$(awk -F/ '/rtt|round-trip/ {print $6}' "$tmp/ping")
if [ "$left" -eq 0 ]; then reclaimed="reclaimed after"; else reclaimed="$left entries not reclaimed after"; fi
echo "fdb flush: \"$answer\" in $(echo "$t1 - $t0" | bc) s (client included); $reclaimed $(echo "$t2 - $t0" | bc) s"
echo "entries now $(stat 's["fdb"]["entries"]'); ping RTT max ${rtt:-?} ms during the flush"
echo "control.max_stall_us before $stall0, after $(stat 's["control"]["max_stall_us"]')" \
  "(waited $(stat 's["control"]["max_stall_waited_us"]'), blocked $(stat 's["control"]["max_stall_blocked_us"]'), request $(stat 's["control"]["max_stall_request"]'));" \
  "the most CPU of any turn $(stat 's["control"]["max_stall_cpu_us"]') us"

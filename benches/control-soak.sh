#!/usr/bin/env bash
# benches/control-soak.sh [SECONDS]
#
# Does a busy control plane hold up forwarding? A 3-host lab of its own
# (`vswitch lab up 3` with a unique prefix), one switch, an FDB filled to
# ENTRIES entries by a flood of source MACs from host 3, then two phases of
# SECONDS/2 each (default SECONDS=60):
#   1. iperf3 TCP host 1 -> host 2 and ping host 1 -> host 2 every 10 ms;
#   2. the same while CLIENTS (default 20) loops run `vswitch fdb show -j`.
# Reports per phase: TCP rate, ping RTT max, frames dropped as rx-full, and
# the switch's control.max_stall_us (the longest control work of one loop
# turn), with the number of `fdb show` answers the clients got, and the
# machine's steal time (the hypervisor not running a virtual CPU) per phase.
#
# Env: VSWITCH (binary, default target/release/vswitch), ENTRIES (default
# 8192, also the switch's --capacity), CLIENTS (default 20), EXTRA (more
# `vswitch run` flags, e.g. "--rt-priority 1"), LOG (keep the switch's log
# there; with RUST_LOG=info,vswitch_linux::switch::requests=debug it has a
# line per loop turn whose control work took 1 ms or more). Everything it
# starts is ended by PID and the lab is removed on exit, also on failure or
# Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vs=${VSWITCH:-$root/target/release/vswitch}
dur=${1:-60}
half=$((dur / 2))
entries=${ENTRIES:-8192}
clients=${CLIENTS:-20}
prefix=vsk$(($$ % 10000))
name=soak-$$
tmp=$(mktemp -d /tmp/control-soak.XXXXXX)
pids=()
sw=""
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ -n "$sw" ]; then kill "$sw" 2>/dev/null; wait "$sw" 2>/dev/null; fi
  "$vs" lab down --prefix "$prefix" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Steal time of all CPUs so far, ms (/proc/stat counts in USER_HZ ticks).
steal_ms() { awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" {print int($9 * 1000 / hz)}' /proc/stat; }
. "$root/benches/lab.sh"

"$vs" lab up 3 --prefix "$prefix" >/dev/null
"$vs" run --name "$name" --capacity "$entries" ${EXTRA:-} \
  "${prefix}1-vsw" "${prefix}2-vsw" "${prefix}3-vsw" 2>"${LOG:-$tmp/switch.log}" &
sw=$!
for _ in $(seq 100); do "$vs" show --name "$name" >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec "$(ns 1)" ping -c 1 -W 1 "$(addr 2)" >/dev/null
ip netns exec "$(ns 3)" ping -c 1 -W 1 "$(addr 1)" >/dev/null
want=$((entries - 8))
fill_to "$want"
echo "fdb entries: $(stat 's["fdb"]["entries"]') (capacity $entries)"

phase() { # label
  local label=$1 rx0 rx1 steal0
  rx0=$(stat 's["drops"].get("rx-full", 0)')
  steal0=$(steal_ms)
  ip netns exec "$(ns 1)" ping -i 0.01 -w "$half" -q "$(addr 2)" >"$tmp/ping" 2>&1 &
  local ping=$!
  pids+=("$ping")
  iperf3_server "$(ns 2)"
  pids+=("$iperf_pid")
  local gbit
  gbit=$(ip netns exec "$(ns 1)" iperf3 -c "$(addr 2)" -t "$((half - 1))" -J |
    python3 -c "import json,sys; print('%.2f' % (json.load(sys.stdin)['end']['sum_received']['bits_per_second'] / 1e9))")
  wait "$ping" || true
  rx1=$(stat 's["drops"].get("rx-full", 0)')
  local rtt
  rtt=$(awk -F/ '/rtt|round-trip/ {print $6}' "$tmp/ping")
  printf '%-22s TCP %6s Gbit/s  ping RTT max %8s ms  rx-full %6d  steal %5d ms\n' \
    "$label" "$gbit" "${rtt:-?}" "$((rx1 - rx0))" "$(($(steal_ms) - steal0))"
}

phase "no control load"
stall0=$(stat 's["control"]["max_stall_us"]')

# CLIENTS loops of `fdb show -j`; each counts its answers in a file.
for i in $(seq "$clients"); do
  (
    n=0
    while true; do
      "$vs" fdb show --name "$name" -j >/dev/null 2>&1 && n=$((n + 1)) && echo "$n" >"$tmp/c$i"
    done
  ) &
  pids+=("$!")
done
sleep 1
phase "$clients fdb-show loops"
answers=0
# A loop killed while it wrote its count leaves an empty file: count 0 for it.
for i in $(seq "$clients"); do n=$(cat "$tmp/c$i" 2>/dev/null || true); answers=$((answers + ${n:-0})); done
echo "fdb show answers: $answers in ~$((half + 1)) s"
echo "switch: control.max_stall_us before the loops $stall0, after $(stat 's["control"]["max_stall_us"]')" \
  "(waited $(stat 's["control"]["max_stall_waited_us"]'), blocked $(stat 's["control"]["max_stall_blocked_us"]')," \
  "slept $(stat 's["control"]["max_stall_slept"]'), preempted $(stat 's["control"]["max_stall_preempted"]'))," \
  "CPU $(stat 's["control"]["max_stall_cpu_us"]') ($(stat 's["control"]["max_stall_request"]'));" \
  "turns over 1 ms: $(stat 's["control"]["stalls_over_1ms"]');" \
  "control thread paused for its CPU budget: $(stat 's["control"].get("throttled_ms", 0)') ms"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
t0=$(date +%s.%N)
rows=$("$vs" fdb show --name "$name" -j | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
t1=$(date +%s.%N)
echo "one fdb show -j alone: $rows rows in $(echo "$t1 - $t0" | bc) s (client included);" \
  "control.max_stall_us now $(stat 's["control"]["max_stall_us"]'), CPU $(stat 's["control"]["max_stall_cpu_us"]')"

#!/usr/bin/env bash
# benches/uc64-loop.sh N "command with {ports}"
#
# The 64-byte known-unicast blast of ../shared/bench/measure.sh, N times, each
# with a fresh 4-host lab and a fresh switch, and nothing else: one line per
# run with frames sent, delivered and lost and the switch's CPU time. For
# comparing variants of one switch quickly (ring sizes, --afxdp, pinning with
# SWITCH_CPUS=1). Env: DUR (seconds, default 5), OFFLOADS (default off),
# RATE (trafgen's --rate, e.g. 300000pps; its fastest by default). Two builds
# alternated: for i in 1 2 3 4; do for b in OLD NEW; do
#   benches/uc64-loop.sh 1 "$b run {ports}"; done; done
# Uses ../shared/bench/lab.sh (namespaces NS1-NS4, 192.168.100.0/24) and tears
# the lab and the switch down on exit, even on failure.
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../shared/bench" && pwd)
n=${1:?usage: uc64-loop.sh N "command with {ports}"}
cmd=${2:?usage: uc64-loop.sh N "command with {ports}"}
dur=${DUR:-5}
rate=()
if [ -n "${RATE:-}" ]; then rate=(--rate "$RATE"); fi
cfg=$(mktemp /tmp/uc64-loop.XXXXXX.cfg)
cleanup() {
  set +e
  "$bench/switch-cmd.sh" stop >/dev/null 2>&1
  "$bench/lab.sh" down 4 >/dev/null 2>&1
  rm -f "$cfg"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# measure.sh's frame: to NS2's MAC from NS1's, ethertype 0x88b5, 60 bytes.
cat >"$cfg" <<'CFG'
{
  0x02, 0x00, 0x00, 0x00, 0x01, 0x02,
  0x02, 0x00, 0x00, 0x00, 0x01, 0x01,
  0x88, 0xb5,
  fill(0x00, 46)
}
CFG
ctr() { ip netns exec "NS$1" cat "/sys/class/net/veth$1/statistics/$2"; }
ticks() { awk '{s=$0; sub(/.*\) /, "", s); split(s, f, " "); print f[12] + f[13]}' "/proc/$1/stat"; }
for ((i = 1; i <= n; i++)); do
  OFFLOADS=${OFFLOADS:-off} "$bench/lab.sh" up 4 >/dev/null
  "$bench/switch-cmd.sh" start "$cmd" uc64-loop >/dev/null
  pid=$(cat /tmp/vswitch-bench/run/switch-cmd.pid)
  ip netns exec NS1 ping -c 1 -W 1 192.168.100.102 >/dev/null || true
  t0=$(ticks "$pid"); tx0=$(ctr 1 tx_packets); rx0=$(ctr 2 rx_packets)
  timeout -s INT -k 3 "$dur" ip netns exec NS1 taskset -c 0 \
    trafgen --dev veth1 --conf "$cfg" --cpus 1 "${rate[@]}" --no-sock-mem --notouch-irq >/dev/null 2>&1 || true
  sleep 0.5
  t1=$(ticks "$pid"); tx1=$(ctr 1 tx_packets); rx1=$(ctr 2 rx_packets)
  "$bench/switch-cmd.sh" stop >/dev/null
  "$bench/lab.sh" down 4 >/dev/null
  awk -v i="$i" -v s=$((tx1 - tx0)) -v d=$((rx1 - rx0)) -v t=$((t1 - t0)) -v dur="$dur" 'BEGIN {
    printf "run %d: sent %d (%.0fk/s) delivered %d lost %d (%.3f%%) switch CPU %.2f s (%.0f ns a frame delivered)\n",
      i, s, s / dur / 1000, d, s - d, s ? 100 * (s - d) / s : 0, t / 100, d ? t / 100 * 1e9 / d : 0 }'
done

#!/bin/bash
# Two vswitch builds, alternated, under the shared bench's 64-byte unicast
# blast (NS1 -> NS2 through the switch, trafgen pinned to CPU 0), each run
# in a fresh lab: frames sent and delivered, what the switch's own counters
# say it dropped (rx-full: its receive ring was full), and the switch's CPU
# time per frame delivered. Root only; needs ../shared/bench (SHARED=DIR
# elsewhere) and trafgen (netsniff-ng).
#   RATE=300000pps   a fixed rate instead of trafgen's fastest
#   RUNOPTS="--poll-us 0"   options to `vswitch run` (without polling, the
#                    switch's CPU time is its work, not its waiting)
#   ROUNDS=N         pairs of runs (default 4); DUR=S seconds a blast (5)
# usage: benches/blast-ab.sh OLD_BINARY NEW_BINARY
set -e
[ $# -eq 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: needs root (namespaces, veths)" >&2; exit 2; }
command -v trafgen >/dev/null || { echo "$0: trafgen not found (apt-get install netsniff-ng)" >&2; exit 2; }
B=${SHARED:-$(dirname "$0")/../../shared/bench}
[ -x "$B/lab.sh" ] || { echo "$0: no shared bench at $B (set SHARED=DIR)" >&2; exit 2; }
declare -A BIN=([old]=$1 [new]=$2)
cfg=$(mktemp)
cleanup() {
  "$B/switch-cmd.sh" stop >/dev/null 2>&1 || true
  "$B/lab.sh" down 4 >/dev/null 2>&1 || true
  rm -f "$cfg"
}
trap cleanup EXIT
# 60 bytes handed to the device: a 64-byte frame with its FCS, NS1 -> NS2.
cat >"$cfg" <<EOF
{
  0x02, 0x00, 0x00, 0x00, 0x01, 0x02,
  0x02, 0x00, 0x00, 0x00, 0x01, 0x01,
  0x88, 0xb5,
  fill(0x00, 46)
}
EOF
ctr() { ip netns exec "NS$1" cat "/sys/class/net/veth$1/statistics/$2"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rxfull() {
  "${BIN[$1]}" stats --name "blast-$1" -j |
    python3 -c "import json, sys; print(json.load(sys.stdin)['drops'].get('rx-full', 0))"
}
rate=()
[ -n "$RATE" ] && rate=(--rate "$RATE")
for _ in $(seq "${ROUNDS:-4}"); do
  for b in old new; do
    OFFLOADS=off "$B/lab.sh" up 4 >/dev/null
    "$B/switch-cmd.sh" start "${BIN[$b]} run --name blast-$b $RUNOPTS {ports}" "$b" >/dev/null 2>&1
    pid=$(cat "${ANCHORS_RUN:-/tmp/vswitch-bench/run}/switch-cmd.pid" 2>/dev/null || true)
    [ -n "$pid" ] || pid=$(pgrep -f -- "--name blast-$b" | head -1)
    # Teach the switch both hosts, as the bench does before its blasts.
    for _ in $(seq 50); do
      ip netns exec NS1 ping -c 1 -W 1 192.168.100.102 >/dev/null 2>&1 && break
      sleep 0.1
    done
    ip netns exec NS2 ping -c 1 -W 1 192.168.100.101 >/dev/null 2>&1 || true
    f0=$(rxfull $b); tx0=$(ctr 1 tx_packets); rx0=$(ctr 2 rx_packets); c0=$(ticks "$pid")
    timeout -s INT -k 3 "${DUR:-5}" ip netns exec NS1 taskset -c 0 \
      trafgen --dev veth1 --conf "$cfg" --cpus 1 "${rate[@]}" --no-sock-mem --notouch-irq >/dev/null 2>&1 || true
    sleep 0.5 # what is queued drains before the counters are read
    tx1=$(ctr 1 tx_packets); rx1=$(ctr 2 rx_packets); c1=$(ticks "$pid"); f1=$(rxfull $b)
    sent=$((tx1 - tx0)); got=$((rx1 - rx0))
    python3 -c "
sent, got, full, ticks, hz = $sent, $got, $((f1 - f0)), $((c1 - c0)), $(getconf CLK_TCK)
lost = 100 * (sent - got) / sent if sent else float('nan')
per = ticks / hz * 1e9 / got if got else float('nan')
print('$b: sent %d, delivered %d, lost %.2f%% (the switch counted %d rx-full), switch CPU %.0f ns a frame delivered' % (sent, got, lost, full, per))"
    "$B/switch-cmd.sh" stop >/dev/null 2>&1
    "$B/lab.sh" down 4 >/dev/null
  done
done

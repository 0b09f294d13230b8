# Helpers shared by the bench scripts that run a switch on a `vswitch lab`:
# sourced after they set $vs (the binary), $name (the switch) and $prefix
# (the lab's).

# Host N's namespace and address.
ns() { echo "$prefix$1"; }
addr() { echo "192.168.100.$((100 + $1))"; }

# One value of the switch's `stats -j` (a Python expression over `s`).
stat() { "$vs" stats --name "$name" -j | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"; }

# Fill the table: N frames with N source MACs (02:f0:...), addressed to
# 02:00:00:00:01:03, sent from interface IFACE of namespace NS (default:
# host 3's veth3, so that they go to host 3 itself, and the switch learns
# them and drops them as same-port).
fill() { # N [NS IFACE]
  ip netns exec "${2:-$(ns 3)}" python3 - "$1" "${3:-veth3}" <<'PY'
import socket, sys
n = int(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[2], 0))
dst = bytes([2, 0, 0, 0, 1, 3])
tail = b"\x88\xb5" + bytes(46)
for i in range(n):
    s.send(dst + bytes([2, 0xf0]) + i.to_bytes(4, "big") + tail)
PY
}

# Fill the table until it holds at least N entries (a few tries: frames the
# switch's ring dropped are sent again).
fill_to() {
  local want=$1 have
  for _ in 1 2 3 4 5; do
    fill "$want"
    have=$(stat 's["fdb"]["entries"]')
    [ "$have" -ge "$want" ] && break
  done
}

# Starts a one-test iperf3 server (`-s -1`) in namespace $1, in the
# background rather than as a daemon (`-D`, which was seen not to listen),
# so that its PID ($iperf_pid) is the script's to end; waits (5 s at most)
# until it listens. Fails, having ended it, if it exited (another server
# held the port) or never listened.
iperf3_server() {
  ip netns exec "$1" iperf3 -s -1 >/dev/null 2>&1 &
  iperf_pid=$!
  for _ in $(seq 50); do
    kill -0 "$iperf_pid" 2>/dev/null || break
    ip netns exec "$1" ss -Hltn sport = :5201 | grep -q . && return 0
    sleep 0.1
  done
  kill "$iperf_pid" 2>/dev/null
  wait "$iperf_pid" 2>/dev/null
  echo "iperf3 server in $1 not listening" >&2
  return 1
}

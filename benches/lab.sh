# Helpers shared by the bench scripts that run a switch on a `vswitch lab`:
# sourced after they set $vs (the binary), $name (the switch) and $prefix
# (the lab's).

# Host N's namespace and address.
ns() { echo "$prefix$1"; }
addr() { echo "192.168.100.$((100 + $1))"; }

# One value of the switch's `stats -j` (a Python expression over `s`).
stat() { "$vs" stats --name "$name" -j | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"; }

# Fill the table: N frames from host 3 with N source MACs, addressed to
# host 3 itself (the switch learns them and drops them as same-port).
fill() {
  ip netns exec "$(ns 3)" python3 - "$1" <<'PY'
import socket, sys
n = int(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("veth3", 0))
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

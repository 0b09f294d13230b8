#!/usr/bin/env bash
# benches/run-all-offloads-on.sh [switch ...]
#
# ../shared/bench/run-all.sh with the lab's veth offloads left on (TSO and TX
# checksum offload, the veths' defaults) for every switch: run-all.sh forces
# them off for all but `linuxbridge-offloads`. Same arguments and environment
# as run-all.sh; the figures land in the same results directory.
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../shared/bench" && pwd)
copy=$(mktemp /tmp/run-all-offloads-on.XXXXXX.sh)
trap 'rm -f "$copy"' EXIT
# The two lines that differ: common.sh by absolute path, and offloads from
# $OFFLOADS (on here) instead of always off.
sed -e "s|source \"\$(dirname \"\${BASH_SOURCE\[0\]}\")/common.sh\"|source '$bench/common.sh'|" \
    -e 's|^    offl=off$|    offl=${OFFLOADS:-on}|' \
    "$bench/run-all.sh" >"$copy"
grep -q "source '$bench/common.sh'" "$copy" && grep -q 'offl=${OFFLOADS:-on}' "$copy" || {
  echo "run-all-offloads-on: $bench/run-all.sh has changed; cannot make the offloads-on copy" >&2
  exit 1
}
OFFLOADS=${OFFLOADS:-on} bash "$copy" "$@"

#!/usr/bin/env bash
# Rebuilds the fuzz targets' seed corpora in fuzz/corpus/ (kept out of git):
# frames cut out of the Ethernet captures in ../shared/captures/tcpdump, the
# small captures whole, control request lines, and switch_ops scenarios from the
# core's property-test generators. Seeds already there are kept.
#
# Usage: fuzz/seed-corpora.sh [CAPTURES_DIR]
# Builds with the stable toolchain and without libFuzzer; set CARGO_TARGET_DIR
# to share a build directory (the default is the repository's target/).
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$fuzz")"
captures="${1:-$repo/../shared/captures/tcpdump}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
cargo run --quiet --manifest-path "$fuzz/Cargo.toml" --no-default-features \
  --example seed-corpora -- "$captures" "$fuzz/corpus"

#!/usr/bin/env bash
# The serve bench's ratio, measured so that it means something on a small,
# shared machine: the mock and the minimal axum reference take turns in
# one process, slice by slice (about 150 ms each, order flipped every
# round), and the median of the per-round ratios is printed per call.
# Sequential criterion runs seconds apart are not comparable here: the
# reference's own throughput drifts by up to half within a minute.
#   benches/serve-paired.sh [ROUNDS]   (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-40}
cargo bench --bench serve --no-run >/dev/null 2>&1
bin=$(ls -t target/release/deps/serve-* | grep -v '\.d$' | head -1)
LEAKDRILL_BENCH_INTERLEAVED=$rounds "$bin" --bench

#!/usr/bin/env bash
# Paired runs of the serve bench: each run measures the mock and then the
# minimal axum reference (fresh processes, criterion 2 s each) and prints
# the ratio of the two, then the medians. On a small, shared machine the
# reference's own throughput swings from run to run, so one ratio from one
# pair says little; the median of many does.
#   benches/serve-paired.sh [RUNS]   (default 6)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-6}
cargo bench --bench serve --no-run >/dev/null 2>&1
bin=$(ls -t target/release/deps/serve-* | grep -v '\.d$' | head -1)
out=$(mktemp)
for _ in $(seq 1 "$runs"); do
  for t in query_200/leakdrill query_200/reference token/leakdrill token/reference; do
    v=$("$bin" --bench --measurement-time 2 --warm-up-time 1 "$t\$" 2>&1 | grep thrpt | grep -v '%\]' | awk '{print $4}')
    echo "$t $v" >>"$out"
  done
done
python3 - "$out" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
ratios = {"query": [], "token": []}
for i in range(0, len(rows), 4):
    d = {k: float(v) for k, v in rows[i:i + 4]}
    q = d["query_200/leakdrill"] / d["query_200/reference"]
    t = d["token/leakdrill"] / d["token/reference"]
    ratios["query"].append(q)
    ratios["token"].append(t)
    print(f"run: query {d['query_200/leakdrill']:.1f}k/{d['query_200/reference']:.1f}k = {q:.2f}"
          f"   token {d['token/leakdrill']:.1f}k/{d['token/reference']:.1f}k = {t:.2f}")
for k, v in ratios.items():
    print(f"{k}: median {statistics.median(v):.2f}x (min {min(v):.2f}, max {max(v):.2f}) over {len(v)} pairs; goal 0.7x")
PY
rm -f "$out"

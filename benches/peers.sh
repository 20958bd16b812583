#!/usr/bin/env bash
# Side-by-side performance against peers, in one run on loopback, printing
# ratios (PRODUCT §6):
#   * `leakdrill serve` vs a minimal axum handler returning the same bytes,
#     and vs WireMock standalone (Java, from npm's `wiremock` package) with
#     the same stubs: a 200-record Contact query page and an OAuth token call;
#   * `leakdrill org generate` vs Python Faker writing the same Contact
#     columns to CSV.
# Needs: cargo; java + npm for WireMock (skipped with a note when missing);
# python3 for Faker (installed into target/peers/venv).
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=target/peers
RECORDS=${RECORDS:-200000}
mkdir -p "$PEERS"

ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}')" "$1" "$2"; }
# Mean time per iteration (ns) of a criterion benchmark.
mean_ns() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mean']['point_estimate'])" "target/criterion/$1/new/estimates.json"; }

echo "== building (release)"
cargo build --release --locked --quiet
cargo bench --locked --bench serve --no-run --quiet 2>/dev/null || cargo bench --locked --bench serve --no-run

# --- WireMock standalone ------------------------------------------------------
WM_PID=""
cleanup() { [ -n "$WM_PID" ] && kill "$WM_PID" 2>/dev/null || true; }
trap cleanup EXIT
if command -v java >/dev/null && command -v npm >/dev/null; then
  if [ ! -d "$PEERS/node_modules/wiremock" ]; then
    npm install --silent --prefix "$PEERS" wiremock@3.13.2 >/dev/null
  fi
  JAR=$(find "$PEERS/node_modules/wiremock" -name 'wiremock-standalone*.jar' | head -1)
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  java -jar "$JAR" --bind-address 127.0.0.1 --port "$PORT" --disable-banner --no-request-journal \
    --async-response-enabled=true >"$PEERS/wiremock.log" 2>&1 &
  WM_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/__admin/mappings" >/dev/null 2>&1 && break
    sleep 0.2
  done
  export LEAKDRILL_BENCH_WIREMOCK_URL="http://127.0.0.1:$PORT"
  echo "== WireMock standalone $(basename "$JAR") on port $PORT"
else
  echo "== WireMock skipped (needs java and npm)"
fi

echo "== serve vs minimal axum${LEAKDRILL_BENCH_WIREMOCK_URL:+ vs WireMock} (same bytes, 32 in flight, plain HTTP)"
cargo bench --locked --bench serve --quiet -- --noplot ${CRITERION_ARGS:-} >"$PEERS/serve-bench.txt" 2>&1
for call in query_200 token; do
  mock=$(mean_ns "serve_vs_minimal_axum/${call}_leakdrill")
  ref=$(mean_ns "serve_vs_minimal_axum/${call}_reference")
  line="$call: leakdrill/axum = $(ratio "$ref" "$mock")× (goal ≥ 0.7)"
  if [ -n "${LEAKDRILL_BENCH_WIREMOCK_URL:-}" ]; then
    wm=$(mean_ns "serve_vs_minimal_axum/${call}_wiremock")
    line="$line · leakdrill/WireMock = $(ratio "$wm" "$mock")× (goal ≥ 10)"
  fi
  echo "  $line"
done

# --- data generation vs Faker --------------------------------------------------
echo "== org generate vs Python Faker ($RECORDS subjects)"
if [ ! -x "$PEERS/venv/bin/python" ]; then
  python3 -m venv "$PEERS/venv"
  "$PEERS/venv/bin/pip" install --quiet 'faker==37.*'
fi
rm -rf "$PEERS/gen"
ours=$(./target/release/leakdrill org generate --fixture fintech-wealth --records "$RECORDS" --seed 42 \
  --out "$PEERS/gen" --threads 1 | head -1)
# "… → DIR in S s (R records/s)": the Contact file alone, timed with the rest.
ours_rps=$(echo "$ours" | sed -E 's/.*\(([0-9]+) records\/s\).*/\1/')
faker_rps=$("$PEERS/venv/bin/python" - "$RECORDS" "$PEERS/faker-contacts.csv" <<'PY'
import csv, sys, time
from faker import Faker
n, out = int(sys.argv[1]), sys.argv[2]
fake = Faker(["en_US", "en_GB", "de_DE"]); Faker.seed(42)
t = time.perf_counter()
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["Id", "FirstName", "LastName", "Email", "Phone", "MailingStreet", "MailingCity",
                "MailingState", "MailingPostalCode", "MailingCountry", "Birthdate", "SSN__c"])
    for i in range(n):
        w.writerow([f"003{i:015d}", fake.first_name(), fake.last_name(), fake.email(), fake.phone_number(),
                    fake.street_address(), fake.city(), fake.state(), fake.postcode(), fake.country_code(),
                    fake.date_of_birth().isoformat(), fake.ssn()])
print(int(n / (time.perf_counter() - t)))
PY
)
echo "  leakdrill (one thread, every object of the org): $ours_rps records/s"
echo "  Faker (Contact columns only): $faker_rps records/s"
echo "  leakdrill/Faker = $(ratio "$ours_rps" "$faker_rps")×"

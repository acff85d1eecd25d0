#!/usr/bin/env bash
# Idle memory and startup of the embedded default (DESIGN.md §11: idle < 50 MB, start < 1 s).
# Builds the release binary, starts it on a fresh data directory, waits for readiness,
# lets it idle, reads its resident set size, and writes bench/results/idle-<time>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/vellum"
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000))
start=$(date +%s%N)
VELLUM_DATA_DIR="$dir" VELLUM_LISTEN="127.0.0.1:$port" VELLUM_LOG=warn \
  VELLUM_ADMIN_EMAIL=idle@example.com VELLUM_ADMIN_PASSWORD=idle-passphrase "$bin" serve &
pid=$!
until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.01; done
ready_ms=$(( ($(date +%s%N) - start) / 1000000 ))
# A little traffic, then idle.
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/openapi.json" >/dev/null; done
sleep 5
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
out="bench/results/idle-$(date +%s).json"
printf '{"when": "%s", "ready_ms": %s, "idle_rss_mb": %.1f, "note": "release build, SQLite, fresh data dir, after 50 requests and 5 s idle; ready_ms includes process start and the first admin password hash"}\n' \
  "$(date -u +%FT%TZ)" "$ready_ms" "$(echo "$rss_kb / 1024" | bc -l)" | tee "$out"

#!/usr/bin/env bash
# Memory of the release binary under a burst of concurrent failed logins (the password
# hash pool, DESIGN.md §11: idle < 50 MB). Starts `vellum serve` on a fresh SQLite data
# directory, then reads VmRSS (and the peak, VmHWM) from /proc/<pid>/status:
#   idle        after start and 50 light requests, 5 s idle
#   session     after an ordinary session (one good login, a few requests), 5 s idle
#   burst peak  the highest RSS during BURST concurrent failed logins (unknown accounts
#               and wrong passwords alike), ROUNDS rounds
#   after       5 s after the burst
# Writes bench/results/login-memory-<time>.json. Settings can be passed through the
# environment (e.g. VELLUM_PASSWORD_HASH_THREADS=8); BURST (default 64), ROUNDS (3).
# Login throttling is off unless set, so that every attempt reaches the hash pool (the
# worst case for memory; every request comes from 127.0.0.1). SKIP_BUILD=1 measures the
# binary already in $CARGO_TARGET_DIR/release.
set -euo pipefail
export VELLUM_LOGIN_MAX_FAILURES_PER_ADDRESS="${VELLUM_LOGIN_MAX_FAILURES_PER_ADDRESS:-0}"
export VELLUM_LOGIN_MAX_FAILURES_PER_ACCOUNT="${VELLUM_LOGIN_MAX_FAILURES_PER_ACCOUNT:-0}"
cd "$(dirname "$0")/.."
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/vellum"
burst="${BURST:-64}"
rounds="${ROUNDS:-3}"
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000))
B="http://127.0.0.1:$port"
VELLUM_DATA_DIR="$dir" VELLUM_LISTEN="127.0.0.1:$port" VELLUM_LOG=warn \
  VELLUM_ADMIN_EMAIL=bench@example.com VELLUM_ADMIN_PASSWORD=bench-login-passphrase "$bin" serve &
pid=$!
until curl -fs "$B/readyz" >/dev/null 2>&1; do sleep 0.01; done
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
hwm() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
login() { # email password -> status code
  curl -s -o /dev/null -w '%{http_code}\n' "$B/api/v1/auth/login" \
    -H 'content-type: application/json' -d "{\"email\":\"$1\",\"password\":\"$2\"}"
}
export -f login
export B

for _ in $(seq 1 50); do curl -fs "$B/openapi.json" >/dev/null; done
sleep 5
idle=$(rss)

token=$(curl -s "$B/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench-login-passphrase"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
for _ in $(seq 1 10); do curl -fs "$B/api/v1/auth/me" -H "authorization: Bearer $token" >/dev/null; done
sleep 5
session=$(rss)

codes=$(mktemp)
peak=0
for r in $(seq 1 "$rounds"); do
  # Half unknown accounts, half a wrong password for the real one.
  seq 1 "$burst" | xargs -P "$burst" -I{} bash -c \
    'if [ $(({} % 2)) = 0 ]; then login "nobody-'"$r"'-{}@example.com" "wrong-password-{}"; else login bench@example.com "wrong-password-{}"; fi' \
    >>"$codes" &
  load=$!
  while kill -0 "$load" 2>/dev/null; do
    now=$(rss)
    peak=$(echo "if ($now > $peak) $now else $peak" | bc)
    sleep 0.05
  done
  wait "$load" || true
done
high=$(hwm)
sleep 5
after=$(rss)
summary=$(sort "$codes" | uniq -c | awk '{printf "%s\"%s\": %s", (NR>1?", ":""), $2, $1}')
rm -f "$codes"
# Still answers?
alive=$(curl -s -o /dev/null -w '%{http_code}' "$B/healthz")

out="bench/results/login-memory-$(date +%s).json"
printf '{"when": "%s", "burst": %s, "rounds": %s, "idle_rss_mb": %s, "after_session_rss_mb": %s, "burst_peak_rss_mb": %s, "vm_hwm_mb": %s, "after_burst_rss_mb": %s, "statuses": {%s}, "healthz_after": %s, "settings": "%s"}\n' \
  "$(date -u +%FT%TZ)" "$burst" "$rounds" "$idle" "$session" "$peak" "$high" "$after" "$summary" "$alive" \
  "$(env | grep -E '^VELLUM_(PASSWORD|LOGIN)' | tr '\n' ' ')" | tee "$out"

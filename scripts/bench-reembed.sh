#!/usr/bin/env bash
# bench-reembed.sh measures the re-embed path against the Bedrock contract server on the local
# stack, as issue 3 asks: 50 ms latency per request and a 600 requests/min budget enforced by the
# server (ThrottlingException above it), with ragmigrate's limiter set to the same budget.
#
#   1. the Batcher alone (Go benchmark): many texts, 4 workers sharing one limiter;
#   2. 'ragmigrate reembed' end to end on a seeded deployment (the seed's broken-by-design bots fail and send nothing);
#   3. the app's splitter throughput (Go benchmark).
#
# It prints texts/s, texts per request (the app sends 10; Cohere accepts 96), the share of the
# request budget used, and throttles. The seeded data go to a dedicated table, bucket and
# databases; a dedicated contract server runs on its own port and is stopped at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BIN=$root/bin/ragmigrate
BOTS=${BENCH_BOTS:-384}
RPM=${BENCH_RPM:-600}
PORT=${BENCH_BEDROCK_PORT:-15499}
OUT=${BENCH_OUT:-$root/.stack/bench-reembed}
TABLE=ragmigrate-bench-reembed
BUCKET=ragmigrate-bench-reembed
: "${RAGMIGRATE_SOURCE_DB:?the stack environment is missing: run 'make bench-reembed'}"
mkdir -p "$OUT"
log() { printf 'bench-reembed: %s\n' "$*" >&2; }
db_url() { sed -E "s#^([^?]*/)[^/?]*(\\?|\$)#\\1$2\\2#" <<<"$1"; }

log "1/3 Batcher against the contract server (50 ms, $RPM rpm, 30 s)"
(cd "$root" && go test -run '^$' -bench 'EmbedAll' -benchtime 300x ./internal/embed/) | tee "$OUT/batcher.txt" | grep -E '^Benchmark'

log "2/3 ragmigrate reembed end to end ($BOTS bots)"
"$BIN" dev serve bedrock --addr "127.0.0.1:$PORT" --latency 50ms --rpm "$RPM" >"$OUT/bedrock.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for db in bench_reembed_src; do
	psql -qXAt "$RAGMIGRATE_SOURCE_DB" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
done
psql -qXAt "$RAGMIGRATE_TARGET_DB" -c "DROP DATABASE IF EXISTS bench_reembed_dst WITH (FORCE)" -c "CREATE DATABASE bench_reembed_dst"
src=$(db_url "$RAGMIGRATE_SOURCE_DB" bench_reembed_src)
dst=$(db_url "$RAGMIGRATE_TARGET_DB" bench_reembed_dst)
"$BIN" dev seed --yes --bots "$BOTS" --docs-per-bot 4 --table "$TABLE" --bucket "$BUCKET" --source-db "$src" --no-target >/dev/null 2>&1
start=$(date +%s.%N)
AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:$PORT "$BIN" reembed --yes --json --truncate END --rpm "$RPM" --concurrency "${BENCH_CONCURRENCY:-32}" \
	--table "$TABLE" --bucket "$BUCKET" --target-db "$dst" --report "$OUT/report.json" >"$OUT/summary.json" 2>"$OUT/reembed.log" || true
end=$(date +%s.%N)
stats=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$PORT/stats').read().decode())")
python3 - "$OUT/summary.json" "$start" "$end" "$RPM" "$stats" <<'PY'
import json, math, sys
s = json.load(open(sys.argv[1])); t0, t1, rpm = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
server = json.loads(sys.argv[5])
elapsed = t1 - t0
chunks, reqs = s["chunks"], s["requests"]
app_reqs = sum(math.ceil(b["chunks"] / 10) for b in s["bots"] if b["status"] == "done")
budget = 1 + rpm / 60 * elapsed
print(f"reembed   {s['succeeded']} bots ok, {s['failed']} failed (broken on purpose) · {chunks} chunks in {elapsed:.1f} s = {chunks/elapsed:.0f} texts/s")
print(f"requests  {reqs} ({chunks/max(reqs,1):.1f} texts each; the app's 10 per request would need {app_reqs}) · {reqs/budget*100:.0f}% of the {rpm} rpm budget over the run")
print(f"throttles {s['throttles']} seen by ragmigrate · server: {server.get('requests')} requests, {server.get('throttled')} throttled")
PY

log "3/3 the app's splitter"
(cd "$root" && go test -run '^$' -bench 'Split' ./internal/chunk/) | tee "$OUT/chunk.txt" | grep -E '^Benchmark'

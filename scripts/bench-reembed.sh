#!/usr/bin/env bash
# bench-reembed.sh measures 'ragmigrate reembed' against the Bedrock contract server, as issue 12
# asks: a matrix of provider latency {50 ms, 800 ms, 2 s} × account budget {120 requests/min;
# 2 M tokens/min}, the server enforcing the budget over a sliding minute (ThrottlingException
# above it), on a ~10k-chunk deployment. Each cell runs in three modes:
#
#   given           the budget passed as --rpm or --tpm;
#   service-quotas  nothing given, the budget read from Service Quotas (the script's own Service
#                   Quotas contract server lists the model's quota);
#   discovered      nothing given and no quota readable (Service Quotas lists none): the pace is
#                   found adaptively.
#
# For each run it prints the wall time over the cell's floor (max(ceil(chunks/96) requests / rpm,
# tokens / tpm): the budget used to the full from the first second), the share of requests
# throttled and the texts per request, beside the app's way (10 texts per call, one bot per task)
# computed on the same budget.
#
#   BENCH_BOTS=130 BENCH_DOCS=25    the deployment (130 × 25: ~10k chunks); BENCH_SEED=0 reuses
#                                   the one seeded by an earlier run of the same BENCH_NAME
#   BENCH_LATENCIES="50ms 800ms 2s" BENCH_BUDGETS="rpm=120 tpm=2000000"
#   BENCH_MODES="given service-quotas discovered"
#   BENCH_BEDROCK_ADDR=127.0.0.1:15499 BENCH_AWS_ADDR=127.0.0.1:15498
#                                   the script's own Bedrock contract server (restarted per run
#                                   with the cell's latency and budget) and AWS control-plane
#                                   server: never the stack's, which other runs share
#   BENCH_EXTRA=1                   also the Batcher's Go benchmark and the splitter's
#
# The seeded data go to a dedicated table, bucket and databases (BENCH_NAME).
set -euo pipefail

. "$(dirname "$0")/stack.sh"
BIN=${BENCH_BIN:-$root/bin/ragmigrate}
BOTS=${BENCH_BOTS:-130}
DOCS=${BENCH_DOCS:-25}
BEDROCK_ADDR=${BENCH_BEDROCK_ADDR:-127.0.0.1:15499}
AWS_ADDR=${BENCH_AWS_ADDR:-127.0.0.1:15498}
SEED=${BENCH_SEED:-1}
OUT=${BENCH_OUT:-$root/.stack/bench-reembed}
LATENCIES=${BENCH_LATENCIES:-50ms 800ms 2s}
BUDGETS=${BENCH_BUDGETS:-rpm=120 tpm=2000000}
MODES=${BENCH_MODES:-given service-quotas discovered}
NAME=${BENCH_NAME:-ragmigrate-bench-reembed}
TABLE=$NAME
BUCKET=$NAME
SRC_DB=${NAME//-/_}_src
DST_DB=${NAME//-/_}_dst
need_stack_env
mkdir -p "$OUT"
src=$(db_url "$RAGMIGRATE_SOURCE_DB" "$SRC_DB")
dst=$(db_url "$RAGMIGRATE_TARGET_DB" "$DST_DB")
server= aws=
trap '[ -n "$server" ] && kill $server 2>/dev/null; [ -n "$aws" ] && kill $aws 2>/dev/null; true' EXIT
wait_up() { for _ in $(seq 100); do curl -fs "http://$1/healthz" >/dev/null 2>&1 && return; sleep 0.1; done; log "no server at $1"; exit 1; }

if [ "$SEED" != 0 ]; then
	log "seeding $BOTS bots × $DOCS documents"
	fresh_db "$RAGMIGRATE_SOURCE_DB" "$SRC_DB"
	"$BIN" dev seed --yes --bots "$BOTS" --docs-per-bot "$DOCS" --table "$TABLE" --bucket "$BUCKET" --source-db "$src" --no-target >"$OUT/seed.log" 2>&1
fi

"$BIN" dev serve aws --addr "$AWS_ADDR" --dir "$OUT/aws" >"$OUT/aws.log" 2>&1 &
aws=$!
wait_up "$AWS_ADDR"
# quotas KIND VALUE: the model's quota Service Quotas lists; "none 0" lists none.
quotas() {
	local body='[]'
	case $1 in
	rpm) body='[{"ServiceCode":"bedrock","QuotaCode":"L-BENCH-R","QuotaName":"On-demand InvokeModel requests per minute for Cohere Embed Multilingual","Value":'$2'}]' ;;
	tpm) body='[{"ServiceCode":"bedrock","QuotaCode":"L-BENCH-T","QuotaName":"On-demand InvokeModel tokens per minute for Cohere Embed Multilingual","Value":'$2'}]' ;;
	esac
	curl -fsS -X PUT --data "$body" "http://$AWS_ADDR/_dev/servicequotas/quotas" >/dev/null
}

results=$OUT/matrix.jsonl
: >"$results"
for latency in $LATENCIES; do
	for budget in $BUDGETS; do
		kind=${budget%%=*} value=${budget#*=}
		for mode in $MODES; do
			cell="$latency $kind=$value $mode"
			log "run: $cell"
			fresh_db "$RAGMIGRATE_TARGET_DB" "$DST_DB"
			"$BIN" dev serve bedrock --log-level "${BENCH_SERVER_LOG_LEVEL:-info}" --addr "$BEDROCK_ADDR" --latency "$latency" "--$kind" "$value" >"$OUT/bedrock.log" 2>&1 &
			server=$!
			wait_up "$BEDROCK_ADDR"
			flags=()
			case $mode in
			given) flags=("--$kind" "$value"); quotas none 0 ;;
			service-quotas) quotas "$kind" "$value" ;;
			discovered) quotas none 0 ;;
			*) log "unknown mode $mode"; exit 2 ;;
			esac
			start=$(date +%s.%N)
			AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://$BEDROCK_ADDR AWS_ENDPOINT_URL_SERVICE_QUOTAS=http://$AWS_ADDR "$BIN" reembed --yes --json --truncate END --create-missing "${flags[@]}" ${BENCH_CONCURRENCY:+--concurrency "$BENCH_CONCURRENCY"} \
				--allow-private-urls --table "$TABLE" --bucket "$BUCKET" --target-db "$dst" --report "$OUT/report.json" \
				>"$OUT/summary.json" 2>"$OUT/reembed.log" || true
			end=$(date +%s.%N)
			stats=$(curl -fs "http://$BEDROCK_ADDR/stats")
			cp "$OUT/reembed.log" "$OUT/reembed-${latency}-${kind}-${mode}.log"; cp "$OUT/bedrock.log" "$OUT/bedrock-${latency}-${kind}-${mode}.log"
			kill $server; wait $server 2>/dev/null || true
			server=
			python3 - "$OUT/summary.json" "$start" "$end" "$latency" "$kind" "$value" "$mode" "$stats" >>"$results" <<'PY'
import json, math, sys
s = json.load(open(sys.argv[1]))
t0, t1, latency, kind, value, mode = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7]
server = json.loads(sys.argv[8])
done = [b for b in s["bots"] if b["status"] == "done"]
chunks = sum(b["chunks"] for b in done)
tokens = server["tokens"]
rpm = value if kind == "rpm" else 0
tpm = value if kind == "tpm" else 0
def at_budget(requests):
    return max(requests / rpm * 60 if rpm else 0, tokens / tpm * 60 if tpm else 0)
floor = at_budget(math.ceil(chunks / 96))
app = at_budget(sum(math.ceil(b["chunks"] / 10) for b in done))
print(json.dumps({
    "latency": latency, "budget": f"{value} {'requests' if kind == 'rpm' else 'tokens'}/min", "mode": mode,
    "bots_done": len(done), "bots_failed": s["failed"], "chunks": chunks, "tokens": tokens,
    "wall_s": round(t1 - t0, 1), "floor_s": round(floor, 1), "x_floor": round((t1 - t0) / floor, 2),
    "requests": server["requests"], "throttled": server["throttled"],
    "throttled_pct": round(100 * server["throttled"] / max(server["requests"], 1), 1),
    "texts_per_request": round(server["texts"] / max(server["succeeded"], 1), 1),
    "in_flight_max": server["in_flight_max"], "app_s": round(app, 1), "app_x_floor": round(app / floor, 2),
}))
PY
			tail -1 "$results" >&2
		done
	done
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| latency | budget | budget known | wall / floor | wall | floor | throttled | texts/request | most in flight | the app's way (floor ×) |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    known = {"given": "given (--rpm/--tpm)", "service-quotas": "read from Service Quotas", "discovered": "adaptive (none readable)"}[r["mode"]]
    print(f"| {r['latency']} | {r['budget']} | {known} | **{r['x_floor']:.2f}x** | {r['wall_s']:.1f} s | {r['floor_s']:.1f} s "
          f"| {r['throttled_pct']:.1f} % ({r['throttled']}/{r['requests']}) | {r['texts_per_request']:.1f} | {r['in_flight_max']} "
          f"| {r['app_s']:.0f} s ({r['app_x_floor']:.1f}x) |")
print(f"\n{rows[0]['chunks'] if rows else 0} chunks, {rows[0]['tokens'] if rows else 0} tokens, {rows[0]['bots_done'] if rows else 0} bots re-embedded per run")
PY

if [ -n "${BENCH_EXTRA:-}" ]; then
	log "the Batcher alone (Go benchmark, 50 ms, 600 rpm)"
	(cd "$root" && go test -run '^$' -bench 'EmbedAll' -benchtime 300x ./internal/embed/) | tee "$OUT/batcher.txt" | grep -E '^Benchmark'
	log "the app's splitter"
	(cd "$root" && go test -run '^$' -bench 'Split' ./internal/chunk/) | tee "$OUT/chunk.txt" | grep -E '^Benchmark'
fi

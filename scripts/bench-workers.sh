#!/usr/bin/env bash
# bench-workers.sh measures where the re-embedding runs, as issue 14 asks, on one deployment and
# one provider quota (the Bedrock contract server enforcing BENCH_RPM requests/min over a sliding
# minute, ThrottlingException above it):
#
#   local      'reembed' in this process (the local pool);
#   workers=1  'reembed --runner ecs --ecs-task worker --workers 1';
#   workers=3  the same with three worker tasks, sharing the run's budget in the target;
#   app        the app's task per bot, 10 texts per call: computed on the same budget (the
#              requests it would send, ceil(chunks / 10) per bot, at the quota), as
#              bench-reembed.sh does; ragmigrate running in the app's task sends 96.
#
# ECS is the script's own AWS control-plane server ('dev serve aws': tasks are local processes
# of the ragmigrate binary), so task start-up is a process start, not Fargate's ~30-60 s.
# Each run prints its wall time over the floor (ceil(chunks / 96) requests at the quota), the
# requests the provider saw and how many it throttled, and the texts per request.
#
#   BENCH_BOTS=60 BENCH_DOCS=25     the deployment; BENCH_SEED=0 reuses the one seeded before
#   BENCH_RPM=120 BENCH_LATENCY=50ms
#   BENCH_RUNS="local workers=1 workers=3"
#   BENCH_BEDROCK_ADDR=127.0.0.1:15497 BENCH_AWS_ADDR=127.0.0.1:15496
#                                   the script's own servers: never the stack's
#   BENCH_NAME=ragmigrate-bench-workers  table, bucket and databases of the deployment
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BENCH_BIN:-$root/bin/ragmigrate}
BOTS=${BENCH_BOTS:-60}
DOCS=${BENCH_DOCS:-25}
RPM=${BENCH_RPM:-120}
LATENCY=${BENCH_LATENCY:-50ms}
RUNS=${BENCH_RUNS:-local workers=1 workers=3}
BEDROCK_ADDR=${BENCH_BEDROCK_ADDR:-127.0.0.1:15497}
AWS_ADDR=${BENCH_AWS_ADDR:-127.0.0.1:15496}
SEED=${BENCH_SEED:-1}
OUT=${BENCH_OUT:-$root/.stack/bench-workers}
NAME=${BENCH_NAME:-ragmigrate-bench-workers}
TABLE=$NAME
BUCKET=$NAME
SRC_DB=${NAME//-/_}_src
DST_DB=${NAME//-/_}_dst
: "${RAGMIGRATE_SOURCE_DB:?the stack environment is missing: run 'make bench-workers'}"
mkdir -p "$OUT"
log() { printf 'bench-workers: %s\n' "$*" >&2; }
db_url() { sed -E "s#^([^?]*/)[^/?]*(\\?|\$)#\\1$2\\2#" <<<"$1"; }
src=$(db_url "$RAGMIGRATE_SOURCE_DB" "$SRC_DB")
dst=$(db_url "$RAGMIGRATE_TARGET_DB" "$DST_DB")
server= aws=
trap '[ -n "$server" ] && kill $server 2>/dev/null; [ -n "$aws" ] && kill $aws 2>/dev/null; true' EXIT
wait_up() { for _ in $(seq 100); do curl -fs "http://$1/healthz" >/dev/null 2>&1 && return; sleep 0.1; done; log "no server at $1"; exit 1; }
ecs() { # ecs OPERATION JSON: one call of the ECS contract server's JSON protocol
	# (The contract server wants a signed request's header; it does not check the signature.)
	curl -fsS -X POST "http://$AWS_ADDR/" -H "Content-Type: application/x-amz-json-1.1" \
		-H "Authorization: AWS4-HMAC-SHA256 Credential=$AWS_ACCESS_KEY_ID/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=00" \
		-H "X-Amz-Target: AmazonEC2ContainerServiceV20141113.$1" --data "$2"
}

if [ "$SEED" != 0 ]; then
	log "seeding $BOTS bots × $DOCS documents"
	psql -qXAt "$RAGMIGRATE_SOURCE_DB" -c "DROP DATABASE IF EXISTS $SRC_DB WITH (FORCE)" -c "CREATE DATABASE $SRC_DB"
	"$BIN" dev seed --yes --bots "$BOTS" --docs-per-bot "$DOCS" --table "$TABLE" --bucket "$BUCKET" --source-db "$src" --no-target >"$OUT/seed.log" 2>&1
fi

# The ECS tasks inherit this server's AWS_* variables: the stack's endpoints, and Bedrock's
# pointing at the script's own server.
rm -rf "$OUT/aws"
AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://$BEDROCK_ADDR "$BIN" dev serve aws --addr "$AWS_ADDR" --dir "$OUT/aws" --ecs-binary "$BIN" >"$OUT/aws.log" 2>&1 &
aws=$!
wait_up "$AWS_ADDR"
# The app's embedding task definition, which the worker tasks take their roles and log group from.
ecs RegisterTaskDefinition '{"family":"BenchEmbeddingTask","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"2048","memory":"4096",
	"taskRoleArn":"arn:aws:iam::000000000000:role/EmbeddingTaskRole","executionRoleArn":"arn:aws:iam::000000000000:role/EmbeddingExecutionRole",
	"containerDefinitions":[{"name":"Container","image":"bedrock-chat-embedding:latest","essential":true,
	"logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"/ecs/bench-embedding","awslogs-region":"us-east-1","awslogs-stream-prefix":"embed"}}}]}' >/dev/null

results=$OUT/runs.jsonl
: >"$results"
for run in $RUNS; do
	log "run: $run"
	psql -qXAt "$RAGMIGRATE_TARGET_DB" -c "DROP DATABASE IF EXISTS $DST_DB WITH (FORCE)" -c "CREATE DATABASE $DST_DB"
	"$BIN" dev serve bedrock --addr "$BEDROCK_ADDR" --latency "$LATENCY" --rpm "$RPM" >"$OUT/bedrock.log" 2>&1 &
	server=$!
	wait_up "$BEDROCK_ADDR"
	flags=()
	case $run in
	local) ;;
	workers=*) flags=(--runner ecs --ecs-task worker --workers "${run#workers=}" --image ragmigrate:bench --cluster bench
		--subnets subnet-bench-a,subnet-bench-b --security-groups sg-bench --task-definition BenchEmbeddingTask --task-poll 500ms) ;;
	*) log "unknown run $run"; exit 2 ;;
	esac
	start=$(date +%s.%N)
	AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://$BEDROCK_ADDR AWS_ENDPOINT_URL_ECS=http://$AWS_ADDR AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=http://$AWS_ADDR \
		"$BIN" reembed --yes --json --truncate END --create-missing --rpm "$RPM" --tpm 0 "${flags[@]}" \
		--allow-private-urls --table "$TABLE" --bucket "$BUCKET" --target-db "$dst" --report "$OUT/report.json" \
		>"$OUT/summary.json" 2>"$OUT/reembed.log" || true
	end=$(date +%s.%N)
	stats=$(curl -fs "http://$BEDROCK_ADDR/stats")
	cp "$OUT/reembed.log" "$OUT/reembed-$run.log"
	kill $server; wait $server 2>/dev/null || true
	server=
	python3 - "$OUT/summary.json" "$start" "$end" "$run" "$RPM" "$stats" >>"$results" <<'PY'
import json, math, sys
s = json.load(open(sys.argv[1]))
t0, t1, run, rpm = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
server = json.loads(sys.argv[6])
done = [b for b in s["bots"] if b["status"] == "done"]
chunks = sum(b["chunks"] for b in done)
floor = math.ceil(chunks / 96) / rpm * 60
app = sum(math.ceil(b["chunks"] / 10) for b in done) / rpm * 60
print(json.dumps({
    "run": run, "bots_done": len(done), "bots_failed": s["failed"], "chunks": chunks,
    "wall_s": round(t1 - t0, 1), "floor_s": round(floor, 1), "x_floor": round((t1 - t0) / floor, 2),
    "requests": server["requests"], "throttled": server["throttled"],
    "texts_per_request": round(server["texts"] / max(server["succeeded"], 1), 1),
    "app_s": round(app, 1), "app_x_floor": round(app / floor, 2),
}))
PY
	tail -1 "$results" >&2
done

python3 - "$results" "$RPM" "$LATENCY" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
names = {"local": "local pool (this process)", "workers=1": "`--ecs-task worker --workers 1`", "workers=3": "`--ecs-task worker --workers 3`"}
print(f"| where | wall | wall / floor | requests | throttled | texts/request |")
print("|---|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {names.get(r['run'], r['run'])} | {r['wall_s']:.1f} s | **{r['x_floor']:.2f}x** | {r['requests']} | {r['throttled']} | {r['texts_per_request']:.1f} |")
if rows:
    r = rows[0]
    print(f"| the app's task per bot, 10 texts per call (computed) | {r['app_s']:.0f} s | {r['app_x_floor']:.1f}x | | | 10 |")
    print(f"\n{r['chunks']} chunks, {r['bots_done']} bots re-embedded per run; floor {r['floor_s']:.1f} s = ceil(chunks / 96) requests at {sys.argv[2]}/min; provider latency {sys.argv[3]}")
PY

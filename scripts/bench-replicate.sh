#!/usr/bin/env bash
# bench-replicate.sh measures 'ragmigrate replicate' on the local stack (source cluster → target
# cluster, both on loopback), on $BENCH_ROWS rows of vector(1024) seeded with 'ragmigrate dev seed':
#
#   replicate   'replicate start' with a writer running (pgbench: per transaction one insert, one
#               content-only update, one embedding-only update, one delete, at $BENCH_TPS tx/s):
#               wall time until the subscription streams, and its bulk load (data, indexes);
#               then, after $BENCH_STREAM s of streaming, the writer is stopped and 'replicate
#               cutover --yes' runs: the pause writers take (from the writer's stop until cutover
#               is done), split into catch-up, verify and drop.
#   native      a plain native subscription (copy_data = true) into the same schema made by
#               'pg_dump --schema-only' (the documented way), and into the bare table with the
#               indexes built once the initial copy is ready: time from CREATE SUBSCRIPTION until
#               the table is ready (pg_subscription_rel 'r') with its indexes, no writer.
#
# Sources and targets are dedicated databases (and DynamoDB table and bucket for the seed), dropped
# at the end; every slot, publication and subscription the run creates is dropped too.
# Needs the stack's environment (make bench-replicate exports it), jq and pgbench.
set -euo pipefail

. "$(dirname "$0")/stack.sh"
BIN=$root/bin/ragmigrate
ROWS=${BENCH_ROWS:-100000}
JOBS=${BENCH_JOBS:-2}
TPS=${BENCH_TPS:-20}
STREAM=${BENCH_STREAM:-10}
OUT=${BENCH_OUT:-$root/.stack/bench-replicate}
TABLE=ragmigrate-bench-replicate
BUCKET=ragmigrate-bench-replicate

need_stack_env
mkdir -p "$OUT"
now() { date +%s.%N; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

srcdb=bench_repl_src dstdb=bench_repl_dst natdb=bench_repl_native
src=$(db_url "$RAGMIGRATE_SOURCE_DB" $srcdb)
dst=$(db_url "$RAGMIGRATE_TARGET_DB" $dstdb)
nat=$(db_url "$RAGMIGRATE_TARGET_DB" $natdb)
writer=""
cleanup() {
	[ -n "$writer" ] && kill "$writer" 2>/dev/null || true
	"$BIN" replicate abort --yes --source-db "$src" --target-db "$dst" >/dev/null 2>&1 || true
	psql -qX "$nat" -c 'ALTER SUBSCRIPTION bench_native DISABLE' -c 'ALTER SUBSCRIPTION bench_native SET (slot_name = NONE)' -c 'DROP SUBSCRIPTION bench_native' >/dev/null 2>&1 || true
	psql -qX "$src" -c "SELECT pg_drop_replication_slot('bench_native')" >/dev/null 2>&1 || true
	for db in $dstdb $natdb; do drop_db "$RAGMIGRATE_TARGET_DB" $db || true; done
	drop_db "$RAGMIGRATE_SOURCE_DB" $srcdb || true
}
trap cleanup EXIT

[ -x "$BIN" ] || (cd "$root" && go build -tags dev -o bin/ragmigrate ./cmd/ragmigrate)
started=$(date -u +%Y-%m-%dT%H:%MZ)
log "seeding $ROWS rows into $srcdb"
fresh_db "$RAGMIGRATE_SOURCE_DB" $srcdb
"$BIN" dev seed --yes --no-target --rows "$ROWS" --source-db "$src" --table "$TABLE" --bucket "$BUCKET" >/dev/null
psql -qX "$src" -c 'VACUUM ANALYZE items' >/dev/null
psql -qX "$src" -c 'COPY items TO STDOUT (FORMAT binary)' | wc -c >/dev/null # warm the cache once
size=$(psql -qXAt "$src" -c "SELECT count(*) || ' rows, ' || pg_size_pretty(pg_table_size('items')) FROM items")
log "source: $size"

cat >"$OUT/writer.sql" <<'SQL'
\set r random(1, 1000000000)
INSERT INTO items VALUES (upper(substr(md5(:r::text || clock_timestamp()::text), 1, 26)), 'BOTBENCHWRITER000000000000', 'bench write ' || :r, 's3://bench/w', (SELECT embedding FROM items LIMIT 1));
UPDATE items SET content = content || ' edited' WHERE id = (SELECT id FROM items TABLESAMPLE SYSTEM (0.1) LIMIT 1);
UPDATE items SET embedding = (SELECT embedding FROM items TABLESAMPLE SYSTEM (0.1) LIMIT 1) WHERE id = (SELECT id FROM items TABLESAMPLE SYSTEM (0.1) LIMIT 1);
DELETE FROM items WHERE id = (SELECT id FROM items TABLESAMPLE SYSTEM (0.1) LIMIT 1);
SQL

# 1. replicate start with the writer running, then cutover.
fresh_db "$RAGMIGRATE_TARGET_DB" $dstdb
"$PGBIN/pgbench" -n -c 1 -R "$TPS" -T 3600 -f "$OUT/writer.sql" "$src" >"$OUT/writer.out" 2>&1 &
writer=$!
before=$(psql -qXAt "$src" -c "SELECT count(*) FROM items WHERE botid = 'BOTBENCHWRITER000000000000'")
t0=$(now)
"$BIN" replicate start --yes --json --create-missing --jobs "$JOBS" --source-db "$src" --target-db "$dst" >"$OUT/start.json" 2>"$OUT/start.err"
t1=$(now)
start_wall=$(secs "$t0" "$t1")
load=$(jq -r '.load_seconds' "$OUT/start.json")
data=$(jq -r '.load.data_seconds' "$OUT/start.json")
index=$(jq -r '.load.index_seconds' "$OUT/start.json")
log "replicate start: ${start_wall}s to streaming (load ${load}s: data ${data}s, indexes ${index}s)"
sleep "$STREAM" # streaming with the writer running: a benchmark's steady state, not a synchronisation
"$BIN" replicate status --json --source-db "$src" --target-db "$dst" >"$OUT/status.json"
kill "$writer"
wait "$writer" 2>/dev/null || true
writer=""
tstop=$(now)
writes=$(($(psql -qXAt "$src" -c "SELECT count(*) FROM items WHERE botid = 'BOTBENCHWRITER000000000000'") - before))
"$BIN" replicate cutover --yes --json --source-db "$src" --target-db "$dst" >"$OUT/cutover.json" 2>"$OUT/cutover.err"
tdone=$(now)
pause=$(secs "$tstop" "$tdone")
catchup=$(jq -r .catch_up_seconds "$OUT/cutover.json")
verify=$(jq -r .verify_seconds "$OUT/cutover.json")
inner=$(jq -r .pause_seconds "$OUT/cutover.json")
ok=$(jq -r .verify.ok "$OUT/cutover.json")
left=$(psql -qXAt "$src" -c "SELECT count(*) FROM pg_replication_slots WHERE database = '$srcdb'")
log "cutover: writers paused ${pause}s (cutover's own ${inner}s: catch-up ${catchup}s, verify ${verify}s); verify ok=$ok; slots left $left"

# 2. A plain native subscription, copy_data = true: into the schema pg_dump --schema-only makes
# (the documented way: indexes maintained during the initial copy), and into the table alone with
# the indexes built after the initial copy (pg_dump --section=post-data), as the copy path does.
native() { # SECTIONS_BEFORE POST_AFTER(0/1): sets NATIVE (s until ready, indexes included)
	fresh_db "$RAGMIGRATE_TARGET_DB" $natdb
	psql -qX "$nat" -c 'CREATE EXTENSION vector' >/dev/null
	"$PGBIN/pg_dump" $1 -t items "$src" | psql -qX "$nat" >/dev/null
	psql -qX "$src" -c 'CREATE PUBLICATION bench_native FOR TABLE items' >/dev/null
	local t0 t1
	t0=$(now)
	psql -qX "$nat" -c "CREATE SUBSCRIPTION bench_native CONNECTION '$src' PUBLICATION bench_native WITH (copy_data = true, binary = true)" >/dev/null
	until [ "$(psql -qXAt "$nat" -c "SELECT count(*) FILTER (WHERE srsubstate = 'r') || '/' || count(*) FROM pg_subscription_rel")" = 1/1 ]; do sleep 0.2; done
	if [ "$2" = 1 ]; then "$PGBIN/pg_dump" --section=post-data -t items "$src" | psql -qX "$nat" >/dev/null; fi
	t1=$(now)
	NATIVE=$(secs "$t0" "$t1")
	psql -qX "$nat" -c 'DROP SUBSCRIPTION bench_native' >/dev/null
	psql -qX "$src" -c 'DROP PUBLICATION bench_native' >/dev/null
}
native --schema-only 0
native_schema=$NATIVE
log "native subscription (copy_data = true) into pg_dump --schema-only: ${native_schema}s until ready"
native --section=pre-data 1
native_after=$NATIVE
log "native subscription (copy_data = true), indexes after: ${native_after}s until ready with indexes"

{
	echo "Run $started on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), shared with other work;"
	echo "$(psql -qXAt "$RAGMIGRATE_TARGET_DB" -c 'SHOW server_version' | cut -d' ' -f1), both clusters on loopback; source $size; writer $TPS tx/s (4 changes each)."
	echo
	echo "| initial load of $ROWS rows | until streaming | of which data | of which indexes | notes |"
	echo "|---|---:|---:|---:|---|"
	printf '| ragmigrate replicate start --jobs %s | %.1f s | %.1f s | %.1f s | slot snapshot loaded as binary COPY, indexes after, writer running |\n' "$JOBS" "$start_wall" "$data" "$index"
	printf '| native subscription, copy_data = true | %.1f s | | | into pg_dump --schema-only (indexes maintained during the copy); PG 15 copies as text, one worker per table, binary = true or not |\n' "$native_schema"
	printf '| native subscription, copy_data = true, indexes after | %.1f s | | | into the table alone, then pg_dump --section=post-data once ready |\n' "$native_after"
	echo
	echo "| cut-over with the writer running | seconds |"
	echo "|---|---:|"
	printf '| writers paused (writer stopped → cutover done) | %.2f |\n' "$pause"
	printf '| of which catch-up to the source LSN | %.2f |\n' "$catchup"
	printf '| of which verify (per-bot digests + 5 searches) | %.2f |\n' "$verify"
	printf '| writes made during start and streaming | %s |\n' "$writes"
	printf '| verify ok / slots left | %s / %s |\n' "$ok" "$left"
} | tee "$OUT/results.md"

#!/usr/bin/env bash
# bench-copy.sh compares 'ragmigrate copy' side by side, in one run, with the ways people move a
# pgvector table today, on the local stack (source cluster → target cluster, both on loopback):
#
#   raw         psql COPY (FORMAT binary) TO STDOUT | psql COPY FROM STDIN, into a table without
#               indexes, then the source's indexes (the floor: one stream, no bookkeeping)
#   ragmigrate  ragmigrate copy --jobs $BENCH_JOBS
#   pg_dump     pg_dump -t items | psql, timed by section (pre-data, data, post-data)
#   pgcopydb    pgcopydb 0.17 clone --table-jobs/--index-jobs $BENCH_JOBS (text COPY, its default)
#   pgcopydb-b  the same with --use-copy-binary
#
# For each it records the wall time of the data phase, of data + indexes, and the peak RSS of the
# process tree (GNU time). $BENCH_ROWS rows run every method; $BENCH_RSS_ROWS rows run raw and
# ragmigrate only, to show ragmigrate's memory stays flat as the table grows. Sources are seeded
# with 'ragmigrate dev seed --rows N' into dedicated databases, DynamoDB table and bucket, so the
# demo's deployment is untouched; every target is a fresh database, dropped after its method.
#
# Needs the stack's environment (make bench-copy exports it) and scripts/install-bench.sh.
set -euo pipefail

. "$(dirname "$0")/stack.sh"
BIN=$root/bin/ragmigrate
ROWS=${BENCH_ROWS:-100000}
RSS_ROWS=${BENCH_RSS_ROWS:-300000}
JOBS=${BENCH_JOBS:-2}
OUT=${BENCH_OUT:-$root/.stack/bench-copy}
TABLE=ragmigrate-bench-copy
BUCKET=ragmigrate-bench-copy

need_stack_env
[ -x /usr/bin/time ] && [ -x "$PGBIN/pgcopydb" ] || { echo "bench-copy: run scripts/install-bench.sh first" >&2; exit 1; }
mkdir -p "$OUT"
results=$OUT/results.tsv
: >"$results"
: >"$OUT/verify.tsv"

# timed NAME CMD: runs CMD under GNU time; sets WALL (s) and RSS (MB, the largest process of the tree).
timed() {
	local name=$1
	shift
	/usr/bin/time -f '%e %M' -o "$OUT/$name.time" bash -c "$*" >"$OUT/$name.out" 2>"$OUT/$name.err" \
		|| { log "$name failed:"; tail -20 "$OUT/$name.err" >&2; exit 1; }
	read -r WALL RSS_KB <"$OUT/$name.time"
	RSS=$((RSS_KB / 1024))
}

record() { # ROWS METHOD DATA_S TOTAL_S RSS_MB NOTE
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"
	log "$(printf '%s rows %-11s data %6.1fs  data+indexes %6.1fs  peak RSS %5s MB  %s' "$@")"
}

sum() { python3 -c "import sys; print(round(sum(map(float, sys.argv[1:])), 2))" "$@"; }

# pgcopydb prints durations as 136ms, 4s408, 1m02s or 1h02m.
pgc_seconds() {
	python3 - "$1" <<'PY'
import re, sys
s = sys.argv[1].strip()
for pattern, seconds in [
    (r"(\d+)ms", lambda a, b: a / 1000),
    (r"(\d+)s(\d+)", lambda a, b: a + b / 1000),
    (r"(\d+)s", lambda a, b: a),
    (r"(\d+)m(\d+)s", lambda a, b: a * 60 + b),
    (r"(\d+)h(\d+)m", lambda a, b: a * 3600 + b * 60),
]:
    m = re.fullmatch(pattern, s)
    if m:
        a = [int(x) for x in m.groups()] + [0]
        print(round(seconds(a[0], a[1]), 3))
        break
else:
    sys.exit(f"unknown pgcopydb duration {s!r}")
PY
}

bench() { # ROWS METHODS...
	local rows=$1
	shift
	local srcdb=bench_copy_src_$rows dstdb=bench_copy_dst_$rows
	local src dst
	src=$(db_url "$RAGMIGRATE_SOURCE_DB" "$srcdb")
	dst=$(db_url "$RAGMIGRATE_TARGET_DB" "$dstdb")

	log "seeding $rows rows into $srcdb"
	fresh_db "$RAGMIGRATE_SOURCE_DB" "$srcdb"
	"$BIN" dev seed --yes --no-target --rows "$rows" --source-db "$src" --table "$TABLE" --bucket "$BUCKET" >/dev/null
	psql -qX "$src" -c 'VACUUM ANALYZE items' >/dev/null
	# Warm the source's cache once, so no method pays for the first read.
	psql -qX "$src" -c 'COPY items TO STDOUT (FORMAT binary)' | wc -c >"$OUT/stream-bytes-$rows"
	log "source: $(psql -qXAt "$src" -c "SELECT (SELECT count(*) FROM items) || ' rows, ' || pg_size_pretty(pg_table_size('items')) || ' (heap + TOAST), COPY BINARY stream ' || pg_size_pretty($(cat "$OUT/stream-bytes-$rows")::bigint)")"

	for m in "$@"; do
		fresh_db "$RAGMIGRATE_TARGET_DB" "$dstdb"
		case $m in
		raw)
			psql -qX "$dst" -c 'CREATE EXTENSION vector' >/dev/null
			"$PGBIN/pg_dump" --section=pre-data -t items "$src" | psql -qX "$dst" >/dev/null
			timed raw-data-$rows "psql -qX '$src' -c 'COPY items TO STDOUT (FORMAT binary)' | psql -qX '$dst' -c 'COPY items FROM STDIN (FORMAT binary)'"
			local data=$WALL rss=$RSS
			timed raw-idx-$rows "'$PGBIN/pg_dump' --section=post-data -t items '$src' | psql -qX '$dst'"
			record "$rows" raw "$data" "$(sum "$data" "$WALL")" "$rss" "one stream, no index during the load, then the source's indexes"
			;;
		ragmigrate)
			timed ragmigrate-$rows "'$BIN' copy --yes --json --create-missing --jobs $JOBS --source-db '$src' --target-db '$dst'"
			local d
			d=$(jq -r .data_seconds "$OUT/ragmigrate-$rows.out")
			record "$rows" ragmigrate "$(printf '%.2f' "$d")" "$WALL" "$RSS" "--jobs $JOBS, $(jq -r '.tables[0].parts' "$OUT/ragmigrate-$rows.out") parts, binary COPY, indexes after"
			if [ "$rows" = "$ROWS" ]; then
				# Verification of the same copy, next to its time: ragmigrate verify (per-bot
				# digests, drill-down, 20 sampled searches exact and ANN) and pgcopydb's compare.
				local copied=$d
				timed verify-$rows "RAGMIGRATE_TABLE= '$BIN' verify --json --queries 20 --source-db '$src' --target-db '$dst'"
				printf '%s\tragmigrate verify --queries 20\t%s\t%s\t%s\t%s\n' "$rows" "$WALL" "$RSS" "$copied" "$(jq -r .ok "$OUT/verify-$rows.out")" >>"$OUT/verify.tsv"
				timed verify-nosearch-$rows "RAGMIGRATE_TABLE= '$BIN' verify --json --queries 0 --source-db '$src' --target-db '$dst'"
				printf '%s\tragmigrate verify --queries 0\t%s\t%s\t%s\t%s\n' "$rows" "$WALL" "$RSS" "$copied" "$(jq -r .ok "$OUT/verify-nosearch-$rows.out")" >>"$OUT/verify.tsv"
				rm -rf "$OUT/pgcopydb-compare"
				timed pgcopydb-compare-$rows "'$PGBIN/pgcopydb' compare data --source '$src' --target '$dst' --dir '$OUT/pgcopydb-compare'"
				printf '%s\tpgcopydb compare data\t%s\t%s\t%s\t%s\n' "$rows" "$WALL" "$RSS" "$copied" "exit 0" >>"$OUT/verify.tsv"
				log "verify: $(cut -f2,3 "$OUT/verify.tsv" | tr '\t\n' ' ;')"
			fi
			;;
		pg_dump)
			psql -qX "$dst" -c 'CREATE EXTENSION vector' >/dev/null
			timed pgdump-pre-$rows "'$PGBIN/pg_dump' --section=pre-data -t items '$src' | psql -qX '$dst'"
			local pre=$WALL rss=$RSS
			timed pgdump-data-$rows "'$PGBIN/pg_dump' --section=data -t items '$src' | psql -qX '$dst'"
			local data=$WALL
			rss=$((RSS > rss ? RSS : rss))
			timed pgdump-post-$rows "'$PGBIN/pg_dump' --section=post-data -t items '$src' | psql -qX '$dst'"
			rss=$((RSS > rss ? RSS : rss))
			record "$rows" "pg_dump | psql" "$data" "$(sum "$pre" "$data" "$WALL")" "$rss" "text COPY; pg_dump -t items | psql run by section"
			;;
		pgcopydb | pgcopydb-binary)
			local flags="" name=pgcopydb
			if [ "$m" = pgcopydb-binary ]; then flags=--use-copy-binary name="pgcopydb --use-copy-binary"; fi
			rm -rf "$OUT/pgcopydb-work"
			timed "$m-$rows" "'$PGBIN/pgcopydb' clone --source '$src' --target '$dst' --table-jobs $JOBS --index-jobs $JOBS $flags --dir '$OUT/pgcopydb-work'"
			local copy
			copy=$(awk -F'|' '$3 ~ /^ *items *$/ {gsub(/ /, "", $5); print $5}' "$OUT/$m-$rows.out" "$OUT/$m-$rows.err" | head -1)
			record "$rows" "$name" "$(pgc_seconds "$copy")" "$WALL" "$RSS" "0.17 clone --table-jobs $JOBS --index-jobs $JOBS; data = its items copy duration"
			;;
		esac
		drop_db "$RAGMIGRATE_TARGET_DB" "$dstdb"
	done
	drop_db "$RAGMIGRATE_SOURCE_DB" "$srcdb"
}

[ -x "$BIN" ] || (cd "$root" && go build -tags dev -o bin/ragmigrate ./cmd/ragmigrate)
started=$(date -u +%Y-%m-%dT%H:%MZ)
bench "$ROWS" raw ragmigrate pg_dump pgcopydb pgcopydb-binary
if [ -n "$RSS_ROWS" ] && [ "$RSS_ROWS" != 0 ]; then
	bench "$RSS_ROWS" raw ragmigrate
fi

# The report: machine, versions, one table.
{
	echo "Run $started on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/^Mem:/ {print $2}') GB RAM;"
	echo "$(psql -qXAt "$RAGMIGRATE_TARGET_DB" -c 'SHOW server_version' | cut -d' ' -f1) with pgvector $(psql -qXAt "$RAGMIGRATE_TARGET_DB" -c "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"), both clusters on loopback; $("$PGBIN/pgcopydb" --version 2>&1 | grep -m1 '^pgcopydb version')."
	echo
	echo "| rows | method | data phase | data + indexes | peak RSS | notes |"
	echo "|---:|---|---:|---:|---:|---|"
	while IFS=$'\t' read -r rows method data total rss note; do
		method=${method//|/\\|} note=${note//|/\\|}
		printf '| %s | %s | %.1f s | %.1f s | %s MB | %s |\n' "$rows" "$method" "$data" "$total" "$rss" "$note"
	done <"$results"
	echo
	echo "Verification of the $ROWS-row copy (same run):"
	echo
	echo "| rows | check | wall time | peak RSS | the copy's data phase | result |"
	echo "|---:|---|---:|---:|---:|---|"
	while IFS=$'\t' read -r rows check wall rss copied ok; do
		printf '| %s | %s | %.1f s | %s MB | %.1f s | %s |\n' "$rows" "$check" "$wall" "$rss" "$copied" "$ok"
	done <"$OUT/verify.tsv"
	echo
	python3 - "$results" "$ROWS" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter="\t"))
n = sys.argv[2]
d = {r[1]: float(r[2]) for r in rows if r[0] == n}
if "ragmigrate" in d and "raw" in d:
    print(f"At {n} rows, ragmigrate's data phase is {d['ragmigrate'] / d['raw']:.2f}x the raw binary pipe's", end="")
    others = [(m, d[m] / d["ragmigrate"]) for m in ("pg_dump | psql", "pgcopydb", "pgcopydb --use-copy-binary") if m in d]
    print("; " + ", ".join(f"{m} takes {x:.2f}x as long" for m, x in others) + ".")
PY
} | tee "$OUT/results.md"

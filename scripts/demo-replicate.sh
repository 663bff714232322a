#!/usr/bin/env bash
# The live path on the local stack, as 'make demo' shows it: replicate the old cluster's items
# into a database on the target cluster while the app still writes to the old one, then cut over.
#
# Reads the stack's environment (.stack/env); BIN is the ragmigrate binary, DEMO_REPLICA_DB the
# database on the target cluster the replication goes to.
set -euo pipefail
. "$(dirname "$0")/stack.sh"
need_stack_env
BIN=${BIN:-bin/ragmigrate}
REPLICA_DB=${DEMO_REPLICA_DB:-ragmigrate_replica}
show() { echo; echo "\$ $*"; }
target=$(db_url "$RAGMIGRATE_TARGET_DB" "$REPLICA_DB")

psql -qXAt "$RAGMIGRATE_TARGET_DB" -c "SELECT 1 FROM pg_database WHERE datname = '$REPLICA_DB'" | grep -q 1 \
	|| psql -qX "$RAGMIGRATE_TARGET_DB" -c "CREATE DATABASE $REPLICA_DB"
# A demo run before this one that stopped half-way left its replication: remove it first.
"$BIN" replicate abort --target-db "$target" >/dev/null 2>&1 || true

show "ragmigrate replicate start --target-db <target cluster>/$REPLICA_DB --empty-target --create-missing --yes   # slot + snapshot load + subscription: the app keeps writing to the old cluster"
"$BIN" replicate start --yes --empty-target --create-missing --target-db "$target"

# The app, still live on the old cluster, re-embeds one bot meanwhile: its rows are replaced.
bot=$(psql -qXAt "$RAGMIGRATE_SOURCE_DB" -c "SELECT botid FROM items GROUP BY botid ORDER BY count(*) DESC, botid LIMIT 1")
show "psql <old cluster> -c 'BEGIN; DELETE FROM items WHERE botid = ...; INSERT ...; COMMIT'   # the app re-embeds bot $bot during the replication"
psql -qX "$RAGMIGRATE_SOURCE_DB" -v ON_ERROR_STOP=1 -v bot="$bot" <<'SQL'
BEGIN;
CREATE TEMP TABLE rows_of_bot ON COMMIT DROP AS SELECT * FROM items WHERE botid = :'bot';
DELETE FROM items WHERE botid = :'bot';
INSERT INTO items (id, botid, content, source, embedding)
	SELECT upper(substr(md5(id || clock_timestamp()::text), 1, 26)), botid, content || ' (edited while replicating)', source, embedding FROM rows_of_bot;
COMMIT;
SQL

show "ragmigrate replicate status --target-db <the replica>   # lag, rows on both sides, WAL the slot holds"
"$BIN" replicate status --target-db "$target"

show "ragmigrate replicate cutover --target-db <the replica> --yes   # writes have stopped: catch up, verify, drop slot, publication and subscription"
"$BIN" replicate cutover --yes --target-db "$target"

#!/usr/bin/env bash
# The guide's alternative path on the local stack, as 'make demo' shows it: restore the old
# cluster's final snapshot (which 'make seed' publishes on the stack's RDS contract server) into a
# temporary cluster, copy from it, verify, and delete the temporary cluster.
#
# Reads the stack's environment (.stack/env); BIN is the ragmigrate binary, DEMO_SNAPSHOT_DB the
# database on the target cluster the copy goes to.
set -euo pipefail
. "$(dirname "$0")/stack.sh"
BIN=${BIN:-bin/ragmigrate}
COPY_DB=${DEMO_SNAPSHOT_DB:-ragmigrate_snapshot_copy}
show() { echo; echo "\$ $*"; }
target=$(db_url "$RAGMIGRATE_TARGET_DB" "$COPY_DB")

show "ragmigrate snapshot restore --latest --yes   # the old cluster's final snapshot into a temporary cluster (RDS = the contract server)"
"$BIN" snapshot restore --latest --yes
# Run again, it reuses the cluster; its JSON names it, its RDS-managed secret and its endpoint.
restored=$("$BIN" snapshot restore --latest --yes --json 2>/dev/null)
field() { sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" <<<"$restored"; }
cluster=$(field cluster_id)
secret=$(field secret_arn)
src=$(field source_db)

show "ragmigrate copy --source-secret <its RDS-managed secret> --source-db <its endpoint, no password> --target-db <target cluster>/$COPY_DB --yes"
psql -qXAt "$RAGMIGRATE_TARGET_DB" -c "SELECT 1 FROM pg_database WHERE datname = '$COPY_DB'" | grep -q 1 \
	|| psql -qX "$RAGMIGRATE_TARGET_DB" -c "CREATE DATABASE $COPY_DB"
"$BIN" copy --yes --empty-target --create-missing --source-secret "$secret" --source-db "$src" --target-db "$target"

show "ragmigrate verify --source-secret <its secret> --source-db <its endpoint> --target-db <the copy>   # exit 0; the verdict goes into the copy's journal"
RAGMIGRATE_TABLE= "$BIN" verify --source-secret "$secret" --source-db "$src" --target-db "$target"

show "ragmigrate snapshot cleanup --cluster-id $cluster --target-db <the copy> --yes   # verify passed, so the temporary cluster goes"
"$BIN" snapshot cleanup --cluster-id "$cluster" --target-db "$target" --yes

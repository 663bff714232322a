# stack.sh: helpers the scripts that run against the local stack source (the benchmarks, the
# snapshot demo). It sets root, the repository, and PGBIN; log names the sourcing script.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# PGBIN holds the client programs of the stack's PostgreSQL (pg_dump, pgbench, pgcopydb).
PGBIN=/usr/lib/postgresql/15/bin

log() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# need_stack_env exits unless the stack's environment (.stack/env) is exported, saying how to get it.
need_stack_env() {
	[ -n "${RAGMIGRATE_SOURCE_DB:-}" ] && [ -n "${RAGMIGRATE_TARGET_DB:-}" ] && return
	log "the stack environment is missing: run 'make $(basename "$0" .sh)' (or: set -a; . .stack/env; set +a)"
	exit 1
}

# db_url CLUSTER_URL NAME: the URL of database NAME on the cluster of CLUSTER_URL.
db_url() { sed -E "s#^([^?]*/)[^/?]*(\?|$)#\1$2\2#" <<<"$1"; }

# fresh_db CLUSTER_URL NAME: an empty database NAME on that cluster, dropped first if it exists
# (with its sessions). Only errors are shown, not the notice that there was nothing to drop.
fresh_db() {
	PGOPTIONS='-c client_min_messages=warning' \
		psql -qX "$1" -c "DROP DATABASE IF EXISTS $2 WITH (FORCE)" -c "CREATE DATABASE $2" >/dev/null
}

# drop_db CLUSTER_URL NAME: drop database NAME, quietly: it is cleanup.
drop_db() { psql -qX "$1" -c "DROP DATABASE IF EXISTS $2 WITH (FORCE)" >/dev/null 2>&1; }

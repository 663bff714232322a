#!/usr/bin/env bash
# install-bench.sh installs what 'make bench-copy' compares ragmigrate against, on top of what
# scripts/install.sh installs: pgcopydb 0.17 built from Debian trixie's *source* package (bookworm's
# binary package is 0.10, text COPY only) and GNU time for peak RSS. Like pgvector in install.sh,
# only the deb-src entry install.sh adds is used: no trixie binary is ever installed. Every step
# checks first, so running it again is cheap and changes nothing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PGCOPYDB_VERSION=0.17
PGCOPYDB=/usr/lib/postgresql/$PG_MAJOR/bin/pgcopydb

. "$root/scripts/apt.sh"

# The stack, PostgreSQL 15 and the trixie deb-src entry come from install.sh.
bash "$root/scripts/install.sh"

# 1. GNU time (peak RSS via 'time -v').
apt_install time jq

# 2. pgcopydb 0.17 from trixie's source package, against bookworm's PostgreSQL 15 headers.
if ! { [ -x "$PGCOPYDB" ] && "$PGCOPYDB" --version 2>&1 | grep -q "pgcopydb version $PGCOPYDB_VERSION"; }; then
	apt_install libgc-dev libpq-dev libsqlite3-dev libedit-dev libkrb5-dev libssl-dev zlib1g-dev \
		libzstd-dev liblz4-dev libxslt1-dev libselinux1-dev libpam0g-dev libreadline-dev libncurses-dev
	apt_update
	build=$(mktemp -d)
	# apt-get source downloads as the unprivileged _apt user, which must be able to write here.
	if id _apt >/dev/null 2>&1; then chown _apt "$build"; fi
	trap 'rm -rf "$build"' EXIT
	log "building pgcopydb $PGCOPYDB_VERSION from Debian's trixie source package"
	# apt-get verifies every file it fetches against trixie's signed Sources index. Some mirrors
	# serve the upstream tarball but not the .dsc/.debian.tar.xz (404); the Debian packaging adds
	# nothing the build needs, so the verified upstream tarball is enough.
	(cd "$build" && apt-get source -qq --download-only "pgcopydb=$PGCOPYDB_VERSION-*" >/dev/null 2>&1) || true
	if ls "$build"/*.dsc >/dev/null 2>&1 && ls "$build"/*.debian.tar.* >/dev/null 2>&1; then
		(cd "$build" && dpkg-source -x --no-check ./*.dsc src >/dev/null)
	else
		orig=$(ls "$build"/pgcopydb_"$PGCOPYDB_VERSION".orig.tar.* 2>/dev/null | head -1)
		[ -n "$orig" ] || { log "apt-get source pgcopydb=$PGCOPYDB_VERSION fetched nothing usable"; exit 1; }
		mkdir "$build/src" && tar -xf "$orig" -C "$build/src" --strip-components=1
	fi
	make -s -C "$build/src" PG_CONFIG="$PG_CONFIG" -j"$(nproc)" >/dev/null
	as_root make -s -C "$build/src" PG_CONFIG="$PG_CONFIG" install >/dev/null
	"$PGCOPYDB" --version 2>&1 | grep -q "pgcopydb version $PGCOPYDB_VERSION" \
		|| { log "pgcopydb $PGCOPYDB_VERSION did not install at $PGCOPYDB"; exit 1; }
fi
log "ok"

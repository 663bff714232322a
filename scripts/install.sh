#!/usr/bin/env bash
# install.sh installs what ragmigrate's local stack and tests need on a fresh Debian bookworm machine:
# PostgreSQL 15 with its server headers, pgvector built from Debian trixie's source package (bookworm
# has no binary package), dynalite from npm (pinned by tools/dynalite/package-lock.json) and the Go
# modules. Every step checks first, so running it again is cheap and changes nothing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PGVECTOR_VERSION=0.8.0

. "$root/scripts/apt.sh"

# 1. PostgreSQL 15 server, client and server headers; build tools for pgvector.
apt_install postgresql-$PG_MAJOR postgresql-client-$PG_MAJOR postgresql-server-dev-$PG_MAJOR \
	build-essential dpkg-dev ca-certificates \
	poppler-utils # pdftotext: a real PDF reader checks the seeded PDFs

# 2. pgvector from Debian trixie's *source* package. Only a deb-src entry is added, never binaries
#    from trixie; its URIs are the ones the machine's own Debian source list already uses.
ext_dir=$("$PG_CONFIG" --sharedir)/extension
if ! [ -f "$ext_dir/vector--$PGVECTOR_VERSION.sql" ]; then
	src_list=/etc/apt/sources.list.d/ragmigrate-trixie-src.sources
	if ! [ -f "$src_list" ]; then
		uris=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
		[ -n "$uris" ] || uris=$(awk '$1=="deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
		[ -n "$uris" ] || { log "cannot find the Debian archive URI in /etc/apt/sources.list.d/debian.sources"; exit 1; }
		log "adding deb-src entry for trixie ($src_list)"
		as_root tee "$src_list" >/dev/null <<SRC
Types: deb-src
URIs: $uris
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
		apt_updated=
	fi
	apt_update
	build=$(mktemp -d)
	# apt-get source downloads as the unprivileged _apt user, which must be able to write here.
	if id _apt >/dev/null 2>&1; then chown _apt "$build"; fi
	trap 'rm -rf "$build"' EXIT
	log "building pgvector $PGVECTOR_VERSION from Debian's trixie source package"
	(cd "$build" && apt-get source -qq --download-only "pgvector=$PGVECTOR_VERSION-*" >/dev/null 2>&1 \
		|| apt-get source -qq --download-only pgvector >/dev/null)
	(cd "$build" && dpkg-source -x --no-check ./*.dsc src >/dev/null)
	make -s -C "$build/src" PG_CONFIG="$PG_CONFIG" >/dev/null
	as_root make -s -C "$build/src" PG_CONFIG="$PG_CONFIG" install >/dev/null
	[ -f "$ext_dir/vector--$PGVECTOR_VERSION.sql" ] || { log "pgvector $PGVECTOR_VERSION did not install"; exit 1; }
fi

# 3. dynalite, pinned by the lockfile.
if ! [ -f "$root/tools/dynalite/node_modules/dynalite/cli.js" ]; then
	log "npm ci (dynalite)"
	(cd "$root/tools/dynalite" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# 4. Go modules.
(cd "$root" && go mod download)
log "ok"

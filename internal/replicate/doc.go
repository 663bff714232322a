// Package replicate is the live-migration strategy: PostgreSQL native logical replication from the
// old cluster to the new one, started from a bulk load through the copy path, with a guarded
// cut-over.
//
// # Overview
//
// The guide's alternative to re-embedding is DMS homogeneous migration, which is PostgreSQL logical
// replication underneath. A plain subscription (copy_data = true) copies its initial data with one
// table-sync worker per table, as text on PG 15, and builds nothing in parallel; the copy path
// (internal/pgcopy) moves the same rows as binary COPY in parallel primary-key parts and builds the
// indexes after the load, several times faster. Start joins the two without a gap or a duplicate:
//
//  1. Preflight (read-only, also in 'plan'): wal_level=logical, the REPLICATION privilege (or
//     rds_replication / rds_superuser), a free replication slot and WAL sender, a primary key or
//     replica identity on every table, pgvector on both sides, the tables on the target.
//  2. The run is recorded in the target's journal with the names of everything it will create
//     (ragmigrate_r<run>_<random>: slots are cluster-wide, run ids only per database) BEFORE any
//     of it exists, so abort and a restarted start find all of it.
//  3. CREATE PUBLICATION for the tables; then, on a replication connection,
//     CREATE_REPLICATION_SLOT … LOGICAL pgoutput (SNAPSHOT 'export'). The slot's consistent point
//     and the exported snapshot are the same instant: every change committed after the snapshot
//     is decoded from the slot, every change before it is in the snapshot.
//  4. The bulk load through pgcopy with every part's transaction importing that snapshot
//     (SET TRANSACTION SNAPSHOT), indexes deferred and built after. The replication connection
//     stays open and idle meanwhile: the exported snapshot lives only as long as it does.
//  5. CREATE SUBSCRIPTION … WITH (create_slot = false, slot_name = <the slot>, copy_data = false):
//     streaming starts at the slot's consistent point, exactly where the snapshot ended.
//
// A start that fails drops what it created. A start killed outright (kill -9) leaves its slot
// and a partial load: the next start sees the run unfinished before streaming, drops its
// replication objects, empties the tables it had emptied or created, and loads again from a new
// slot — the old snapshot is gone, so nothing of the partial load can be kept.
//
// Status reads the slot (lag and retained WAL on the source) and the subscription (apply worker,
// per-table state, apply errors on the target). Cutover waits, once writes have stopped, until the
// slot's confirmed_flush_lsn reaches the source's current LSN, runs the verify checks, then drops
// subscription, slot and publication. Abort drops every replication object the run named, on
// both sides, and is idempotent.
//
// The subscription's CONNECTION string holds the source's password: PostgreSQL keeps it in
// pg_subscription on the target (unavoidable), but ragmigrate never logs, records or prints it,
// and removes it from any error text it passes on.
//
// TOAST: a vector(1024) is 4104 bytes with storage external, always stored out of line. An
// UPDATE that does not change it sends it as "unchanged" in pgoutput, and the subscriber keeps
// its stored value; the tests prove the target's vector stays right for content-only updates.
package replicate

package runbudget

import "github.com/ragmigrate/ragmigrate/internal/journal"

// schemaSQL is the budget's part of the journal: one row per run (run_budgets), the minute's
// history a discovered budget is measured from (run_budget_log), and the functions every
// operation on them goes through.
//
// Each operation is one PL/pgSQL function, so one round trip: it locks the run's row (SELECT …
// FOR UPDATE), reads the clock, decides, and writes, and every statement in it after the lock
// sees what the worker before it committed. One UPDATE … RETURNING would be one round trip too,
// but a Discover budget needs the history read under the row's lock: in a single statement the
// history is read as of the statement's snapshot, taken before the lock was granted, and would
// miss the admissions of the workers it waited for.
//
// All times are the database's (clock_timestamp(), read after the lock is granted): workers on
// hosts whose clocks disagree still pace by one clock, and a worker only ever sleeps the interval
// a function returns.
//
// The row's columns:
//   - config_rpm, config_tpm, config_discover: the budget the run was opened with, which every
//     worker's Open must match;
//   - rpm, tpm: the budgets paced by, per minute: the configured ones, or those discovered;
//   - factor: the effective share of rpm and tpm, cut by throttles and restored by successes
//     (AIMD, as ratelimit.Limiter does); last_cut keeps the cuts a cooldown apart;
//   - req_tat, tok_tat: the theoretical arrival times of the two buckets (GCRA);
//   - max_tokens: the largest request seen, which the token budget is paced under.
const schemaSQL = `CREATE TABLE IF NOT EXISTS ragmigrate.run_budgets (
	run_id          bigint PRIMARY KEY REFERENCES ragmigrate.runs (id) ON DELETE CASCADE,
	config_rpm      int NOT NULL DEFAULT 0,
	config_tpm      int NOT NULL DEFAULT 0,
	config_discover boolean NOT NULL DEFAULT false,
	rpm             int NOT NULL DEFAULT 0,
	tpm             int NOT NULL DEFAULT 0,
	discovered      boolean NOT NULL DEFAULT false,
	factor          double precision NOT NULL DEFAULT 1,
	last_cut        timestamptz,
	req_tat         timestamptz NOT NULL DEFAULT clock_timestamp(),
	tok_tat         timestamptz NOT NULL DEFAULT clock_timestamp(),
	max_tokens      int NOT NULL DEFAULT 0,
	throttles       bigint NOT NULL DEFAULT 0,
	cuts            bigint NOT NULL DEFAULT 0
);
-- What the provider counts in its minute, for a Discover budget: the requests admitted (at the
-- time they were admitted for), less those throttled or not sent, and the corrections of tokens
-- Charge made. Pruned to the last minute by every admission.
CREATE TABLE IF NOT EXISTS ragmigrate.run_budget_log (
	run_id   bigint NOT NULL REFERENCES ragmigrate.run_budgets (run_id) ON DELETE CASCADE,
	id       bigint GENERATED ALWAYS AS IDENTITY,
	at       timestamptz NOT NULL,
	requests int NOT NULL,
	tokens   int NOT NULL,
	PRIMARY KEY (run_id, id)
);
CREATE INDEX IF NOT EXISTS run_budget_log_at ON ragmigrate.run_budget_log (run_id, at);

-- run_budget_cost is the time n units take at perMinute over a span of span seconds, at factor.
CREATE OR REPLACE FUNCTION ragmigrate.run_budget_cost(n double precision, per_minute double precision,
	span double precision, factor double precision) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$ SELECT make_interval(secs => n * span / (per_minute * factor)) $$;

-- run_budget_tpm is the token budget paced by: one request, the largest seen, under the quota,
-- since a sliding minute can hold a request at each of its ends (but never under half of it).
CREATE OR REPLACE FUNCTION ragmigrate.run_budget_tpm(tpm int, max_tokens int) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$ SELECT greatest(tpm - max_tokens, tpm / 2.0) $$;

-- run_budget_wait admits one request of p_tokens tokens: it reserves the request's slot in both
-- buckets at the later of their turns, and returns how long the caller must wait for it. It first
-- applies the successes and the tokens charged that the caller has gathered since its last call.
CREATE OR REPLACE FUNCTION ragmigrate.run_budget_wait(p_run bigint, p_tokens int, p_successes int,
	p_charge int, p_span double precision, p_increase double precision,
	OUT o_wait double precision, OUT o_at timestamptz, OUT o_req_cost double precision,
	OUT o_tok_cost double precision, OUT o_log bigint, OUT o_rpm double precision,
	OUT o_tpm double precision)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	b ragmigrate.run_budgets;
	t timestamptz;
	wake timestamptz;
	rc interval := '0';
	tc interval := '0';
BEGIN
	-- Not worth a flush of the WAL per request (which made this call five times slower): a crash
	-- of the database loses at most the last moment of admissions, whose workers fail with it.
	PERFORM set_config('synchronous_commit', 'off', true);
	SELECT * INTO b FROM ragmigrate.run_budgets WHERE run_id = p_run FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'run % has no budget in the journal', p_run USING ERRCODE = 'no_data_found';
	END IF;
	t := clock_timestamp();
	b.factor := least(1, b.factor + p_successes * p_increase);
	IF p_charge <> 0 THEN
		IF b.tpm > 0 THEN
			IF p_charge > 0 THEN
				b.tok_tat := greatest(b.tok_tat, t) +
					ragmigrate.run_budget_cost(p_charge, ragmigrate.run_budget_tpm(b.tpm, b.max_tokens), p_span, b.factor);
			ELSE
				-- A refund never moves the bucket before now: unused budget of the past is gone.
				b.tok_tat := greatest(b.tok_tat -
					ragmigrate.run_budget_cost(-p_charge, ragmigrate.run_budget_tpm(b.tpm, b.max_tokens), p_span, b.factor), t);
			END IF;
		END IF;
		IF b.config_discover THEN
			INSERT INTO ragmigrate.run_budget_log (run_id, at, requests, tokens) VALUES (p_run, t, 0, p_charge);
		END IF;
	END IF;
	wake := t;
	IF b.rpm > 0 THEN
		rc := ragmigrate.run_budget_cost(1, b.rpm, p_span, b.factor);
		wake := greatest(wake, b.req_tat);
	END IF;
	IF b.tpm > 0 AND p_tokens > 0 THEN
		b.max_tokens := greatest(b.max_tokens, p_tokens);
		tc := ragmigrate.run_budget_cost(p_tokens, ragmigrate.run_budget_tpm(b.tpm, b.max_tokens), p_span, b.factor);
		wake := greatest(wake, b.tok_tat);
	END IF;
	-- Both buckets are charged as of the same instant, the one the request will start at:
	-- charging each as of its own turn would let the later-bound budget run ahead.
	IF rc > '0' THEN
		b.req_tat := greatest(b.req_tat, wake) + rc;
	END IF;
	IF tc > '0' THEN
		b.tok_tat := greatest(b.tok_tat, wake) + tc;
	END IF;
	UPDATE ragmigrate.run_budgets SET factor = b.factor, max_tokens = b.max_tokens,
		req_tat = b.req_tat, tok_tat = b.tok_tat
		WHERE run_id = p_run;
	IF b.config_discover THEN
		DELETE FROM ragmigrate.run_budget_log WHERE run_id = p_run AND at < t - make_interval(secs => p_span + 1);
		INSERT INTO ragmigrate.run_budget_log (run_id, at, requests, tokens)
			VALUES (p_run, wake, 1, greatest(p_tokens, 0)) RETURNING id INTO o_log;
	END IF;
	o_wait := extract(epoch FROM wake - clock_timestamp());
	o_at := wake;
	o_req_cost := extract(epoch FROM rc);
	o_tok_cost := extract(epoch FROM tc);
	o_rpm := b.rpm * b.factor;
	o_tpm := b.tpm * b.factor;
END $$;

-- run_budget_release gives back a slot run_budget_wait reserved and the caller did not use (its
-- wait was cut short): the next caller may have it. With p_now, the buckets are not moved before
-- now (a slot in the past: a request that was let go but not sent; unused budget of the past is
-- gone).
CREATE OR REPLACE FUNCTION ragmigrate.run_budget_release(p_run bigint, p_req_cost double precision,
	p_tok_cost double precision, p_log bigint, p_now boolean)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	t timestamptz;
BEGIN
	PERFORM 1 FROM ragmigrate.run_budgets WHERE run_id = p_run FOR UPDATE;
	t := CASE WHEN p_now THEN clock_timestamp() END;
	-- greatest ignores a NULL t.
	UPDATE ragmigrate.run_budgets SET
		req_tat = greatest(req_tat - make_interval(secs => p_req_cost), t),
		tok_tat = greatest(tok_tat - make_interval(secs => p_tok_cost), t)
		WHERE run_id = p_run;
	DELETE FROM ragmigrate.run_budget_log WHERE run_id = p_run AND id = p_log;
END $$;

-- run_budget_unsent takes back a request of p_tokens tokens that was let go but not sent: its slot
-- (at the current pace) and, for a Discover budget, its place in the history (the newest request
-- of that size let go by now, or the newest of any), after which a discovered budget is measured
-- again.
CREATE OR REPLACE FUNCTION ragmigrate.run_budget_unsent(p_run bigint, p_tokens int, p_span double precision,
	p_window double precision, p_min_factor double precision)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	b ragmigrate.run_budgets;
	t timestamptz;
	rc double precision := 0;
	tc double precision := 0;
	gone bigint;
BEGIN
	SELECT * INTO b FROM ragmigrate.run_budgets WHERE run_id = p_run FOR UPDATE;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	t := clock_timestamp();
	IF b.rpm > 0 THEN
		rc := extract(epoch FROM ragmigrate.run_budget_cost(1, b.rpm, p_span, b.factor));
	END IF;
	IF b.tpm > 0 AND p_tokens > 0 THEN
		tc := extract(epoch FROM ragmigrate.run_budget_cost(p_tokens, ragmigrate.run_budget_tpm(b.tpm, b.max_tokens), p_span, b.factor));
	END IF;
	IF b.config_discover THEN
		SELECT id INTO gone FROM ragmigrate.run_budget_log
			WHERE run_id = p_run AND requests > 0 AND at <= t
			ORDER BY (tokens = p_tokens) DESC, at DESC, id DESC LIMIT 1;
	END IF;
	PERFORM ragmigrate.run_budget_release(p_run, rc, tc, gone, true);
	IF b.discovered THEN
		PERFORM ragmigrate.run_budget_measure(p_run, t, p_window, p_min_factor);
	END IF;
END $$;

-- run_budget_measure lowers a discovered budget to what the provider accepted over the window
-- before p_at: the quota is below what was measured before (a request sent in the same moment,
-- reported since, was counted as accepted). It never raises the budgets, nor lowers them under
-- p_min_factor of what they were.
CREATE OR REPLACE FUNCTION ragmigrate.run_budget_measure(p_run bigint, p_at timestamptz,
	p_window double precision, p_min_factor double precision)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	b ragmigrate.run_budgets;
	r bigint;
	k bigint;
	lowered boolean := false;
BEGIN
	SELECT * INTO b FROM ragmigrate.run_budgets WHERE run_id = p_run FOR UPDATE;
	SELECT coalesce(sum(requests), 0), coalesce(sum(tokens), 0) INTO r, k FROM ragmigrate.run_budget_log
		WHERE run_id = p_run AND at > p_at - make_interval(secs => p_window) AND at <= p_at;
	IF r > 0 AND r < b.rpm THEN
		b.rpm := greatest(r, ceil(b.rpm * p_min_factor), 1);
		lowered := true;
	END IF;
	IF b.tpm > 0 AND k > 0 AND k < b.tpm THEN
		b.tpm := greatest(k, ceil(b.tpm * p_min_factor), 1);
		lowered := true;
	END IF;
	IF lowered THEN
		UPDATE ragmigrate.run_budgets SET rpm = b.rpm, tpm = b.tpm, cuts = cuts + 1, last_cut = p_at
			WHERE run_id = p_run;
	END IF;
END $$;

-- run_budget_throttle reports a request the provider throttled, and returns the effective budgets
-- after it. For a Discover budget not yet discovered, the budgets become what the provider
-- accepted over the minute before (a lower bound of its quota: all of it was accepted, and one
-- more request was not), and the buckets are set as if they had paced those requests, so that a
-- burst sent before the throttle holds the next requests back until it has left the minute; once
-- discovered, each throttle measures again (run_budget_measure). A configured budget is cut by
-- p_decrease instead, at most once per p_cooldown: the requests in flight when the first throttle
-- came back report throttles too.
CREATE OR REPLACE FUNCTION ragmigrate.run_budget_throttle(p_run bigint, p_span double precision,
	p_window double precision, p_decrease double precision, p_min_factor double precision,
	p_cooldown double precision, OUT o_rpm double precision, OUT o_tpm double precision)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	b ragmigrate.run_budgets;
	t timestamptz;
	r bigint;
	k bigint;
	a record;
BEGIN
	SELECT * INTO b FROM ragmigrate.run_budgets WHERE run_id = p_run FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'run % has no budget in the journal', p_run USING ERRCODE = 'no_data_found';
	END IF;
	t := clock_timestamp();
	UPDATE ragmigrate.run_budgets SET throttles = throttles + 1 WHERE run_id = p_run;
	IF b.config_discover THEN
		-- The provider did not count the throttled request. Which one it was is not said; a
		-- throttle is answered at once, so it is the newest one let go.
		DELETE FROM ragmigrate.run_budget_log WHERE run_id = p_run AND id = (
			SELECT id FROM ragmigrate.run_budget_log WHERE run_id = p_run AND requests > 0 AND at <= t
			ORDER BY at DESC, id DESC LIMIT 1);
		IF b.discovered THEN
			PERFORM ragmigrate.run_budget_measure(p_run, t, p_window, p_min_factor);
		ELSE
			SELECT coalesce(sum(requests), 0), coalesce(sum(tokens), 0) INTO r, k FROM ragmigrate.run_budget_log
				WHERE run_id = p_run AND at > t - make_interval(secs => p_window) AND at <= t;
			IF r > 0 THEN
				b.rpm := r;
				b.tpm := CASE WHEN k > 0 THEN k ELSE 0 END;
				b.req_tat := t;
				b.tok_tat := t;
				FOR a IN SELECT at, requests, tokens FROM ragmigrate.run_budget_log
					WHERE run_id = p_run AND at > t - make_interval(secs => p_span) ORDER BY at, id
				LOOP
					IF a.requests > 0 THEN
						b.req_tat := greatest(b.req_tat, a.at) + ragmigrate.run_budget_cost(a.requests, b.rpm, p_span, 1);
						b.max_tokens := greatest(b.max_tokens, a.tokens);
					END IF;
					IF b.tpm > 0 AND a.tokens > 0 THEN
						b.tok_tat := greatest(b.tok_tat, a.at) +
							ragmigrate.run_budget_cost(a.tokens, ragmigrate.run_budget_tpm(b.tpm, b.max_tokens), p_span, 1);
					END IF;
				END LOOP;
				UPDATE ragmigrate.run_budgets SET rpm = b.rpm, tpm = b.tpm, req_tat = b.req_tat, tok_tat = b.tok_tat,
					max_tokens = b.max_tokens, discovered = true, factor = 1, last_cut = t
					WHERE run_id = p_run;
			END IF;
		END IF;
	ELSIF b.last_cut IS NULL OR t - b.last_cut >= make_interval(secs => p_cooldown) THEN
		UPDATE ragmigrate.run_budgets SET factor = greatest(p_min_factor, factor * p_decrease), last_cut = t,
			cuts = cuts + 1 WHERE run_id = p_run;
	END IF;
	SELECT rpm * factor, tpm * factor INTO o_rpm, o_tpm FROM ragmigrate.run_budgets WHERE run_id = p_run;
END $$;`

// journalKind is the name the budget's tables are registered with the journal under. The journal
// registers tables by strategy, and the budget is no strategy (no run has this kind, so it has no
// progress to report); registering is still the right way in: Migrate creates the tables under
// the target's lock with the rest of the journal, before the coordinator launches a worker, and
// the tables are part of the journal's fingerprint, so that a journal an older ragmigrate wrote is
// brought up to them (journal.Upgrade). Creating them in Open instead would race between workers
// opening at once (CREATE TABLE IF NOT EXISTS is not safe concurrently) and run DDL outside the
// lock.
const journalKind = "shared-budget"

func init() {
	journal.Register(journal.Strategy{Kind: journalKind, Schema: schemaSQL})
}

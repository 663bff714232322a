// Package plan is the read-only look before a migration: what the deployment holds, what a
// re-embed would cost and how long it would take, what a copy would move, whether the target is
// ready, and which strategy fits. It is also the dry run of 'ragmigrate reembed'.
//
// # Overview
//
// Without Exact, sizes come from S3 listings and per-format ratios of text to bytes, and each URL
// counts as a typical page: quick, and good to tens of percent. With Exact every source is
// downloaded, read and split with the app's splitter exactly as re-embed would, without calling
// the model: the chunk and token counts are then what re-embed will send.
package plan

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/chunk"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/loader"
	"github.com/ragmigrate/ragmigrate/internal/pgcopy"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/sources"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// Options say what to look at and how to price it.
type Options struct {
	Bots    *botstore.Store
	Docs    *docstore.Store
	Target  *pgx.Conn // optional: preflight
	Source  *pgx.Conn // optional: the copy estimate
	BotIDs  []string  // only these bots (all when empty)
	UserIDs []string  // only these users' bots (all when empty)
	// Model is the model re-embedding would use (embed.LookupModel or embed.OpenAIModel): its
	// batch, input limit and price are the run's.
	Model embed.Model
	// RequestsPerMinute and TokensPerMinute are the embedding budget (0: unlimited).
	RequestsPerMinute int
	TokensPerMinute   int
	// BudgetSource says where the budget came from (the flags, Service Quotas), or why there is
	// none, for the plan's reader.
	BudgetSource string
	Exact        bool
	Fetcher      *loader.Fetcher
	Limits       loader.Limits
	// URLChars is the text assumed per URL without Exact. Default 6000.
	URLChars int
	// CopyMBps is the assumed binary COPY rate for the copy estimate. Default 150.
	CopyMBps float64
	// Reuse, if set, is the old cluster a re-embed would reuse vectors from (--reuse-from):
	// the plan reads and splits every source (as Exact) and counts, per bot, the chunks the old
	// cluster holds. It never embeds: the run's sample check is not done here.
	Reuse *reembed.Reuse
	// ECS, if set, also estimates the re-embed as one app task per bot on Fargate
	// (reembed --runner ecs).
	ECS    *ECSOptions
	Logger *slog.Logger
}

// Plan is the result.
type Plan struct {
	Model     embed.Model   `json:"model"`
	Exact     bool          `json:"exact"`
	Bots      BotCounts     `json:"bots"`
	Sources   SourceCounts  `json:"sources"`
	Reembed   Estimate      `json:"reembed"`
	PerBot    []BotPlan     `json:"per_bot"`
	Malformed []Malformed   `json:"malformed,omitempty"`
	Target    *Preflight    `json:"target,omitempty"`
	Copy      *CopyEstimate `json:"copy,omitempty"`
	// CopyModes (with a source and a target) says per bot what copy, copy --empty-target and
	// copy --merge would do.
	CopyModes *CopyModes `json:"copy_modes,omitempty"`
	Reuse     *ReusePlan `json:"reuse,omitempty"`
	// ECS is the re-embed as the app's tasks on Fargate (Options.ECS).
	ECS            *ECSEstimate `json:"ecs,omitempty"`
	Recommendation string       `json:"recommendation"`
	Reason         string       `json:"reason"`
	// EveryBot makes WriteText list every bot (--per-bot), not only those with a problem or a
	// long chunk; PerBot, and so the JSON, always has them all.
	EveryBot bool `json:"-"`
}

// BotCounts counts the bots in scope.
type BotCounts struct {
	Total         int                         `json:"total"`
	WithKnowledge int                         `json:"with_knowledge"`
	Empty         int                         `json:"without_knowledge"`
	ByStatus      map[botstore.SyncStatus]int `json:"by_status"`
	// StatusFixes are bots without knowledge whose SyncStatus re-embed will set to SUCCEEDED,
	// as the app's task would.
	StatusFixes int `json:"status_fixes"`
	// WillFail are the bots a run with the defaults fails: those with a source this version
	// cannot load, and (exact plans) those with chunks over the model's input, which the
	// app's --truncate NONE rejects. A quick plan sees only what it can without reading.
	WillFail int `json:"will_fail"`
	// WillFailLongChunks are the bots of WillFail whose only problem is chunks over the model's
	// input: --truncate END embeds them if the model truncates (Model.Truncates).
	WillFailLongChunks int `json:"will_fail_long_chunks"`
}

// SourceCounts counts the sources of the bots in scope.
type SourceCounts struct {
	Files     int            `json:"files"`
	FileBytes int64          `json:"file_bytes"`
	ByExt     map[string]int `json:"files_by_extension"`
	Missing   int            `json:"missing_files"`
	URLs      int            `json:"urls"`
	Sitemaps  int            `json:"sitemaps"`
}

// Estimate is the re-embed's size, cost and time.
type Estimate struct {
	Chunks   int64   `json:"chunks"`
	Chars    int64   `json:"chars"`
	Tokens   int64   `json:"tokens"`
	Requests int64   `json:"requests"`
	CostUSD  float64 `json:"cost_usd"`
	// Duration at the configured budget; 0 when no budget bounds it.
	Duration time.Duration `json:"duration_ns"`
	// Bound says which budget sets the duration: "requests", "tokens" or "none".
	Bound string `json:"bound"`
	// Budget is the pace the run would keep to, and where it came from.
	Budget Budget `json:"budget"`
	// LongChunks and LongChunkBots count the chunks over the model's input limit (exact plans).
	LongChunks    int64 `json:"long_chunks"`
	LongChunkBots int   `json:"long_chunk_bots"`
}

// Budget is the embedding budget a run paces by: the model's quotas as Service Quotas gives
// them, or --rpm and --tpm; 0 for a budget not known, which the run then finds adaptively.
type Budget struct {
	RequestsPerMinute int    `json:"requests_per_minute"`
	TokensPerMinute   int    `json:"tokens_per_minute"`
	Source            string `json:"source"`
}

// BotPlan is one bot.
type BotPlan struct {
	BotID    string              `json:"bot_id"`
	UserID   string              `json:"user_id"`
	Title    string              `json:"title"`
	Status   botstore.SyncStatus `json:"sync_status"`
	Files    int                 `json:"files"`
	Bytes    int64               `json:"bytes"`
	URLs     int                 `json:"urls"`
	Sitemaps int                 `json:"sitemaps"`
	Chunks   int64               `json:"chunks"`
	Chars    int64               `json:"chars"`
	Tokens   int64               `json:"tokens"`
	Requests int64               `json:"requests"`
	// LongChunks (exact plans only) are chunks estimated over the model's input limit: with
	// --truncate NONE, the app's setting, the model rejects them and the bot fails.
	LongChunks int64 `json:"long_chunks,omitempty"`
	// Reused (with --reuse-from) are the chunks whose vectors the old cluster holds, with their
	// tokens; Embedded the others.
	Reused       int64 `json:"reused"`
	ReusedTokens int64 `json:"reused_tokens"`
	Embedded     int64 `json:"embedded"`
	// Problems are why re-embed would fail this bot (naming the source).
	Problems []string `json:"problems,omitempty"`
}

// ReusePlan is what a re-embed with --reuse-from would take from the old cluster, over the bots
// that would not fail: chunks reused and embedded, their tokens, and the cost of each.
type ReusePlan struct {
	From     string `json:"from"`
	OldModel string `json:"old_model"`
	// Refused says why nothing would be reused (Reused is then 0).
	Refused        string  `json:"refused,omitempty"`
	Reused         int64   `json:"reused"`
	Embedded       int64   `json:"embedded"`
	ReusedTokens   int64   `json:"reused_tokens"`
	EmbeddedTokens int64   `json:"embedded_tokens"`
	CostUSD        float64 `json:"cost_usd"`
	SavedUSD       float64 `json:"saved_cost_usd"`
	// Sample is how many reused chunks (at most) the run embeds first to check the old vectors'
	// model.
	Sample int `json:"sample"`
}

// Malformed is a bot item nobody can migrate, with the reason.
type Malformed struct {
	PK     string `json:"pk"`
	SK     string `json:"sk"`
	Reason string `json:"reason"`
}

// textRatio is the share of a file's bytes that becomes text, by extension: a rough prior for the
// quick estimate (plain text is about 1; zipped XML and PDF carry much markup and compression).
var textRatio = map[string]float64{
	".txt": 1, ".text": 1, ".md": 0.95, ".csv": 0.9,
	".pdf": 0.35, ".docx": 0.5, ".xlsx": 0.3, ".pptx": 0.15,
}

// Make builds the plan. It never writes.
func Make(ctx context.Context, o Options) (*Plan, error) {
	o.URLChars = cmp.Or(o.URLChars, 6000)
	o.CopyMBps = cmp.Or(o.CopyMBps, 150)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Fetcher == nil {
		o.Fetcher = &loader.Fetcher{}
	}
	var reuse *ReusePlan
	if o.Reuse != nil {
		// Which chunks the old cluster holds is known only from the chunks themselves.
		o.Exact = true
		reuse = &ReusePlan{From: o.Reuse.From, OldModel: o.Reuse.OldModel, Sample: reembed.ReuseSample}
		refused, err := o.Reuse.Precheck(ctx, reembed.Model{ID: o.Model.ID, Dimensions: o.Model.Dimensions})
		if err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		if refused != "" {
			reuse.Refused, reuse.Sample = refused, 0
			o.Reuse = nil
		}
	}
	p := &Plan{Model: o.Model, Exact: o.Exact, Reuse: reuse,
		Bots:    BotCounts{ByStatus: map[botstore.SyncStatus]int{}},
		Sources: SourceCounts{ByExt: map[string]int{}},
	}
	var bots []*botstore.Bot
	items := map[string]pgcopy.BotItem{} // every bot's, for the copy modes: a copy is table-wide
	err := o.Bots.ScanBots(ctx, func(b *botstore.Bot) error {
		items[b.ID] = pgcopy.BotItem{SyncStatus: string(b.SyncStatus), NoKnowledge: b.Knowledge.Empty()}
		if inScope(o, b.UserID, b.ID) {
			bots = append(bots, b)
		}
		return nil
	}, func(de *botstore.DecodeError) error {
		if _, ok := items[de.BotID()]; !ok {
			items[de.BotID()] = pgcopy.BotItem{Malformed: true}
		}
		if inScope(o, de.PK, de.BotID()) {
			p.Malformed = append(p.Malformed, Malformed{PK: de.PK, SK: de.SK, Reason: de.Reason})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	slices.SortFunc(bots, func(a, b *botstore.Bot) int { return strings.Compare(a.ID, b.ID) })
	for _, b := range bots {
		bp, err := planBot(ctx, o, b, &p.Sources)
		if err != nil {
			return nil, fmt.Errorf("plan: bot %s: %w", b.ID, err)
		}
		p.PerBot = append(p.PerBot, bp)
		c := &p.Bots
		c.Total++
		c.ByStatus[b.SyncStatus]++
		if b.Knowledge.Empty() {
			c.Empty++
			if b.SyncStatus != botstore.StatusSucceeded {
				c.StatusFixes++
			}
		} else {
			c.WithKnowledge++
		}
		switch {
		case len(bp.Problems) > 0:
			c.WillFail++
		case bp.LongChunks > 0:
			c.WillFail++
			c.WillFailLongChunks++
		}
		if len(bp.Problems) > 0 {
			// Re-embed loads every source before embedding any, so a bot that fails costs nothing.
			continue
		}
		e := &p.Reembed
		e.Chunks += bp.Chunks
		e.Chars += bp.Chars
		e.Tokens += bp.Tokens
		if bp.LongChunks > 0 {
			e.LongChunks += bp.LongChunks
			e.LongChunkBots++
		}
		e.Requests += bp.Requests
		if reuse != nil {
			reuse.Reused += bp.Reused
			reuse.ReusedTokens += bp.ReusedTokens
		}
	}
	if reuse != nil {
		e := p.Reembed
		reuse.Embedded, reuse.EmbeddedTokens = e.Chunks-reuse.Reused, e.Tokens-reuse.ReusedTokens
		reuse.CostUSD = float64(reuse.EmbeddedTokens) / 1e6 * o.Model.PricePerMTok
		reuse.SavedUSD = float64(reuse.ReusedTokens) / 1e6 * o.Model.PricePerMTok
	}
	e := &p.Reembed
	e.CostUSD = float64(e.Tokens) / 1e6 * o.Model.PricePerMTok
	e.Bound = "none"
	e.Budget = Budget{RequestsPerMinute: o.RequestsPerMinute, TokensPerMinute: o.TokensPerMinute, Source: o.BudgetSource}
	if o.RequestsPerMinute > 0 {
		e.Duration = minutes(float64(e.Requests) / float64(o.RequestsPerMinute))
		e.Bound = "requests"
	}
	if o.TokensPerMinute > 0 {
		if d := minutes(float64(e.Tokens) / float64(o.TokensPerMinute)); d > e.Duration {
			e.Duration, e.Bound = d, "tokens"
		}
	}
	if o.ECS != nil {
		p.ECS = estimateECS(p, *o.ECS)
	}
	if o.Source != nil {
		if p.Copy, err = copyEstimate(ctx, o, bots); err != nil {
			return nil, fmt.Errorf("plan: source: %w", err)
		}
	}
	if o.Target != nil {
		if p.Target, err = preflight(ctx, o.Target, o.Model, p.Copy); err != nil {
			return nil, fmt.Errorf("plan: target: %w", err)
		}
	}
	if p.Copy != nil && len(p.Copy.Problems) == 0 && p.Target != nil && p.Target.ItemsExists {
		var scoped func(string) bool
		if len(o.BotIDs)+len(o.UserIDs) > 0 {
			inPlan := map[string]bool{}
			for _, b := range bots {
				inPlan[b.ID] = true
			}
			scoped = func(id string) bool { return inPlan[id] }
		}
		if p.CopyModes, err = copyModes(ctx, o, items, scoped); err != nil {
			return nil, fmt.Errorf("plan: copy modes: %w", err)
		}
	}
	p.recommend()
	return p, nil
}

func minutes(m float64) time.Duration {
	return time.Duration(m * float64(time.Minute)).Round(time.Second)
}

func inScope(o Options, user, bot string) bool {
	return (len(o.BotIDs) == 0 || slices.Contains(o.BotIDs, bot)) &&
		(len(o.UserIDs) == 0 || slices.Contains(o.UserIDs, user))
}

// planBot sizes one bot's sources and chunks. The quick estimate works from object sizes; the
// exact plan loads the bot as reembed will (sources.Load), so that its chunks, limits and
// failures are the run's.
func planBot(ctx context.Context, o Options, b *botstore.Bot, sc *SourceCounts) (BotPlan, error) {
	bp := BotPlan{BotID: b.ID, UserID: b.UserID, Title: b.Title, Status: b.SyncStatus,
		Files: len(b.Knowledge.Filenames), URLs: len(b.Knowledge.SourceURLs), Sitemaps: len(b.Knowledge.SitemapURLs)}
	if b.Knowledge.Empty() {
		return bp, nil
	}
	if _, err := chunk.New(b.EmbeddingParams.ChunkSize, b.EmbeddingParams.ChunkOverlap); err != nil {
		bp.Problems = append(bp.Problems, fmt.Sprintf("embedding params: %v", err))
		return bp, nil
	}
	sizes := map[string]int64{}
	prefix := docstore.DocumentKey(b.UserID, b.ID, "")
	if err := o.Docs.Walk(ctx, prefix, func(obj docstore.Object) error {
		sizes[strings.TrimPrefix(obj.Key, prefix)] = obj.Size
		return nil
	}); err != nil {
		return bp, err
	}
	var chars []int64 // estimate: the sources' estimated characters
	budget := o.Limits.NewBotBudget()
	var present []string // the files in the bucket
	for _, name := range b.Knowledge.Filenames {
		uri := docstore.SourceURI(o.Docs.Bucket(), docstore.DocumentKey(b.UserID, b.ID, name))
		ext := strings.ToLower(path.Ext(name))
		size, ok := sizes[name]
		if !ok {
			sc.Missing++
			bp.Problems = append(bp.Problems, uri+": not in the bucket")
			continue
		}
		present = append(present, name)
		sc.Files++
		sc.FileBytes += size
		sc.ByExt[ext]++
		bp.Bytes += size
		if o.Exact {
			continue
		}
		err := loader.Readable(uri, name)
		if err == nil {
			err = docstore.CheckSize(uri, size, o.Limits.File())
		}
		if err == nil {
			err = budget.Spend(uri, size)
		}
		if err != nil {
			bp.Problems = append(bp.Problems, err.Error())
			continue
		}
		chars = append(chars, int64(float64(size)*textRatio[ext]))
	}
	sc.URLs += len(b.Knowledge.SourceURLs)
	sc.Sitemaps += len(b.Knowledge.SitemapURLs)
	if !o.Exact {
		// Each page once, as sources.Load loads them.
		seen := sources.URLSet{}
		for _, u := range b.Knowledge.SourceURLs {
			if seen.Add(u) {
				chars = append(chars, int64(o.URLChars))
			}
		}
		// Listing a sitemap is one small request, so even the quick estimate counts its pages.
		for _, u := range b.Knowledge.SitemapURLs {
			pages, err := o.Fetcher.SitemapPages(ctx, u)
			if err != nil {
				bp.Problems = append(bp.Problems, err.Error())
				continue
			}
			for _, pg := range pages {
				if seen.Add(pg) {
					bp.URLs++
					chars = append(chars, int64(o.URLChars))
				}
			}
		}
		estimate(&bp, b.EmbeddingParams, chars)
		requests(&bp, o.Model)
		return bp, nil
	}

	// Exact: what reembed would load, with every unreadable source listed. The missing files
	// are listed above already, so they are left out here.
	readable := *b
	readable.Knowledge.Filenames = present
	chunks, unreadable, err := sources.Load(ctx, &readable, o.Docs, o.Fetcher, o.Limits, true)
	if err != nil && len(unreadable) == 0 {
		return bp, err
	}
	bp.Problems = append(bp.Problems, unreadable...)
	var held map[string]bool
	if o.Reuse != nil && len(bp.Problems) == 0 {
		texts := make([]string, 0, len(chunks))
		for _, c := range chunks {
			texts = append(texts, c.Text)
		}
		if held, err = vectorstore.StoredContents(ctx, o.Reuse.Old, b.ID, texts); err != nil {
			return bp, fmt.Errorf("%s: %w", o.Reuse.From, err)
		}
	}
	for _, c := range chunks {
		// The run counts the tokens it spends with the same estimator, so an exact plan's
		// tokens are the run's.
		tokens := embed.EstimateTokens(c.Text)
		bp.Chunks++
		bp.Chars += int64(utf8.RuneCountInString(c.Text))
		bp.Tokens += int64(tokens)
		if o.Model.MaxTokens > 0 && tokens > o.Model.MaxTokens {
			bp.LongChunks++
		}
		if held[c.Text] && o.Reuse.Takes(c.Text) {
			bp.Reused++
			bp.ReusedTokens += int64(tokens)
		}
	}
	bp.Embedded = bp.Chunks - bp.Reused
	requests(&bp, o.Model)
	return bp, nil
}

// estimate sizes a bot's chunks from its sources' estimated characters: the splitter advances by
// about chunk_size - overlap characters per chunk.
func estimate(bp *BotPlan, ep botstore.EmbeddingParams, chars []int64) {
	for _, c := range chars {
		if c <= 0 {
			continue
		}
		step := int64(max(1, ep.ChunkSize-ep.ChunkOverlap))
		n := max(1, (c+step-1)/step)
		bp.Chunks += n
		embedded := c + (n-1)*int64(ep.ChunkOverlap)
		bp.Chars += embedded
		// No text to count tokens in, only its size: the rule of thumb EstimateTokens
		// applies to words.
		bp.Tokens += (embedded + embed.CharsPerToken - 1) / embed.CharsPerToken
	}
}

// requests counts the requests a bot's chunks take in full batches.
func requests(bp *BotPlan, m embed.Model) {
	if bp.Chunks > 0 {
		batch := int64(max(1, m.MaxBatch))
		bp.Requests = (bp.Chunks + batch - 1) / batch
	}
}

// Preflight checks the target cluster, for each strategy: a strategy is Ready only when a run of
// it with its defaults would proceed; its Problems say why not (and what flag changes that).
type Preflight struct {
	PgvectorVersion string                  `json:"pgvector_version"`
	ItemsExists     bool                    `json:"items_exists"`
	ItemsRows       int64                   `json:"items_rows"`
	Dimensions      int                     `json:"dimensions,omitempty"`
	Privileges      *vectorstore.Privileges `json:"privileges"`
	Reembed         Readiness               `json:"reembed"`
	Copy            Readiness               `json:"copy"`
}

// Readiness is one strategy's verdict on the target.
type Readiness struct {
	Ready    bool     `json:"ready"`
	Problems []string `json:"problems,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

func (r *Readiness) problem(format string, a ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, a...))
}
func (r *Readiness) note(format string, a ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, a...))
}

// preflight judges the target for reembed (vectorstore.EnsureItems, then one DELETE + COPY per
// bot) and copy (pgcopy: the table created or emptied, its indexes dropped and rebuilt).
// src is the copy estimate of the source, nil without one.
func preflight(ctx context.Context, conn *pgx.Conn, m embed.Model, src *CopyEstimate) (*Preflight, error) {
	st, err := vectorstore.Stats(ctx, conn, nil)
	if err != nil {
		return nil, err
	}
	priv, err := vectorstore.ReadPrivileges(ctx, conn)
	if err != nil {
		return nil, err
	}
	pf := &Preflight{PgvectorVersion: st.PgvectorVersion, ItemsExists: st.Exists, ItemsRows: st.Rows, Dimensions: st.Dimensions, Privileges: priv}
	var available string
	if err := conn.QueryRow(ctx, `SELECT coalesce((SELECT default_version FROM pg_available_extensions WHERE name = 'vector'), '')`).Scan(&available); err != nil {
		return nil, err
	}
	re, cp := &pf.Reembed, &pf.Copy
	both := func(format string, a ...any) { re.problem(format, a...); cp.problem(format, a...) }
	role := priv.Role

	// The journal: both strategies run journal.Migrate, whose CREATE SCHEMA IF NOT EXISTS needs
	// CREATE on the database even when the schema is there.
	switch {
	case !priv.CreateInDatabase:
		both("role %s lacks CREATE on the database, which the journal (schema ragmigrate) needs", role)
	case priv.JournalExists && !priv.JournalOwner:
		both("role %s does not own the journal (schema ragmigrate) another role created", role)
	}

	// pgvector.
	canCreateExt := priv.Superuser || (priv.VectorTrusted && priv.CreateInDatabase)
	switch {
	case st.PgvectorVersion != "":
	case available == "":
		both("pgvector is not available on the target cluster")
	case !canCreateExt:
		both("pgvector %s is not installed and role %s cannot create it (superuser only): run CREATE EXTENSION vector as a superuser", available, role)
	default:
		both("pgvector %s is not installed: pass --create-missing to create it (CREATE EXTENSION vector)", available)
	}

	// items.
	if !st.Exists {
		if priv.CreateInSchema {
			re.problem("items is missing (is --target-db the app's database?): pass --create-missing to create it with the app's DDL")
			cp.problem("items is missing (is --target-db the app's database?): pass --create-missing to create it with the source's columns")
		} else {
			both("items does not exist and role %s lacks CREATE on schema %s to create it", role, cmpOr(priv.Schema, "(none: no schema on the search_path exists)"))
		}
	} else {
		// EnsureItems re-runs CREATE TABLE/INDEX IF NOT EXISTS: CREATE on the schema and ownership.
		var missing []string
		for _, c := range []struct {
			ok   bool
			what string
		}{{priv.CreateInSchema, "CREATE on schema " + priv.Schema}, {priv.ItemsOwner, "ownership of items"},
			{priv.ItemsSelect, "SELECT on items"}, {priv.ItemsInsert, "INSERT on items"}, {priv.ItemsDelete, "DELETE on items"}} {
			if !c.ok {
				missing = append(missing, c.what)
			}
		}
		if len(missing) > 0 {
			re.problem("role %s lacks %s", role, strings.Join(missing, ", "))
		}
		if st.Dimensions != m.Dimensions {
			re.problem("items.embedding is vector(%d) but %s gives %d dimensions", st.Dimensions, m.ID, m.Dimensions)
		}
		if st.Rows > 0 {
			re.note("items holds %d rows: reembed replaces the rows of each bot it re-embeds and keeps the others", st.Rows)
		}

		// pgcopy drops and rebuilds the indexes of the table it fills, and COPYs into it.
		missing = nil
		for _, c := range []struct {
			ok   bool
			what string
		}{{priv.ItemsOwner, "ownership of items"}, {priv.ItemsInsert, "INSERT on items"}} {
			if !c.ok {
				missing = append(missing, c.what)
			}
		}
		if len(missing) > 0 {
			cp.problem("role %s lacks %s", role, strings.Join(missing, ", "))
		}
		if src != nil && src.Dimensions > 0 && st.Dimensions != src.Dimensions {
			cp.problem("items.embedding is vector(%d) but the source's is vector(%d)", st.Dimensions, src.Dimensions)
		}
		if st.Rows > 0 {
			cp.problem("items holds %d rows: copy refuses a non-empty target; --empty-target replaces its rows, --merge copies only the bots without rows there (see copy modes), --resume continues only an interrupted copy", st.Rows)
			if !priv.ItemsTruncate {
				cp.problem("role %s lacks TRUNCATE on items, which --empty-target needs", role)
			}
		}
	}
	if src == nil {
		cp.note("only the target is checked: --source-db checks the source too")
	}
	re.Ready, cp.Ready = len(re.Problems) == 0, len(cp.Problems) == 0
	return pf, nil
}

// CopyEstimate sizes a copy from the old cluster.
type CopyEstimate struct {
	Rows       int64         `json:"rows"`
	Bytes      int64         `json:"bytes"` // heap, TOAST and indexes
	Dimensions int           `json:"dimensions"`
	Indexes    []string      `json:"indexes"`
	Duration   time.Duration `json:"duration_ns"`
	Problems   []string      `json:"problems,omitempty"`
}

func copyEstimate(ctx context.Context, o Options, bots []*botstore.Bot) (*CopyEstimate, error) {
	ids := make([]string, len(bots))
	for i, b := range bots {
		ids[i] = b.ID
	}
	st, err := vectorstore.Stats(ctx, o.Source, ids)
	if err != nil {
		return nil, err
	}
	ce := &CopyEstimate{Rows: st.Rows, Bytes: st.TotalBytes, Dimensions: st.Dimensions, Indexes: st.Indexes}
	if !st.Exists {
		ce.Problems = append(ce.Problems, "the source has no items table")
		return ce, nil
	}
	if st.Dimensions != o.Model.Dimensions {
		ce.Problems = append(ce.Problems, fmt.Sprintf("the source's vectors have %d dimensions, %s has %d: copying keeps the old model", st.Dimensions, o.Model.ID, o.Model.Dimensions))
	}
	ce.Duration = time.Duration(float64(st.TotalBytes) / (o.CopyMBps * 1e6) * float64(time.Second)).Round(time.Second)
	return ce, nil
}

func (p *Plan) recommend() {
	switch {
	case p.Reuse != nil && p.Reuse.Refused == "" && p.Reuse.Reused > 0:
		p.Recommendation = "reembed --reuse-from"
		p.Reason = fmt.Sprintf("the old cluster holds %d of the %d chunks a re-embed makes, with the run's model: re-embedding with --reuse-from writes the chunks as v1 splits them and pays only for the %d chunks it embeds ($%.4f instead of $%.4f)",
			p.Reuse.Reused, p.Reuse.Reused+p.Reuse.Embedded, p.Reuse.Embedded, p.Reuse.CostUSD, p.Reembed.CostUSD)
		if p.Copy != nil && len(p.Copy.Problems) == 0 && p.Copy.Rows > 0 {
			p.Reason += "; copy costs nothing but keeps the chunks as the old cluster holds them"
		}
	case p.Copy != nil && len(p.Copy.Problems) == 0 && p.Copy.Rows > 0:
		p.Recommendation = "copy"
		p.Reason = fmt.Sprintf("the old cluster is reachable with %d rows of the same model: copying costs no embedding spend (re-embed ≈ $%.2f) and keeps chunks byte-identical", p.Copy.Rows, p.Reembed.CostUSD)
	case p.Copy != nil:
		p.Recommendation = "reembed"
		p.Reason = "the old cluster cannot serve a copy: " + strings.Join(p.Copy.Problems, "; ")
	default:
		p.Recommendation = "reembed"
		p.Reason = "no old cluster given (--source-db): re-embedding from the sources is the way back"
	}
	if t := p.Target; t != nil {
		ready := t.Reembed.Ready
		if p.Recommendation == "copy" {
			ready = t.Copy.Ready
		}
		if !ready {
			p.Reason += "; the target is not ready for it yet (see target)"
		}
	}
}

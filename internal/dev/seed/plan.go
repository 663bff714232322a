// Package seed builds a realistic Bedrock Chat v0 deployment on the local stack: the conversation
// table with bots of every vintage and state, their documents in S3, their web sources on the
// stack's web server, and the old cluster's items table holding each bot's chunks and vectors as
// v0 wrote them. Everything is deterministic from a seed.
//
// # Overview
//
// Plan is pure: it decides every item, file and row. Apply writes a plan to the servers, replacing
// whatever an earlier seed left. The bots cycle through profiles that cover what real deployments
// hold (docs/bedrock-chat.md): items from v0.4.5/v0.4.6 without the later attributes, public and
// API-published bots, bots stuck in QUEUED or RUNNING, failed sitemap bots, bots whose files are
// gone, bots without knowledge, aliases, conversations, a partial "ghost" item left by the app's
// unconditional status update, a v0.3-era bot the app can no longer read, and orphan rows left by
// the app's broken deletion handler.
package seed

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"
	"golang.org/x/text/unicode/norm"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/chunk"
	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// Options size the deployment.
type Options struct {
	Seed       int64
	Bots       int // well-formed bots; default DefaultBots
	DocsPerBot int // files per bot that has files; default 3
	Users      int // default Bots/4, at least 3
	Bucket     string
	// WebURL is the base URL of the stack's web server, as the bots' source_urls name it.
	WebURL string
	// Model names the embedding model v0 used (its vectors are the contract server's).
	Model string
}

func (o *Options) defaults() {
	o.Seed = cmp.Or(o.Seed, 1)
	o.Bots = cmp.Or(o.Bots, DefaultBots)
	o.DocsPerBot = cmp.Or(o.DocsPerBot, 3)
	o.Users = cmp.Or(o.Users, max(3, o.Bots/4))
	o.Model = cmp.Or(o.Model, bedrocksim.ModelCohereMultilingual)
	o.WebURL = strings.TrimRight(o.WebURL, "/")
}

// File is one document in the bucket.
type File struct {
	Key         string
	ContentType string
	Body        []byte
	// Text is what v0's loader made of the file (elements joined by blank lines).
	Text string
}

// Deployment is everything a seed writes.
type Deployment struct {
	Options Options
	Users   []string
	// Bots are the well-formed bots as the app reads them (defaults applied).
	Bots []*botstore.Bot
	// Profiles[i] names the profile Bots[i] was made from.
	Profiles []string
	// Items are all table items as written: bots (older ones without later attributes),
	// aliases, conversations, and the malformed items.
	Items []botstore.Item
	Files []File
	// Rows are the old cluster's items rows, orphans included.
	Rows []vectorstore.Row
	// Expect states what a correct read-back finds.
	Expect Expect
}

// Expect holds the deployment's counts, for tests and the demo's summary.
type Expect struct {
	Bots          int                         `json:"bots"`
	Malformed     int                         `json:"malformed"`
	Aliases       int                         `json:"aliases"`
	Conversations int                         `json:"conversations"`
	Other         int                         `json:"other"`
	ByStatus      map[botstore.SyncStatus]int `json:"by_status"`
	WithKnowledge int                         `json:"with_knowledge"`
	Legacy        int                         `json:"legacy"`
	Public        int                         `json:"public"`
	Published     int                         `json:"published"`
	FilesByExt    map[string]int              `json:"files_by_ext"`
	MissingFiles  int                         `json:"missing_files"`
	Rows          int                         `json:"rows"`
	OrphanRows    int                         `json:"orphan_rows"`
	RowsByBot     map[string]int              `json:"-"`
	// Unreadable maps each bot with a source no loader can read to that source (its s3:// URI
	// or URL): the first one in the app's loading order, URLs before files. A re-embed fails
	// these bots, naming the source; every other bot with knowledge must succeed.
	Unreadable map[string]string `json:"unreadable"`
}

// profile is one kind of bot a real deployment holds.
type profile struct {
	name       string
	status     botstore.SyncStatus
	reason     string
	files      bool
	cjk        bool // files in Japanese, Chinese or Korean
	urls       int
	sitemaps   bool
	brokenFile bool // one listed file is not in the bucket
	brokenURL  bool // one URL answers 404
	// extras are uploads beyond the generated documents: "nul-bytes", "saved-page" and
	// "edit-protected" read,
	// "scanned", "encrypted" and "truncated" do not.
	extras    []string
	sjisURL   bool // one source URL is a Shift_JIS page
	legacy    string
	chunkSize int
	overlap   int
	public    bool
	published bool
	// v0Rows: the old cluster holds this bot's vectors (it succeeded at some point).
	v0Rows bool
}

var profiles = []profile{
	{name: "handbook", status: botstore.StatusSucceeded, reason: botstore.ReasonSucceeded, files: true, v0Rows: true},
	{name: "web-faq", status: botstore.StatusSucceeded, reason: botstore.ReasonSucceeded, urls: 2, public: true, v0Rows: true},
	{name: "no-knowledge", status: botstore.StatusSucceeded},
	{name: "legacy-v0.4.5", status: botstore.StatusSucceeded, reason: botstore.ReasonSucceeded, files: true, legacy: "v0.4.5", v0Rows: true},
	{name: "published-api", status: botstore.StatusSucceeded, reason: botstore.ReasonSucceeded, files: true, urls: 1, chunkSize: 500, overlap: 50, public: true, published: true, v0Rows: true},
	// The v0 task raised NotImplementedError() for sitemaps; f"{e}" of it is "".
	{name: "sitemap", status: botstore.StatusFailed, reason: "", sitemaps: true},
	{name: "stuck-queued", status: botstore.StatusQueued, files: true},
	{name: "stuck-running", status: botstore.StatusRunning, files: true, v0Rows: true},
	{name: "broken-sources", status: botstore.StatusFailed, reason: "An error occurred (404) when calling the HeadObject operation: Not Found", files: true, urls: 1, brokenFile: true, brokenURL: true},
	{name: "cjk-large-chunks", status: botstore.StatusSucceeded, reason: botstore.ReasonSucceeded, files: true, cjk: true, chunkSize: 1500, overlap: 300, v0Rows: true},
	{name: "legacy-v0.4.6", status: botstore.StatusSucceeded, reason: botstore.ReasonSucceeded, files: true, legacy: "v0.4.6", v0Rows: true},
	{name: "no-knowledge-queued", status: botstore.StatusQueued},
	// Odd but readable: a text export full of NUL bytes, a web page saved under a .pdf name, a PDF
	// protected against editing (AES-256, no password to open), a Shift_JIS page.
	{name: "odd-uploads", status: botstore.StatusSucceeded, reason: botstore.ReasonSucceeded, files: true, extras: []string{"nul-bytes", "saved-page", "edit-protected"}, sjisURL: true, v0Rows: true},
	// Unreadable uploads, one per bot, so that each failure names its own file. v0's unstructured
	// found no text in the scan and embedded nothing; pdfminer raised PDFPasswordIncorrect()
	// (no message) and PDFSyntaxError for the others.
	{name: "scanned-pdf", status: botstore.StatusSucceeded, reason: botstore.ReasonSucceeded, extras: []string{"scanned"}},
	{name: "encrypted-pdf", status: botstore.StatusFailed, reason: "", extras: []string{"encrypted"}},
	{name: "truncated-pdf", status: botstore.StatusFailed, reason: "No /Root object! - Is this really a PDF?", files: true, extras: []string{"truncated"}},
}

// DefaultBots is one bot of each profile.
var DefaultBots = len(profiles)

// WebSiteSeed is the seed of the stack's web site: one fixed site serves every seeded deployment,
// so the seeder and 'ragmigrate dev serve web' must agree on it.
const WebSiteSeed int64 = 1

// baseTime is when the seeded deployment's story starts (v0.4.x days).
var baseTime = time.Date(2024, 5, 6, 9, 0, 0, 0, time.UTC)

// Plan decides the whole deployment. The same options give the same deployment, byte for byte.
func Plan(o Options) (*Deployment, error) {
	o.defaults()
	if o.Bucket == "" || o.WebURL == "" {
		return nil, fmt.Errorf("seed plan: bucket and web URL are required")
	}
	p := &planner{
		o:    o,
		rng:  rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed)),
		site: corpus.NewSite(WebSiteSeed),
		d: &Deployment{Options: o, Expect: Expect{
			ByStatus: map[botstore.SyncStatus]int{}, FilesByExt: map[string]int{}, RowsByBot: map[string]int{}, Unreadable: map[string]string{},
		}},
	}
	p.clock = baseTime
	for range o.Users {
		p.d.Users = append(p.d.Users, p.uuid())
	}
	for i := range o.Bots {
		if err := p.bot(i, profiles[i%len(profiles)]); err != nil {
			return nil, err
		}
	}
	p.aliases()
	p.conversations()
	if err := p.malformed(); err != nil {
		return nil, err
	}
	p.d.Expect.Rows = len(p.d.Rows)
	return p.d, nil
}

type planner struct {
	o       Options
	rng     *rand.Rand
	site    *corpus.Site
	d       *Deployment
	clock   time.Time
	fileSeq int
	cjkSeq  int
}

// tick advances the story's clock by a few minutes to a few hours, so ids and times are ordered.
func (p *planner) tick() time.Time {
	p.clock = p.clock.Add(time.Duration(5+p.rng.IntN(600)) * time.Minute)
	return p.clock
}

func (p *planner) ulid(t time.Time) string {
	return ulid.MustNew(ulid.Timestamp(t), entropy{p.rng}).String()
}

// uuid makes a Cognito-style user id (UUID v4 text).
func (p *planner) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(p.rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (p *planner) bot(i int, pr profile) error {
	created := p.tick()
	user := p.d.Users[i%len(p.d.Users)]
	b := &botstore.Bot{
		UserID:           user,
		ID:               p.ulid(created),
		Title:            botTitles[i%len(botTitles)],
		Description:      botDescriptions[i%len(botDescriptions)],
		Instruction:      botInstructions[i%len(botInstructions)],
		CreateTime:       created.UnixMilli(),
		LastBotUsed:      created.Add(time.Duration(p.rng.IntN(30*24)) * time.Hour).UnixMilli(),
		IsPinned:         i%5 == 1,
		EmbeddingParams:  botstore.EmbeddingParams{ChunkSize: cmp.Or(pr.chunkSize, botstore.DefaultChunkSize), ChunkOverlap: cmp.Or(pr.overlap, botstore.DefaultChunkOverlap)},
		GenerationParams: botstore.DefaultGenerationParams(),
		MaxResults:       botstore.DefaultMaxResults,
		SyncStatus:       pr.status,
		SyncStatusReason: pr.reason,
		Knowledge:        botstore.Knowledge{SourceURLs: []string{}, SitemapURLs: []string{}, Filenames: []string{}},
	}
	if i >= len(profiles) {
		b.Title = fmt.Sprintf("%s (%d)", b.Title, i/len(profiles)+1)
	}
	if pr.status != botstore.StatusQueued {
		// The task's id: the last segment of the ECS task ARN.
		b.LastExecID = fmt.Sprintf("%032x", p.rng.Uint64())[:32]
	}
	if pr.public {
		b.PublicBotID = b.ID
	}
	if pr.published {
		b.APIPublishmentStackName = "ApiPublishmentStack" + b.ID
		b.APIPublishedDatetime = created.Add(48 * time.Hour).UnixMilli()
		b.APIPublishCodeBuildID = "ApiPublishmentProject:" + p.uuid()
	}

	var texts []sourceText
	var unreadableFile string // the first file no loader reads
	if pr.files {
		n := p.o.DocsPerBot
		for j := range n {
			f, err := p.file(b, pr.cjk)
			if err != nil {
				return err
			}
			missing := pr.brokenFile && j == n-1
			if missing {
				// Listed in Knowledge but never copied out of _temp/: the object does not exist.
				p.d.Expect.MissingFiles++
				unreadableFile = cmp.Or(unreadableFile, docstore.SourceURI(p.o.Bucket, f.Key))
			} else {
				p.addFile(f)
				texts = append(texts, sourceText{source: docstore.SourceURI(p.o.Bucket, f.Key), text: f.Text})
			}
			b.Knowledge.Filenames = append(b.Knowledge.Filenames, path.Base(f.Key))
		}
	}
	for _, kind := range pr.extras {
		f, readable, err := p.extra(b, kind)
		if err != nil {
			return err
		}
		p.addFile(f)
		b.Knowledge.Filenames = append(b.Knowledge.Filenames, path.Base(f.Key))
		if readable {
			texts = append(texts, sourceText{source: docstore.SourceURI(p.o.Bucket, f.Key), text: f.Text})
		} else {
			unreadableFile = cmp.Or(unreadableFile, docstore.SourceURI(p.o.Bucket, f.Key))
		}
	}
	pages := p.site.Pages()
	urlPages := make([]string, 0, pr.urls+1)
	for j := range pr.urls {
		urlPages = append(urlPages, pages[(i+j*3)%len(pages)])
	}
	if pr.sjisURL {
		for _, page := range pages {
			if strings.HasSuffix(page, "-ja.html") { // the site serves its Japanese pages in Shift_JIS
				urlPages = append(urlPages, page)
				break
			}
		}
	}
	for _, page := range urlPages {
		url := p.o.WebURL + page
		b.Knowledge.SourceURLs = append(b.Knowledge.SourceURLs, url)
		doc, ok := p.site.Page(page)
		if !ok {
			return fmt.Errorf("seed plan: corpus site has no page %s", page)
		}
		texts = append(texts, sourceText{source: url, text: doc.PlainText()})
	}
	if pr.brokenURL {
		dead := p.o.WebURL + "/docs/retired-page.html"
		b.Knowledge.SourceURLs = append(b.Knowledge.SourceURLs, dead)
		p.d.Expect.Unreadable[b.ID] = dead // URLs load before files
	}
	if unreadableFile != "" && p.d.Expect.Unreadable[b.ID] == "" {
		p.d.Expect.Unreadable[b.ID] = unreadableFile
	}
	if pr.sitemaps {
		for _, sm := range p.site.Sitemaps() {
			b.Knowledge.SitemapURLs = append(b.Knowledge.SitemapURLs, p.o.WebURL+sm)
		}
	}
	if pr.v0Rows {
		if err := p.rows(b.ID, b.EmbeddingParams, texts, created); err != nil {
			return err
		}
	}

	item := b.Item()
	switch pr.legacy {
	case "v0.4.5":
		// Written by v0.4.5: no EmbeddingParams, GenerationParams, SearchParams or DisplayRetrievedChunks.
		for _, a := range []string{"EmbeddingParams", "GenerationParams", "SearchParams", "DisplayRetrievedChunks"} {
			delete(item, a)
		}
	case "v0.4.6":
		// v0.4.6 added EmbeddingParams without enable_partition_pdf.
		delete(item["EmbeddingParams"].(*types.AttributeValueMemberM).Value, "enable_partition_pdf")
		for _, a := range []string{"GenerationParams", "SearchParams", "DisplayRetrievedChunks"} {
			delete(item, a)
		}
	}
	decoded, err := botstore.Decode(item)
	if err != nil {
		return fmt.Errorf("seed plan: bot %s does not decode: %w", b.ID, err)
	}
	p.d.Bots = append(p.d.Bots, decoded)
	p.d.Profiles = append(p.d.Profiles, pr.name)
	p.d.Items = append(p.d.Items, item)

	e := &p.d.Expect
	e.Bots++
	e.ByStatus[b.SyncStatus]++
	if !b.Knowledge.Empty() {
		e.WithKnowledge++
	}
	if pr.legacy != "" {
		e.Legacy++
	}
	if pr.public {
		e.Public++
	}
	if pr.published {
		e.Published++
	}
	return nil
}

type sourceText struct{ source, text string }

func (p *planner) addFile(f File) {
	p.d.Files = append(p.d.Files, f)
	p.d.Expect.FilesByExt[strings.ToLower(path.Ext(f.Key))]++
}

// extra makes one of a profile's extra uploads, and says whether a loader can read it.
func (p *planner) extra(b *botstore.Bot, kind string) (f File, readable bool, err error) {
	doc := corpus.Generate(p.o.Seed, 200000+p.fileSeq)
	p.fileSeq++
	var name string
	switch kind {
	case "nul-bytes":
		// A text export with a NUL after every line: readable once the NULs are dropped.
		body, err := corpus.Encode(doc, ".txt")
		if err != nil {
			return File{}, false, err
		}
		name, f.Body, f.Text, readable = fileName(doc.Title)+" (export).txt", corpus.WithNULs(body), doc.PlainText(), true
	case "saved-page":
		// A web page saved by a browser under a .pdf name: read as the HTML it is.
		page := p.site.Pages()[p.fileSeq%len(p.site.Pages())]
		pageDoc, _ := p.site.Page(page)
		if strings.HasSuffix(page, "-ja.html") {
			page = p.site.Pages()[0] // keep the saved page in UTF-8; the Shift_JIS one is a URL
			pageDoc, _ = p.site.Page(page)
		}
		name, f.Body, f.Text, readable = fileName(pageDoc.Title)+" (saved page).pdf", p.site.HTML(page), pageDoc.PlainText(), true
	case "edit-protected":
		// A PDF protected against editing: AES-256, opens without a password.
		src := corpus.Generate(1, corpus.EditProtectedDoc)
		name, f.Body, f.Text, readable = fileName(src.Title)+" (protected against editing).pdf", corpus.EditProtectedPDF(), src.PlainText(), true
	case "scanned":
		name, f.Body = "Signed travel policy (scan).pdf", corpus.ScannedPDF()
	case "encrypted":
		name, f.Body = "Lyon office guide (protected).pdf", corpus.EncryptedPDF()
	case "truncated":
		if f.Body, err = corpus.TruncatedPDF(doc); err != nil {
			return File{}, false, err
		}
		name = fileName(doc.Title) + " (upload interrupted).pdf"
	default:
		return File{}, false, fmt.Errorf("seed plan: unknown extra upload %q", kind)
	}
	name = norm.NFC.String(name)
	f.Key = docstore.DocumentKey(b.UserID, b.ID, name)
	f.ContentType = contentTypes[strings.ToLower(path.Ext(name))]
	return f, readable, nil
}

// file makes the next document of the corpus into a file of the next upload type.
func (p *planner) file(b *botstore.Bot, cjk bool) (File, error) {
	exts := corpus.Extensions()
	ext := exts[p.fileSeq%len(exts)]
	n := p.fileSeq
	p.fileSeq++
	doc := corpus.Generate(p.o.Seed, n)
	if cjk {
		// Documents far from the ordinary sequence, until one is in a CJK language.
		for {
			doc = corpus.Generate(p.o.Seed, 100000+p.cjkSeq)
			p.cjkSeq++
			if doc.Lang == "ja" || doc.Lang == "zh" || doc.Lang == "ko" {
				break
			}
		}
	}
	body, err := corpus.Encode(doc, ext)
	if err != nil {
		return File{}, fmt.Errorf("seed plan: encode %s as %s: %w", doc.Title, ext, err)
	}
	// The frontend NFC-normalises names; users keep spaces and their own script in them.
	name := norm.NFC.String(fileName(doc.Title) + ext)
	for _, existing := range b.Knowledge.Filenames {
		if existing == name {
			name = norm.NFC.String(fmt.Sprintf("%s (%d)%s", fileName(doc.Title), n, ext))
		}
	}
	return File{
		Key:         docstore.DocumentKey(b.UserID, b.ID, name),
		ContentType: contentTypes[ext],
		Body:        body,
		Text:        doc.PlainText(),
	}, nil
}

func fileName(title string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return '-'
		}
		return r
	}, title)
}

var contentTypes = map[string]string{
	".txt":  "text/plain",
	".text": "text/plain",
	".md":   "text/markdown",
	".csv":  "text/csv",
	".pdf":  "application/pdf",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}

// rows chunks and embeds a bot's sources the way v0 did: one document per source, the app's
// splitter with the bot's parameters, the contract server's vectors.
func (p *planner) rows(botID string, ep botstore.EmbeddingParams, texts []sourceText, at time.Time) error {
	sp, err := chunk.New(ep.ChunkSize, ep.ChunkOverlap)
	if err != nil {
		return fmt.Errorf("seed plan: bot %s: %w", botID, err)
	}
	at = at.Add(time.Hour)
	for _, st := range texts {
		for _, c := range sp.Split(st.text) {
			if c == "" {
				continue
			}
			p.d.Rows = append(p.d.Rows, vectorstore.Row{
				ID: p.ulid(at), BotID: botID, Content: c, Source: st.source,
				Embedding: bedrocksim.Vector(p.o.Model, c, vectorstore.Dimensions),
			})
			p.d.Expect.RowsByBot[botID]++
		}
	}
	return nil
}

// aliases: users who opened a shared bot get an alias item pointing at it.
func (p *planner) aliases() {
	for _, b := range p.d.Bots {
		if b.PublicBotID == "" {
			continue
		}
		for _, u := range p.d.Users {
			if u == b.UserID {
				continue
			}
			t := time.UnixMilli(b.CreateTime).Add(72 * time.Hour)
			p.d.Items = append(p.d.Items, botstore.Item{
				"PK":            attrS(u),
				"SK":            attrS(botstore.AliasSK(u, b.ID)),
				"Title":         attrS(b.Title),
				"Description":   attrS(b.Description),
				"OriginalBotId": attrS(b.ID),
				"CreateTime":    attrN(t.UnixMilli()),
				"LastBotUsed":   attrN(t.Add(time.Hour).UnixMilli()),
				"IsPinned":      &types.AttributeValueMemberBOOL{Value: false},
				"SyncStatus":    attrS(string(b.SyncStatus)),
				"HasKnowledge":  &types.AttributeValueMemberBOOL{Value: !b.Knowledge.Empty()},
			})
			p.d.Expect.Aliases++
		}
	}
}

// conversations: two per user, one with a bot; and one pre-v0.3 key current code cannot see.
func (p *planner) conversations() {
	for ui, u := range p.d.Users {
		for j := range 2 {
			t := p.tick()
			id := p.ulid(t)
			msgID := p.ulid(t)
			content := conversationOpeners[(ui+j)%len(conversationOpeners)]
			messageMap := map[string]any{
				"system": map[string]any{"role": "system", "content": []any{map[string]any{"content_type": "text", "body": ""}}, "model": "claude-v3-sonnet", "children": []string{msgID}, "parent": nil, "create_time": float64(t.UnixMilli()) / 1000, "feedback": nil, "used_chunks": nil},
				msgID:    map[string]any{"role": "user", "content": []any{map[string]any{"content_type": "text", "body": content}}, "model": "claude-v3-sonnet", "children": []string{}, "parent": "system", "create_time": float64(t.UnixMilli()) / 1000, "feedback": nil, "used_chunks": nil},
			}
			mm, _ := json.Marshal(messageMap)
			item := botstore.Item{
				"PK":             attrS(u),
				"SK":             attrS(botstore.ConvSK(u, id)),
				"Title":          attrS(content),
				"CreateTime":     attrN(t.UnixMilli()),
				"TotalPrice":     &types.AttributeValueMemberN{Value: fmt.Sprintf("%.6f", p.rng.Float64()/100)},
				"LastMessageId":  attrS(msgID),
				"MessageMap":     attrS(string(mm)),
				"IsLargeMessage": &types.AttributeValueMemberBOOL{Value: false},
			}
			if j == 1 && len(p.d.Bots) > 0 {
				item["BotId"] = attrS(p.d.Bots[(ui*3)%len(p.d.Bots)].ID)
			}
			p.d.Items = append(p.d.Items, item)
			p.d.Expect.Conversations++
		}
	}
	u := p.d.Users[0]
	p.d.Items = append(p.d.Items, botstore.Item{
		"PK": attrS(u), "SK": attrS(u + "_" + p.ulid(baseTime.Add(-90*24*time.Hour))),
		"Title": attrS("Hello"), "CreateTime": attrN(baseTime.Add(-90 * 24 * time.Hour).UnixMilli()),
		"MessageMap": attrS("{}"),
	})
	p.d.Expect.Other++
}

// malformed adds what real tables hold and the app cannot read: a ghost item made by the task's
// unconditional update_sync_status after its bot was deleted (its rows stayed behind: the
// deletion handler could not import), a v0.3-era bot without Knowledge, and rows of a bot that
// was deleted outright.
func (p *planner) malformed() error {
	u := p.d.Users[len(p.d.Users)-1]
	ghostAt := p.tick()
	ghost := p.ulid(ghostAt)
	p.d.Items = append(p.d.Items, botstore.Item{
		"PK":               attrS(u),
		"SK":               attrS(botstore.BotSK(u, ghost)),
		"SyncStatus":       attrS(string(botstore.StatusSucceeded)),
		"SyncStatusReason": attrS(botstore.ReasonSucceeded),
		"LastExecId":       attrS(fmt.Sprintf("%032x", p.rng.Uint64())[:32]),
	})
	old := baseTime.Add(-120 * 24 * time.Hour)
	p.d.Items = append(p.d.Items, botstore.Item{
		"PK":          attrS(u),
		"SK":          attrS(botstore.BotSK(u, p.ulid(old))),
		"Title":       attrS("Prototype bot (v0.3)"),
		"Description": attrS(""),
		"Instruction": attrS("You are a helpful assistant."),
		"CreateTime":  attrN(old.UnixMilli()),
		"LastBotUsed": attrN(old.UnixMilli()),
		"IsPinned":    &types.AttributeValueMemberBOOL{Value: false},
	})
	p.d.Expect.Malformed += 2

	before := len(p.d.Rows)
	ep := botstore.EmbeddingParams{ChunkSize: botstore.DefaultChunkSize, ChunkOverlap: botstore.DefaultChunkOverlap}
	for k, botID := range []string{ghost, p.ulid(p.tick())} {
		doc := corpus.Generate(p.o.Seed, 50000+k)
		src := docstore.SourceURI(p.o.Bucket, docstore.DocumentKey(u, botID, fileName(doc.Title)+".txt"))
		if err := p.rows(botID, ep, []sourceText{{source: src, text: doc.PlainText()}}, ghostAt); err != nil {
			return err
		}
	}
	p.d.Expect.OrphanRows = len(p.d.Rows) - before
	return nil
}

func attrS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func attrN(v int64) types.AttributeValue  { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }

// entropy adapts the planner's generator to the io.Reader ulid wants.
type entropy struct{ r *rand.Rand }

func (e entropy) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e.r.UintN(256))
	}
	return len(p), nil
}

// Package botstore reads and writes Bedrock Chat bots in the app's DynamoDB single table.
//
// # Overview
//
// A bot is the item whose sort key is "{user}#BOT#{bot}"; aliases ("#BOT_ALIAS#") and
// conversations ("#CONV#") share the table but are not bots. Decode applies the defaults the app
// applies on read (find_private_bot_by_id), so older items written before EmbeddingParams,
// GenerationParams, SearchParams or DisplayRetrievedChunks existed decode like the app sees them,
// and it rejects — with the item's key and the reason — what the app itself could not read:
// partial "ghost" items, items without Knowledge, attributes of the wrong DynamoDB type.
// The attribute names and types are those of docs/bedrock-chat.md §1.
package botstore

import (
	"fmt"
	"strings"
)

// SyncStatus is the app's embedding state of a bot.
type SyncStatus string

// The stored SyncStatus values. ORIGINAL_NOT_FOUND exists only in listings and is never stored.
const (
	StatusQueued    SyncStatus = "QUEUED"
	StatusRunning   SyncStatus = "RUNNING"
	StatusSucceeded SyncStatus = "SUCCEEDED"
	StatusFailed    SyncStatus = "FAILED"
)

// Statuses lists the stored values in the app's order.
var Statuses = []SyncStatus{StatusQueued, StatusRunning, StatusSucceeded, StatusFailed}

// Reason texts the app's embedding task writes.
const (
	ReasonSucceeded  = "Successfully inserted to vector store."
	ReasonNoContents = "No contents to embed."
)

// App defaults applied when an attribute is missing (backend/app/repositories/custom_bot.py).
const (
	DefaultChunkSize    = 1000
	DefaultChunkOverlap = 200
	DefaultMaxResults   = 20
)

// Knowledge is a bot's sources. The lists are DynamoDB L (not sets); filenames are bare names
// under "{user}/{bot}/documents/".
type Knowledge struct {
	SourceURLs  []string `json:"source_urls"`
	SitemapURLs []string `json:"sitemap_urls"`
	Filenames   []string `json:"filenames"`
}

// Empty reports whether the bot has nothing to embed.
func (k Knowledge) Empty() bool {
	return len(k.SourceURLs) == 0 && len(k.SitemapURLs) == 0 && len(k.Filenames) == 0
}

// EmbeddingParams drive the splitter: sizes in Unicode code points.
type EmbeddingParams struct {
	ChunkSize          int  `json:"chunk_size"`
	ChunkOverlap       int  `json:"chunk_overlap"`
	EnablePartitionPDF bool `json:"enable_partition_pdf"`
}

// GenerationParams are the chat model's settings; ragmigrate only carries them.
type GenerationParams struct {
	MaxTokens     int      `json:"max_tokens"`
	TopK          int      `json:"top_k"`
	TopP          float64  `json:"top_p"`
	Temperature   float64  `json:"temperature"`
	StopSequences []string `json:"stop_sequences"`
}

// DefaultGenerationParams is the app's DEFAULT_GENERATION_CONFIG (non-Mistral deployments).
func DefaultGenerationParams() GenerationParams {
	return GenerationParams{MaxTokens: 2000, TopK: 250, TopP: 0.999, Temperature: 0.6, StopSequences: []string{"Human: ", "Assistant: "}}
}

// Bot is one bot item as the app reads it.
type Bot struct {
	UserID      string `json:"user_id"`
	ID          string `json:"bot_id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Instruction string `json:"instruction"`
	// CreateTime and LastBotUsed are epoch milliseconds.
	CreateTime  int64 `json:"create_time"`
	LastBotUsed int64 `json:"last_bot_used"`
	IsPinned    bool  `json:"is_pinned"`

	EmbeddingParams  EmbeddingParams  `json:"embedding_params"`
	GenerationParams GenerationParams `json:"generation_params"`
	MaxResults       int              `json:"max_results"`
	// AgentTools is v1's AgentData.tools (names only).
	AgentTools []string `json:"agent_tools,omitempty"`

	Knowledge        Knowledge  `json:"knowledge"`
	SyncStatus       SyncStatus `json:"sync_status"`
	SyncStatusReason string     `json:"sync_status_reason"`
	LastExecID       string     `json:"last_exec_id"`

	// PublicBotID equals ID for shared bots and is empty otherwise.
	PublicBotID string `json:"public_bot_id,omitempty"`
	// APIPublishmentStackName is set once the bot is published as an API.
	APIPublishmentStackName string `json:"api_publishment_stack_name,omitempty"`
	APIPublishedDatetime    int64  `json:"api_published_datetime,omitempty"`
	APIPublishCodeBuildID   string `json:"api_publish_code_build_id,omitempty"`

	DisplayRetrievedChunks bool `json:"display_retrieved_chunks"`

	// Legacy lists the app-defaulted attributes this item lacks (older app versions wrote fewer).
	Legacy []string `json:"legacy,omitempty"`

	// read is what the bot's sources were in the item as read (Decode), exactly: UpdateStatus
	// writes only while the item still holds them.
	read readState
}

// readState is the attributes of a bot item that decide its vectors, as DynamoDB returned
// them. A nil attribute was absent.
type readState struct {
	knowledge, embeddingParams AttributeValue
}

// Key formats (backend/app/repositories/common.py).
func BotSK(userID, botID string) string   { return userID + "#BOT#" + botID }
func AliasSK(userID, botID string) string { return userID + "#BOT_ALIAS#" + botID }
func ConvSK(userID, convID string) string { return userID + "#CONV#" + convID }

// Kind is what an item of the conversation table is, judged by its sort key as the app does.
type Kind string

const (
	KindBot          Kind = "bot"
	KindAlias        Kind = "alias"
	KindConversation Kind = "conversation"
	KindOther        Kind = "other"
)

// KindOf classifies a sort key. "#BOT_ALIAS#" contains "#BOT" but not "#BOT#", which is exactly
// the app's migration filter contains(SK, "#BOT#").
func KindOf(sk string) Kind {
	switch {
	case strings.Contains(sk, "#BOT#"):
		return KindBot
	case strings.Contains(sk, "#BOT_ALIAS#"):
		return KindAlias
	case strings.Contains(sk, "#CONV#"):
		return KindConversation
	default:
		return KindOther
	}
}

// lastSegment is the app's decompose_*: split("#")[-1].
func lastSegment(sk string) string {
	return sk[strings.LastIndexByte(sk, '#')+1:]
}

// DecodeError reports a bot item the app could not read either, with its key.
type DecodeError struct {
	PK, SK string
	Reason string
}

// BotID is the bot id in the item's sort key (the app's decompose: split("#")[-1]).
func (e *DecodeError) BotID() string { return lastSegment(e.SK) }

func (e *DecodeError) Error() string {
	return fmt.Sprintf("bot item PK=%q SK=%q: %s", e.PK, e.SK, e.Reason)
}

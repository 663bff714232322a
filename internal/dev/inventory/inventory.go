// Package inventory reads a deployment back through its own APIs — the table through DynamoDB
// Scan, the bucket through S3 List, the clusters through SQL — and counts what is there: items by
// kind, bots by state and vintage, documents by type, rows per cluster. The demo prints it, the
// seeder's tests check it. It belongs to the development rig ('ragmigrate dev summary'); the
// operator's commands read a deployment through botstore, docstore and vectorstore themselves.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// Sources are the deployment's parts; nil clusters are skipped.
type Sources struct {
	Bots   *botstore.Store
	Docs   *docstore.Store
	Source *pgx.Conn
	Target *pgx.Conn
}

// Inventory is what a deployment holds.
type Inventory struct {
	Table  string                  `json:"table"`
	Items  ItemCounts              `json:"items"`
	Bots   BotCounts               `json:"bots"`
	Bucket string                  `json:"bucket"`
	Files  FileCounts              `json:"files"`
	Source *vectorstore.TableStats `json:"source_items,omitempty"`
	Target *vectorstore.TableStats `json:"target_items,omitempty"`
	// Malformed lists bot items the app cannot read, with the reason.
	Malformed []Malformed `json:"malformed,omitempty"`
	// BotIDs are the well-formed bots' ids, sorted.
	BotIDs []string `json:"-"`
}

// ItemCounts counts the table's items by kind.
type ItemCounts struct {
	Total         int `json:"total"`
	Bots          int `json:"bots"`
	Malformed     int `json:"malformed_bots"`
	Aliases       int `json:"aliases"`
	Conversations int `json:"conversations"`
	Other         int `json:"other"`
}

// BotCounts counts well-formed bots.
type BotCounts struct {
	ByStatus      map[botstore.SyncStatus]int `json:"by_status"`
	WithKnowledge int                         `json:"with_knowledge"`
	Empty         int                         `json:"without_knowledge"`
	Legacy        int                         `json:"legacy_items"`
	Public        int                         `json:"public"`
	Published     int                         `json:"published_api"`
	Filenames     int                         `json:"filenames"`
	SourceURLs    int                         `json:"source_urls"`
	SitemapURLs   int                         `json:"sitemap_urls"`
}

// FileCounts counts the bucket's documents.
type FileCounts struct {
	Objects int                 `json:"objects"`
	Bytes   int64               `json:"bytes"`
	ByExt   map[string]ExtCount `json:"by_extension"`
	// Missing are filenames listed in a bot's Knowledge with no object under documents/.
	Missing []string `json:"missing,omitempty"`
}

// ExtCount is one extension's share.
type ExtCount struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// Malformed is one unreadable bot item.
type Malformed struct {
	PK     string `json:"pk"`
	SK     string `json:"sk"`
	Reason string `json:"reason"`
}

// Take reads the deployment.
func Take(ctx context.Context, src Sources) (*Inventory, error) {
	inv := &Inventory{
		Table: src.Bots.Table(), Bucket: src.Docs.Bucket(),
		Bots:  BotCounts{ByStatus: map[botstore.SyncStatus]int{}},
		Files: FileCounts{ByExt: map[string]ExtCount{}},
	}
	var bots []*botstore.Bot
	err := src.Bots.ScanAll(ctx, func(item botstore.Item) error {
		inv.Items.Total++
		sk := ""
		if v, ok := item["SK"].(*types.AttributeValueMemberS); ok {
			sk = v.Value
		}
		switch botstore.KindOf(sk) {
		case botstore.KindBot:
			b, err := botstore.Decode(item)
			if err != nil {
				inv.Items.Malformed++
				var de *botstore.DecodeError
				if !errors.As(err, &de) {
					return err
				}
				inv.Malformed = append(inv.Malformed, Malformed{PK: de.PK, SK: de.SK, Reason: de.Reason})
				return nil
			}
			inv.Items.Bots++
			bots = append(bots, b)
		case botstore.KindAlias:
			inv.Items.Aliases++
		case botstore.KindConversation:
			inv.Items.Conversations++
		default:
			inv.Items.Other++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	for _, b := range bots {
		inv.BotIDs = append(inv.BotIDs, b.ID)
		c := &inv.Bots
		c.ByStatus[b.SyncStatus]++
		if b.Knowledge.Empty() {
			c.Empty++
		} else {
			c.WithKnowledge++
		}
		if len(b.Legacy) > 0 {
			c.Legacy++
		}
		if b.PublicBotID != "" {
			c.Public++
		}
		if b.APIPublishmentStackName != "" {
			c.Published++
		}
		c.Filenames += len(b.Knowledge.Filenames)
		c.SourceURLs += len(b.Knowledge.SourceURLs)
		c.SitemapURLs += len(b.Knowledge.SitemapURLs)
		for _, f := range b.Knowledge.Filenames {
			listed[docstore.DocumentKey(b.UserID, b.ID, f)] = true
		}
	}
	slices.Sort(inv.BotIDs)
	slices.SortFunc(inv.Malformed, func(a, b Malformed) int { return strings.Compare(a.SK, b.SK) })

	present := map[string]bool{}
	err = src.Docs.Walk(ctx, "", func(o docstore.Object) error {
		present[o.Key] = true
		inv.Files.Objects++
		inv.Files.Bytes += o.Size
		ext := strings.ToLower(path.Ext(o.Key))
		ec := inv.Files.ByExt[ext]
		ec.Files++
		ec.Bytes += o.Size
		inv.Files.ByExt[ext] = ec
		return nil
	})
	if err != nil {
		return nil, err
	}
	for key := range listed {
		if !present[key] {
			inv.Files.Missing = append(inv.Files.Missing, docstore.SourceURI(inv.Bucket, key))
		}
	}
	slices.Sort(inv.Files.Missing)

	if src.Source != nil {
		if inv.Source, err = vectorstore.Stats(ctx, src.Source, inv.BotIDs); err != nil {
			return nil, fmt.Errorf("source cluster: %w", err)
		}
	}
	if src.Target != nil {
		if inv.Target, err = vectorstore.Stats(ctx, src.Target, inv.BotIDs); err != nil {
			return nil, fmt.Errorf("target cluster: %w", err)
		}
	}
	return inv, nil
}

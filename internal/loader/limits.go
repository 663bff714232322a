package loader

import (
	"cmp"
	"errors"
	"fmt"
)

// ErrTooLarge marks a source, or a bot's sources together, over a size limit.
var ErrTooLarge = errors.New("too large")

// Default limits: a file as large as the app's own upload limit allows, and room for a bot with
// many of them, while one bot in memory stays far from the machine's.
const (
	DefaultMaxFileBytes = 256 << 20
	DefaultMaxBotBytes  = 1 << 30
)

// Limits bound what a bot's sources may bring into memory. The formats that need random access
// (PDF, the zip-based Office formats) are read whole, so a file's bytes are bounded before it is
// read: an object store reports the size first, and a larger object is refused unread. The
// zip readers then inflate part by part under a budget of their own (ooxml.go).
type Limits struct {
	// MaxFileBytes bounds one uploaded file. Default DefaultMaxFileBytes.
	MaxFileBytes int64
	// MaxBotBytes bounds all of one bot's sources together, files and fetched pages. Default
	// DefaultMaxBotBytes.
	MaxBotBytes int64
}

// File is the limit for one file.
func (l Limits) File() int64 { return cmp.Or(l.MaxFileBytes, DefaultMaxFileBytes) }

// Bot is the limit for one bot's sources together.
func (l Limits) Bot() int64 { return cmp.Or(l.MaxBotBytes, DefaultMaxBotBytes) }

// BotBudget counts one bot's source bytes against the limit.
type BotBudget struct {
	limit, used int64
}

// NewBotBudget starts counting a bot's sources.
func (l Limits) NewBotBudget() *BotBudget { return &BotBudget{limit: l.Bot()} }

// Spend counts a source of n bytes, or fails, naming the source, when it would take the bot's
// sources past the limit. A refused source is not counted: a later, smaller one may still fit
// (when unreadable sources are skipped).
func (b *BotBudget) Spend(source string, n int64) error {
	if b.used+n > b.limit {
		return &SourceError{Source: source, Err: fmt.Errorf("%w: with this source the bot's sources would reach %d bytes, over the %d-byte limit for one bot (--max-bot-bytes)",
			ErrTooLarge, b.used+n, b.limit)}
	}
	b.used += n
	return nil
}

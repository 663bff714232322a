package plan

import (
	"slices"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
)

// Unmatched returns the ids among botIDs and userIDs (the --bot and --user a plan was made for)
// that no bot item in the plan's scope has: a typo there selects nothing, and a run that does
// nothing must not pass for a success. Bots without knowledge and malformed bot items count as
// matched, since they are in the table.
func (p *Plan) Unmatched(botIDs, userIDs []string) (bots, users []string) {
	seenBots, seenUsers := map[string]bool{}, map[string]bool{}
	for _, b := range p.PerBot {
		seenBots[b.BotID], seenUsers[b.UserID] = true, true
	}
	for _, m := range p.Malformed {
		seenBots[(&botstore.DecodeError{PK: m.PK, SK: m.SK}).BotID()], seenUsers[m.PK] = true, true
	}
	for _, id := range botIDs {
		if !seenBots[id] && !slices.Contains(bots, id) {
			bots = append(bots, id)
		}
	}
	for _, id := range userIDs {
		if !seenUsers[id] && !slices.Contains(users, id) {
			users = append(users, id)
		}
	}
	return bots, users
}

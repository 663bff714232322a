package botstore

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Item is a DynamoDB item in the SDK's representation.
type Item = map[string]types.AttributeValue

// AttributeValue is one attribute in the SDK's representation.
type AttributeValue = types.AttributeValue

// Decode reads a bot item with the app's defaults for attributes older versions did not write.
// Attributes the app requires (KeyError in find_private_bot_by_id) make it fail with a
// *DecodeError naming the key and every problem found.
func Decode(item Item) (*Bot, error) {
	d := decoder{item: item}
	pk := d.str("PK", true)
	sk := d.str("SK", true)
	if len(d.problems) > 0 {
		return nil, &DecodeError{PK: pk, SK: sk, Reason: d.reason()}
	}
	if KindOf(sk) != KindBot {
		return nil, &DecodeError{PK: pk, SK: sk, Reason: "sort key is not a bot key ({user}#BOT#{bot})"}
	}
	b := &Bot{UserID: pk, ID: lastSegment(sk), read: readState{knowledge: item["Knowledge"], embeddingParams: item["EmbeddingParams"]}}
	if b.ID == "" {
		d.problems = append(d.problems, "empty bot id in sort key")
	}
	b.Title = d.str("Title", true)
	b.Description = d.str("Description", true)
	b.Instruction = d.str("Instruction", true)
	b.CreateTime = d.millis("CreateTime", true)
	b.LastBotUsed = d.millis("LastBotUsed", true)
	b.IsPinned = d.boolean("IsPinned", true)
	b.SyncStatus = SyncStatus(d.str("SyncStatus", true))
	b.SyncStatusReason = d.str("SyncStatusReason", true)
	b.LastExecID = d.str("LastExecId", true)

	if m, ok := d.mapAttr("Knowledge", true); ok {
		kd := decoder{item: m, prefix: "Knowledge."}
		b.Knowledge = Knowledge{
			SourceURLs:  kd.strList("source_urls", true),
			SitemapURLs: kd.strList("sitemap_urls", true),
			Filenames:   kd.strList("filenames", true),
		}
		d.problems = append(d.problems, kd.problems...)
	}

	b.EmbeddingParams = EmbeddingParams{ChunkSize: DefaultChunkSize, ChunkOverlap: DefaultChunkOverlap}
	if m, ok := d.mapAttr("EmbeddingParams", false); ok {
		ed := decoder{item: m, prefix: "EmbeddingParams."}
		if _, ok := m["chunk_size"]; ok {
			b.EmbeddingParams.ChunkSize = ed.integer("chunk_size")
		}
		if _, ok := m["chunk_overlap"]; ok {
			b.EmbeddingParams.ChunkOverlap = ed.integer("chunk_overlap")
		}
		if _, ok := m["enable_partition_pdf"]; ok {
			b.EmbeddingParams.EnablePartitionPDF = ed.boolean("enable_partition_pdf", false)
		} else {
			b.Legacy = append(b.Legacy, "EmbeddingParams.enable_partition_pdf")
		}
		d.problems = append(d.problems, ed.problems...)
	} else if !d.has("EmbeddingParams") {
		b.Legacy = append(b.Legacy, "EmbeddingParams")
	}

	b.GenerationParams = DefaultGenerationParams()
	if m, ok := d.mapAttr("GenerationParams", false); ok {
		gd := decoder{item: m, prefix: "GenerationParams."}
		b.GenerationParams = GenerationParams{
			MaxTokens:     gd.integer("max_tokens"),
			TopK:          gd.integer("top_k"),
			TopP:          gd.number("top_p"),
			Temperature:   gd.number("temperature"),
			StopSequences: gd.strList("stop_sequences", true),
		}
		d.problems = append(d.problems, gd.problems...)
	} else if !d.has("GenerationParams") {
		b.Legacy = append(b.Legacy, "GenerationParams")
	}

	b.MaxResults = DefaultMaxResults
	if m, ok := d.mapAttr("SearchParams", false); ok {
		sd := decoder{item: m, prefix: "SearchParams."}
		b.MaxResults = sd.integer("max_results")
		d.problems = append(d.problems, sd.problems...)
	} else if !d.has("SearchParams") {
		b.Legacy = append(b.Legacy, "SearchParams")
	}

	if m, ok := d.mapAttr("AgentData", false); ok {
		ad := decoder{item: m, prefix: "AgentData."}
		if l, ok := ad.list("tools", false); ok {
			for i, t := range l {
				tm, ok := t.(*types.AttributeValueMemberM)
				if !ok {
					ad.problems = append(ad.problems, fmt.Sprintf("AgentData.tools[%d]: want M, got %s", i, typeName(t)))
					continue
				}
				td := decoder{item: tm.Value, prefix: fmt.Sprintf("AgentData.tools[%d].", i)}
				b.AgentTools = append(b.AgentTools, td.str("name", true))
				ad.problems = append(ad.problems, td.problems...)
			}
		}
		d.problems = append(d.problems, ad.problems...)
	}

	if d.has("DisplayRetrievedChunks") {
		b.DisplayRetrievedChunks = d.boolean("DisplayRetrievedChunks", false)
	} else {
		b.Legacy = append(b.Legacy, "DisplayRetrievedChunks")
	}
	b.PublicBotID = d.optStr("PublicBotId")
	b.APIPublishmentStackName = d.optStr("ApiPublishmentStackName")
	b.APIPublishCodeBuildID = d.optStr("ApiPublishCodeBuildId")
	if d.has("ApiPublishedDatetime") && !d.isNull("ApiPublishedDatetime") {
		b.APIPublishedDatetime = d.millis("ApiPublishedDatetime", false)
	}

	if b.SyncStatus != "" && !validStatus(b.SyncStatus) {
		d.problems = append(d.problems, fmt.Sprintf("SyncStatus %q is not one of QUEUED, RUNNING, SUCCEEDED, FAILED", b.SyncStatus))
	}
	if b.EmbeddingParams.ChunkSize < 1 {
		d.problems = append(d.problems, fmt.Sprintf("EmbeddingParams.chunk_size %d is below 1", b.EmbeddingParams.ChunkSize))
	}
	if b.EmbeddingParams.ChunkOverlap < 0 || b.EmbeddingParams.ChunkOverlap > b.EmbeddingParams.ChunkSize {
		d.problems = append(d.problems, fmt.Sprintf("EmbeddingParams.chunk_overlap %d is outside 0..chunk_size", b.EmbeddingParams.ChunkOverlap))
	}
	if len(d.problems) > 0 {
		return nil, &DecodeError{PK: pk, SK: sk, Reason: d.reason()}
	}
	return b, nil
}

func validStatus(s SyncStatus) bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Item encodes the bot the way the app's store_bot writes it (v0.4.10 layout; AgentData only
// when tools are set, as v1 does). Optional publish attributes are NULL until published, and
// PublicBotId is written only when set: it is a GSI key and must never be NULL.
func (b *Bot) Item() Item {
	item := Item{
		"PK":          attrS(b.UserID),
		"SK":          attrS(BotSK(b.UserID, b.ID)),
		"Title":       attrS(b.Title),
		"Description": attrS(b.Description),
		"Instruction": attrS(b.Instruction),
		"CreateTime":  attrN(strconv.FormatInt(b.CreateTime, 10)),
		"LastBotUsed": attrN(strconv.FormatInt(b.LastBotUsed, 10)),
		"IsPinned":    &types.AttributeValueMemberBOOL{Value: b.IsPinned},
		"EmbeddingParams": attrM(Item{
			"chunk_size":           attrN(strconv.Itoa(b.EmbeddingParams.ChunkSize)),
			"chunk_overlap":        attrN(strconv.Itoa(b.EmbeddingParams.ChunkOverlap)),
			"enable_partition_pdf": &types.AttributeValueMemberBOOL{Value: b.EmbeddingParams.EnablePartitionPDF},
		}),
		"GenerationParams": attrM(Item{
			"max_tokens":     attrN(strconv.Itoa(b.GenerationParams.MaxTokens)),
			"top_k":          attrN(strconv.Itoa(b.GenerationParams.TopK)),
			"top_p":          attrN(strconv.FormatFloat(b.GenerationParams.TopP, 'f', -1, 64)),
			"temperature":    attrN(strconv.FormatFloat(b.GenerationParams.Temperature, 'f', -1, 64)),
			"stop_sequences": strList(b.GenerationParams.StopSequences),
		}),
		"SearchParams": attrM(Item{"max_results": attrN(strconv.Itoa(b.MaxResults))}),
		"Knowledge": attrM(Item{
			"source_urls":  strList(b.Knowledge.SourceURLs),
			"sitemap_urls": strList(b.Knowledge.SitemapURLs),
			"filenames":    strList(b.Knowledge.Filenames),
		}),
		"SyncStatus":              attrS(string(b.SyncStatus)),
		"SyncStatusReason":        attrS(b.SyncStatusReason),
		"LastExecId":              attrS(b.LastExecID),
		"ApiPublishmentStackName": &types.AttributeValueMemberNULL{Value: true},
		"ApiPublishedDatetime":    &types.AttributeValueMemberNULL{Value: true},
		"ApiPublishCodeBuildId":   &types.AttributeValueMemberNULL{Value: true},
		"DisplayRetrievedChunks":  &types.AttributeValueMemberBOOL{Value: b.DisplayRetrievedChunks},
	}
	if len(b.AgentTools) > 0 {
		tools := make([]types.AttributeValue, len(b.AgentTools))
		for i, t := range b.AgentTools {
			tools[i] = attrM(Item{"name": attrS(t), "description": attrS("")})
		}
		item["AgentData"] = attrM(Item{"tools": &types.AttributeValueMemberL{Value: tools}})
	}
	if b.APIPublishmentStackName != "" {
		item["ApiPublishmentStackName"] = attrS(b.APIPublishmentStackName)
		item["ApiPublishedDatetime"] = attrN(strconv.FormatInt(b.APIPublishedDatetime, 10))
		item["ApiPublishCodeBuildId"] = attrS(b.APIPublishCodeBuildID)
	}
	if b.PublicBotID != "" {
		item["PublicBotId"] = attrS(b.PublicBotID)
	}
	return item
}

func attrS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func attrN(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
func attrM(v Item) types.AttributeValue   { return &types.AttributeValueMemberM{Value: v} }

func strList(v []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(v))
	for i, x := range v {
		l[i] = attrS(x)
	}
	return &types.AttributeValueMemberL{Value: l}
}

// decoder collects every problem of an item instead of stopping at the first, so one report
// says all that is wrong with it.
type decoder struct {
	item     Item
	prefix   string
	problems []string
}

func (d *decoder) reason() string { return strings.Join(d.problems, "; ") }

func (d *decoder) has(name string) bool { _, ok := d.item[name]; return ok }

func (d *decoder) isNull(name string) bool {
	_, ok := d.item[name].(*types.AttributeValueMemberNULL)
	return ok
}

func (d *decoder) missing(name string) {
	d.problems = append(d.problems, fmt.Sprintf("missing required attribute %s%s", d.prefix, name))
}

func (d *decoder) wrongType(name, want string, got types.AttributeValue) {
	d.problems = append(d.problems, fmt.Sprintf("%s%s: want %s, got %s", d.prefix, name, want, typeName(got)))
}

func (d *decoder) str(name string, required bool) string {
	v, ok := d.item[name]
	if !ok {
		if required {
			d.missing(name)
		}
		return ""
	}
	sv, ok := v.(*types.AttributeValueMemberS)
	if !ok {
		d.wrongType(name, "S", v)
		return ""
	}
	return sv.Value
}

// optStr reads an attribute that is S when set and NULL or absent otherwise.
func (d *decoder) optStr(name string) string {
	if !d.has(name) || d.isNull(name) {
		return ""
	}
	return d.str(name, false)
}

func (d *decoder) number(name string) float64 {
	v, ok := d.item[name]
	if !ok {
		d.missing(name)
		return 0
	}
	nv, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		d.wrongType(name, "N", v)
		return 0
	}
	f, err := strconv.ParseFloat(nv.Value, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		d.problems = append(d.problems, fmt.Sprintf("%s%s: %q is not a number", d.prefix, name, nv.Value))
		return 0
	}
	return f
}

func (d *decoder) integer(name string) int {
	f := d.number(name)
	if f != math.Trunc(f) {
		d.problems = append(d.problems, fmt.Sprintf("%s%s: %v is not an integer", d.prefix, name, f))
	}
	return int(f)
}

// millis reads epoch milliseconds, which the app writes as decimal(float) and may carry a fraction.
func (d *decoder) millis(name string, required bool) int64 {
	if !required && !d.has(name) {
		return 0
	}
	return int64(d.number(name))
}

func (d *decoder) boolean(name string, required bool) bool {
	v, ok := d.item[name]
	if !ok {
		if required {
			d.missing(name)
		}
		return false
	}
	bv, ok := v.(*types.AttributeValueMemberBOOL)
	if !ok {
		d.wrongType(name, "BOOL", v)
		return false
	}
	return bv.Value
}

func (d *decoder) mapAttr(name string, required bool) (Item, bool) {
	v, ok := d.item[name]
	if !ok {
		if required {
			d.missing(name)
		}
		return nil, false
	}
	mv, ok := v.(*types.AttributeValueMemberM)
	if !ok {
		d.wrongType(name, "M", v)
		return nil, false
	}
	return mv.Value, true
}

func (d *decoder) list(name string, required bool) ([]types.AttributeValue, bool) {
	v, ok := d.item[name]
	if !ok {
		if required {
			d.missing(name)
		}
		return nil, false
	}
	lv, ok := v.(*types.AttributeValueMemberL)
	if !ok {
		d.wrongType(name, "L", v)
		return nil, false
	}
	return lv.Value, true
}

func (d *decoder) strList(name string, required bool) []string {
	l, ok := d.list(name, required)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(l))
	for i, v := range l {
		sv, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			d.wrongType(fmt.Sprintf("%s[%d]", name, i), "S", v)
			continue
		}
		out = append(out, sv.Value)
	}
	return out
}

func typeName(v types.AttributeValue) string {
	switch v.(type) {
	case *types.AttributeValueMemberS:
		return "S"
	case *types.AttributeValueMemberN:
		return "N"
	case *types.AttributeValueMemberB:
		return "B"
	case *types.AttributeValueMemberBOOL:
		return "BOOL"
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberM:
		return "M"
	case *types.AttributeValueMemberL:
		return "L"
	case *types.AttributeValueMemberSS:
		return "SS"
	case *types.AttributeValueMemberNS:
		return "NS"
	case *types.AttributeValueMemberBS:
		return "BS"
	default:
		return fmt.Sprintf("%T", v)
	}
}

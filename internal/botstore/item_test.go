package botstore

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
)

func sampleBot() *Bot {
	return &Bot{
		UserID: "0f4c3a52-6d31-4a6b-9a7e-2f1c0b8d9e10", ID: "01HX7ZK3Q9V8N4R2T6Y5W1M0PA",
		Title: "HR Policy Assistant", Description: "", Instruction: "Answer from the documents.",
		CreateTime: 1714986000000, LastBotUsed: 1715000000000,
		EmbeddingParams:  EmbeddingParams{ChunkSize: 500, ChunkOverlap: 50, EnablePartitionPDF: true},
		GenerationParams: DefaultGenerationParams(),
		MaxResults:       10,
		Knowledge:        Knowledge{SourceURLs: []string{"https://example.com/a"}, SitemapURLs: []string{}, Filenames: []string{"規程.pdf"}},
		SyncStatus:       StatusSucceeded, SyncStatusReason: ReasonSucceeded, LastExecID: "abc",
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	b := sampleBot()
	b.PublicBotID = b.ID
	b.APIPublishmentStackName = "ApiPublishmentStack" + b.ID
	b.APIPublishedDatetime = 1715000000123
	b.APIPublishCodeBuildID = "build:1"
	item := b.Item()
	got, err := Decode(item)
	require.NoError(t, err)
	require.Same(t, item["Knowledge"], got.read.knowledge, "the sources as read, for UpdateStatus's condition")
	require.Same(t, item["EmbeddingParams"], got.read.embeddingParams)
	got.read = readState{}
	require.Equal(t, b, got)
}

func TestItemTypes(t *testing.T) {
	t.Parallel()
	item := sampleBot().Item()
	require.IsType(t, &types.AttributeValueMemberN{}, item["CreateTime"])
	require.IsType(t, &types.AttributeValueMemberBOOL{}, item["IsPinned"])
	require.IsType(t, &types.AttributeValueMemberNULL{}, item["ApiPublishmentStackName"])
	require.IsType(t, &types.AttributeValueMemberL{}, item["Knowledge"].(*types.AttributeValueMemberM).Value["filenames"])
	_, hasPublic := item["PublicBotId"]
	require.False(t, hasPublic, "PublicBotId is a GSI key: absent, never NULL, on private bots")
}

func TestDecodeAppliesAppDefaults(t *testing.T) {
	t.Parallel()
	item := sampleBot().Item()
	for _, a := range []string{"EmbeddingParams", "GenerationParams", "SearchParams", "DisplayRetrievedChunks", "ApiPublishmentStackName", "ApiPublishedDatetime", "ApiPublishCodeBuildId"} {
		delete(item, a)
	}
	b, err := Decode(item)
	require.NoError(t, err)
	require.Equal(t, EmbeddingParams{ChunkSize: 1000, ChunkOverlap: 200}, b.EmbeddingParams)
	require.Equal(t, DefaultGenerationParams(), b.GenerationParams)
	require.Equal(t, 20, b.MaxResults)
	require.False(t, b.DisplayRetrievedChunks)
	require.Equal(t, []string{"EmbeddingParams", "GenerationParams", "SearchParams", "DisplayRetrievedChunks"}, b.Legacy)

	// v0.4.6: EmbeddingParams without enable_partition_pdf.
	item = sampleBot().Item()
	delete(item["EmbeddingParams"].(*types.AttributeValueMemberM).Value, "enable_partition_pdf")
	b, err = Decode(item)
	require.NoError(t, err)
	require.Equal(t, EmbeddingParams{ChunkSize: 500, ChunkOverlap: 50}, b.EmbeddingParams)
	require.Equal(t, []string{"EmbeddingParams.enable_partition_pdf"}, b.Legacy)
}

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(Item)
		reason string
	}{
		{"GhostItem", func(it Item) {
			for k := range it {
				if k != "PK" && k != "SK" && k != "SyncStatus" && k != "SyncStatusReason" && k != "LastExecId" {
					delete(it, k)
				}
			}
		}, "missing required attribute Title"},
		{"NoKnowledge", func(it Item) { delete(it, "Knowledge") }, "missing required attribute Knowledge"},
		{"KnowledgeAsStringSet", func(it Item) {
			it["Knowledge"].(*types.AttributeValueMemberM).Value["filenames"] = &types.AttributeValueMemberSS{Value: []string{"a.pdf"}}
		}, "Knowledge.filenames: want L, got SS"},
		{"TitleAsNumber", func(it Item) { it["Title"] = &types.AttributeValueMemberN{Value: "7"} }, "Title: want S, got N"},
		{"UnknownStatus", func(it Item) { it["SyncStatus"] = &types.AttributeValueMemberS{Value: "ORIGINAL_NOT_FOUND"} }, `SyncStatus "ORIGINAL_NOT_FOUND"`},
		{"OverlapAboveSize", func(it Item) {
			it["EmbeddingParams"].(*types.AttributeValueMemberM).Value["chunk_overlap"] = &types.AttributeValueMemberN{Value: "900"}
		}, "chunk_overlap 900 is outside"},
		{"AliasKey", func(it Item) { it["SK"] = &types.AttributeValueMemberS{Value: "u#BOT_ALIAS#x"} }, "not a bot key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			item := sampleBot().Item()
			tt.mutate(item)
			_, err := Decode(item)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			require.Contains(t, de.Reason, tt.reason)
			require.Contains(t, de.Error(), `PK="0f4c3a52-6d31-4a6b-9a7e-2f1c0b8d9e10"`, "the error names the item's key")
		})
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	for sk, want := range map[string]Kind{
		"u#BOT#01H":       KindBot,
		"u#BOT_ALIAS#01H": KindAlias,
		"u#CONV#01H":      KindConversation,
		"u_01H":           KindOther,
	} {
		require.Equal(t, want, KindOf(sk), sk)
	}
}

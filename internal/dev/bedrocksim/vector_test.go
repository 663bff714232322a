package bedrocksim

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func TestEstimateTokens(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		text string
		want int
	}{
		{"Empty", "", 0},
		{"Whitespace", " \t\n ", 0},
		{"ShortWord", "a", 1},
		{"FourLetters", "abcd", 1},
		{"FiveLetters", "abcde", 2},
		{"Words", "hello world", 4},      // 2 + 2
		{"Punctuation", "Hi, there!", 5}, // hi , there !
		{"Digits", "2024-05-14", 5},      // 2024 - 05 - 14
		{"Japanese", "東京は日本の首都です。", 11},  // 10 kana/kanji + 。
		{"Korean", "안녕하세요", 5},
		{"Accented", "café", 1},
		{"Mixed", "GPU用の設定", 5}, // GPU + 用の設定
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, EstimateTokens(tt.text))
		})
	}
}

func TestTruncateTokens(t *testing.T) {
	t.Parallel()

	texts := []string{
		strings.Repeat("lorem ipsum dolor, sit amet. ", 80),
		strings.Repeat("東京は日本の首都です。", 60),
		strings.Repeat("abcdefghij", 300) + " tail",
	}
	for _, text := range texts {
		total := EstimateTokens(text)
		require.Greater(t, total, 100)
		for _, keepEnd := range []bool{false, true} {
			got := truncateTokens(text, 100, keepEnd)
			require.Equal(t, 100, EstimateTokens(got), "keepEnd=%v", keepEnd)
			if keepEnd {
				require.True(t, strings.HasSuffix(text, got))
			} else {
				require.True(t, strings.HasPrefix(text, got))
			}
		}
		require.Equal(t, text, truncateTokens(text, total, false))
	}
}

func TestVector(t *testing.T) {
	t.Parallel()

	t.Run("Deterministic", func(t *testing.T) {
		t.Parallel()
		a := Vector(ModelCohereMultilingual, "The quick brown fox", 1024)
		b := Vector(ModelCohereMultilingual, "The quick brown fox", 1024)
		require.Equal(t, a, b)
		require.Len(t, a, 1024)
		require.InDelta(t, 1.0, l2(a), 1e-5)
	})

	t.Run("DependsOnModelAndDims", func(t *testing.T) {
		t.Parallel()
		a := Vector(ModelCohereMultilingual, "The quick brown fox", 1024)
		b := Vector(ModelCohereEnglish, "The quick brown fox", 1024)
		require.NotEqual(t, a, b)
		require.Len(t, Vector(ModelTitanV2, "x", 256), 256)
		require.Nil(t, Vector(ModelTitanV2, "x", 0))
	})

	t.Run("EmptyIsFixedUnitVector", func(t *testing.T) {
		t.Parallel()
		a := Vector(ModelCohereEnglish, "", 1024)
		b := Vector(ModelCohereEnglish, "  \n\t ", 1024)
		require.Equal(t, a, b)
		require.InDelta(t, 1.0, l2(a), 1e-5)
	})

	t.Run("SimilarCloserThanUnrelated", func(t *testing.T) {
		t.Parallel()
		pairs := []struct {
			name, anchor, similar, unrelated string
		}{
			{
				name:      "English",
				anchor:    "How do I reset my account password?",
				similar:   "Steps to reset the password of your account",
				unrelated: "Quarterly revenue grew by five percent in Europe.",
			},
			{
				name:      "Japanese",
				anchor:    "パスワードをリセットする方法を教えてください。",
				similar:   "アカウントのパスワードをリセットする手順",
				unrelated: "第3四半期の売上は欧州で5%増加した。",
			},
		}
		for _, model := range []string{ModelCohereMultilingual, ModelTitanV2} {
			for _, p := range pairs {
				a := Vector(model, p.anchor, 1024)
				sim := cosine(a, Vector(model, p.similar, 1024))
				unrel := cosine(a, Vector(model, p.unrelated, 1024))
				require.Greater(t, sim, unrel+0.1, "%s %s: similar %.3f, unrelated %.3f", model, p.name, sim, unrel)
			}
		}
	})
}

func BenchmarkVector1KB(b *testing.B) {
	text := strings.Repeat("Retrieval-augmented generation needs embeddings. ", 21)[:1024]
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Vector(ModelCohereMultilingual, text, 1024)
	}
}

func BenchmarkVector1KBJapanese(b *testing.B) {
	text := strings.Repeat("検索拡張生成には埋め込みが必要です。", 20)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Vector(ModelCohereMultilingual, text, 1024)
	}
}

func BenchmarkEstimateTokens1KB(b *testing.B) {
	text := strings.Repeat("Retrieval-augmented generation needs embeddings. ", 21)[:1024]
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		EstimateTokens(text)
	}
}

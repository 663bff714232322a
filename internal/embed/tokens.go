package embed

import "unicode"

// CharsPerToken is the rule of thumb of the Cohere and Titan documentation,
// "1 token is about 4 characters". EstimateTokens applies it to words; plan's
// quick estimate, which has sizes but no text, applies it to characters.
const CharsPerToken = 4

// EstimateTokens estimates a subword tokenizer's count of text's input
// tokens: a word of letters, digits and marks costs a token per
// CharsPerToken characters, rounded up, while every CJK character (Han,
// kana, Hangul) and every punctuation mark or symbol costs one; whitespace
// is free. Latin text comes out near characters / 4; dense Chinese or
// Japanese near one token per character, which is why a 1000-character CJK
// chunk can pass Cohere's 512-token window (embedding-and-chunking.md §2).
//
// It is the tool's one estimator: plan's tokens and cost, the tokens the
// Batcher reports as spent (the run's actual cost), the tokens-per-minute
// budget and inspect's long chunks all count with it. The Bedrock contract
// server counts the same way (its own copy, as a test double should).
func EstimateTokens(text string) int {
	var n, word int
	for _, r := range text {
		switch {
		case unicode.IsSpace(r):
			n, word = n+wordTokens(word), 0
		case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) ||
			!unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r):
			n, word = n+wordTokens(word)+1, 0
		default:
			word++
		}
	}
	return n + wordTokens(word)
}

// wordTokens is the tokens of a word of n characters.
func wordTokens(n int) int { return (n + CharsPerToken - 1) / CharsPerToken }

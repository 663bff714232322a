package chunk

import (
	"strings"
	"unicode"
)

// The reference output came from CPython 3.11, whose Unicode database is
// version 14.0.0. Go 1.26's unicode package is version 15.0.0. The predicates
// below are what Python's str methods and the Unicode-aware classes of its
// re module (\s, \d, \w) mean, written with Go's tables and corrected by the
// code points on which the two versions disagree.
//
// The correction tables were derived by evaluating every code point in
// CPython 3.11.7 (str.isupper, str.islower, re '\d', re '[^\W\d]', str.isspace)
// and in Go 1.26 with the expressions used here, and keeping the code points
// that Go accepts and Python rejects (there were none the other way round).
// They are characters new in Unicode 15 (Kawi, Nag Mundari, CJK Extension H,
// Cyrillic Extended-D, ...) plus five older modifier letters that Unicode 15
// made Other_Lowercase. TestUnicodeVersion fails when Go's tables change, so
// that the tables get derived again.

// goUnicodeVersion is the version of Go's tables the corrections are for.
const goUnicodeVersion = "15.0.0"

// notLowerInPy are code points Go counts as Lowercase but CPython 3.11 does
// not (str.islower is false).
var notLowerInPy = &unicode.RangeTable{
	R16: []unicode.Range16{
		{Lo: 0x10FC, Hi: 0x10FC, Stride: 1},
		{Lo: 0xA7F2, Hi: 0xA7F4, Stride: 1},
		{Lo: 0xAB69, Hi: 0xAB69, Stride: 1},
	},
	R32: []unicode.Range32{
		{Lo: 0x1DF25, Hi: 0x1DF2A, Stride: 1},
		{Lo: 0x1E030, Hi: 0x1E06D, Stride: 1},
	},
}

// notDecimalInPy are code points Go counts as Nd but CPython 3.11's re does
// not match with \d.
var notDecimalInPy = &unicode.RangeTable{
	R32: []unicode.Range32{
		{Lo: 0x11F50, Hi: 0x11F59, Stride: 1},
		{Lo: 0x1E4F0, Hi: 0x1E4F9, Stride: 1},
	},
}

// notWordInPy are code points that Go's letter and number tables accept but
// CPython 3.11's re does not match with [^\W\d].
var notWordInPy = &unicode.RangeTable{
	R32: []unicode.Range32{
		{Lo: 0x1123F, Hi: 0x11240, Stride: 1},
		{Lo: 0x11F02, Hi: 0x11F02, Stride: 1},
		{Lo: 0x11F04, Hi: 0x11F10, Stride: 1},
		{Lo: 0x11F12, Hi: 0x11F33, Stride: 1},
		{Lo: 0x1342F, Hi: 0x1342F, Stride: 1},
		{Lo: 0x13441, Hi: 0x13446, Stride: 1},
		{Lo: 0x1B132, Hi: 0x1B132, Stride: 1},
		{Lo: 0x1B155, Hi: 0x1B155, Stride: 1},
		{Lo: 0x1D2C0, Hi: 0x1D2D3, Stride: 1},
		{Lo: 0x1DF25, Hi: 0x1DF2A, Stride: 1},
		{Lo: 0x1E030, Hi: 0x1E06D, Stride: 1},
		{Lo: 0x1E4D0, Hi: 0x1E4EB, Stride: 1},
		{Lo: 0x2B739, Hi: 0x2B739, Stride: 1},
		{Lo: 0x31350, Hi: 0x323AF, Stride: 1},
	},
}

// isPySpace reports whether str.isspace() is true for r, which is also what
// re's \s matches. In CPython 3.11 these are exactly 29 code points. Unlike
// unicode.IsSpace it includes U+001C..U+001F (the information separators).
func isPySpace(r rune) bool {
	switch {
	case r >= 0x09 && r <= 0x0D, r >= 0x1C && r <= 0x20:
		return true
	case r < 0x85:
		return false
	case r == 0x85, r == 0xA0, r == 0x1680,
		r >= 0x2000 && r <= 0x200A,
		r == 0x2028, r == 0x2029, r == 0x202F, r == 0x205F, r == 0x3000:
		return true
	}
	return false
}

// pyStrip is Python's str.strip() with no arguments.
func pyStrip(s string) string { return strings.TrimFunc(s, isPySpace) }

// pyRStrip is Python's str.rstrip() with no arguments.
func pyRStrip(s string) string { return strings.TrimRightFunc(s, isPySpace) }

// pyIsUpper is str.isupper() for a single character: the derived property
// Uppercase (Lu plus Other_Uppercase), not just category Lu.
func pyIsUpper(r rune) bool {
	return unicode.IsUpper(r) || unicode.Is(unicode.Other_Uppercase, r)
}

// pyIsLower is str.islower() for a single character: the derived property
// Lowercase (Ll plus Other_Lowercase), not just category Ll.
func pyIsLower(r rune) bool {
	return (unicode.IsLower(r) || unicode.Is(unicode.Other_Lowercase, r)) &&
		!unicode.Is(notLowerInPy, r)
}

// pyIsDecimal is re's \d in a str pattern: a decimal digit of any script.
func pyIsDecimal(r rune) bool {
	return unicode.Is(unicode.Nd, r) && !unicode.Is(notDecimalInPy, r)
}

// pyIsWordNotDigit is re's [^\W\d]: a \w character (alphanumeric in the
// sense of str.isalnum, or underscore) that is not a decimal digit.
func pyIsWordNotDigit(r rune) bool {
	if r < 0x80 {
		return r == '_' || (r|0x20 >= 'a' && r|0x20 <= 'z')
	}
	ok := unicode.IsLetter(r) || (unicode.IsNumber(r) && !unicode.Is(unicode.Nd, r))
	return ok && !unicode.Is(notWordInPy, r)
}

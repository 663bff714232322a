package loader_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/loader"
)

// The golden files in testdata/golden were made once by other tools (LibreOffice, qpdf,
// ghostscript, img2pdf, Python), not by this repository's code; testdata/golden/README.md says
// how. They check the readers against what real producers write.

func goldenRead(t testing.TB, name string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	require.NoError(t, err)
	return body
}

// goldenLoad reads a golden file through loader.File, as the migration does.
func goldenLoad(t *testing.T, name string) (loader.Document, error) {
	t.Helper()
	return loader.File("golden/"+name, name, goldenRead(t, name))
}

// requirePassages checks that the passages occur in text in the order given. White-space runs
// count as one space on both sides: PDF line wrapping differs from the source's.
func requirePassages(t *testing.T, text string, passages ...string) {
	t.Helper()
	inOrder(t, func(s string) string { return strings.Join(strings.Fields(s), " ") }, text, passages)
}

// requirePassagesCJK is requirePassages with all white space removed: Chinese and Japanese wrap
// between any two characters, and PDF writers space Latin runs within them as they like.
func requirePassagesCJK(t *testing.T, text string, passages ...string) {
	t.Helper()
	inOrder(t, func(s string) string { return strings.Join(strings.Fields(s), "") }, text, passages)
}

func inOrder(t *testing.T, norm func(string) string, text string, passages []string) {
	t.Helper()
	got := norm(text)
	pos := 0
	for _, p := range passages {
		want := norm(p)
		i := strings.Index(got[pos:], want)
		if i < 0 {
			where := "missing"
			if strings.Contains(got, want) {
				where = "out of order"
			}
			require.Failf(t, "passage "+where, "%q not found after byte %d of:\n%s", want, pos, text)
		}
		pos += i + len(want)
	}
}

// elements splits a document's text into its elements.
func elements(text string) []string { return strings.Split(text, "\n\n") }

func TestGoldenFiles(t *testing.T) {
	t.Parallel()
	reportPassages := []string{
		"Harrowgate Lighthouse Annual Report",
		"The Harrowgate lighthouse stood through eleven winter gales this year without a single night of darkness.",
		"in the brass-bound ledger kept on the second landing.",
		"This report summarises the maintenance work, the costs of the season and the plans for the coming spring,",
		"Work carried out",
		"Three tasks took most of the crew's time between October and February:",
		"Replacing the cracked storm pane on the lantern gallery.",
		"Regreasing the clockwork that turns the Fresnel lens.",
		"Repainting the red band that sailors use as a daymark.",
		"Costs of the season",
		"The table below lists every purchase above fifty pounds.",
		"Item Supplier Cost",
		"Storm pane Bellweather Glassworks £412",
		"Clockwork grease Quayside Chandlers £68",
		"Daymark paint Harbour Paint Company £137",
		"All three suppliers delivered within a fortnight of the order.",
		"Plans for the spring", // page 2 of the PDF
		"In April an electric motor will replace the clockwork rotation, ending one hundred and twelve years of hand winding.",
		"so that the new horn can be heard beyond the Mallory rocks.",
		"Signed, Agnes Pellow, principal keeper.",
	}
	tableRows := []string{
		"Item Supplier Cost",
		"Storm pane Bellweather Glassworks £412",
		"Clockwork grease Quayside Chandlers £68",
		"Daymark paint Harbour Paint Company £137",
	}
	bullets := []string{
		"Replacing the cracked storm pane on the lantern gallery.",
		"Regreasing the clockwork that turns the Fresnel lens.",
		"Repainting the red band that sailors use as a daymark.",
	}
	// samePDFText: a PDF that only adds encryption to report.pdf reads to the same text.
	samePDFText := func(t *testing.T, text string) {
		want, err := goldenLoad(t, "report.pdf")
		require.NoError(t, err)
		require.Equal(t, want.Text, text)
	}

	tests := []struct {
		name     string
		format   string
		passages []string
		cjk      bool // compare without white space
		check    func(t *testing.T, text string)
	}{
		{
			name: "report.docx", format: "docx", passages: reportPassages,
			check: func(t *testing.T, text string) {
				els := elements(text)
				// Headings, list items and table rows are elements of their own; a row's cells
				// are its text in column order.
				for _, want := range append(append([]string{"Harrowgate Lighthouse Annual Report", "Work carried out",
					"Costs of the season", "Plans for the spring"}, bullets...), tableRows...) {
					require.Contains(t, els, want)
				}
				require.Equal(t, "All three suppliers delivered within a fortnight of the order.", els[indexOf(t, els, tableRows[3])+1])
			},
		},
		{
			name: "report.pdf", format: "pdf", passages: reportPassages,
			check: func(t *testing.T, text string) {
				// Each table row is one line, its cells in column order.
				lines := strings.Split(text, "\n")
				for _, row := range tableRows {
					require.Contains(t, lines, row)
				}
				// The list came from a DOCX: its bullet is the Symbol font's U+F0B7, read as •,
				// and each item is a block of its own.
				els := elements(text)
				for _, b := range bullets {
					require.Contains(t, els, "• "+b)
				}
				require.Contains(t, els, "Plans for the spring")
			},
		},
		{name: "owner-only.pdf", format: "pdf", passages: reportPassages, check: samePDFText},           // RC4 128-bit, empty user password
		{name: "owner-only-aes128.pdf", format: "pdf", passages: reportPassages, check: samePDFText},    // AES-128, empty user password
		{name: "owner-only-aes256.pdf", format: "pdf", passages: reportPassages, check: samePDFText},    // AES-256 (R6), empty user password
		{name: "owner-only-aes256-r5.pdf", format: "pdf", passages: reportPassages, check: samePDFText}, // AES-256 (R5, Acrobat 9), empty user password
		{
			name: "budget.xlsx", format: "xlsx",
			passages: []string{
				"Quarterly Income",
				"Quarter Ferry tickets Harbour dues",
				"Q1 1250.5 310",
				"Q2 2875.25 445",
				"Total 4125.75 755", // SUM formulas: their cached values
				"Repairs Ledger",
				"Date Repair Cost",
				"45365 Replaced the slipway winch cable 980", // 2024-03-14 as its serial number
				"45414 Resurfaced the north pier steps 1640",
				"Status Over budget 1", // a string formula's value; a boolean LibreOffice stores as 1
				"Notes",
				"The harbour master approves every repair above five hundred pounds.",
				"Figures are provisional until the autumn audit.",
			},
			check: func(t *testing.T, text string) {
				els := elements(text)
				// Sheet names are elements of their own, in workbook order.
				i, j, k := indexOf(t, els, "Quarterly Income"), indexOf(t, els, "Repairs Ledger"), indexOf(t, els, "Notes")
				require.True(t, i < j && j < k)
				require.Equal(t, "Total 4125.75 755", els[j-1], "the last row of a sheet comes just before the next sheet's name")
				require.NotContains(t, text, "SUM(", "formulas are not text")
				require.NotContains(t, text, "IF(")
			},
		},
		{
			name: "deck.pptx", format: "pptx",
			passages: []string{
				"Welcome to the Tidewater Ferry Company",
				"Four crossings a day between Port Elspeth and Gull Island",
				"Bicycles travel free on every sailing",
				"Remind the audience that the morning crossing leaves at seven sharp.", // notes of slide 1
				"Our fleet of three vessels",
				"The Marigold carries ninety passengers",
				"The Sea Lantern carries six cars",
				"The Kittiwake is kept in reserve for winter storms",
				"Summer timetable changes",
				"An evening sailing is added on Fridays from June",
				"Season tickets go on sale on the first of May",
				"Mention that the Friday evening sailing was requested by the island school.", // notes of slide 3
				"Ask for questions before the break.",
			},
			check: func(t *testing.T, text string) {
				els := elements(text)
				// Titles, bullets and each notes paragraph are elements; the notes follow their
				// slide's text directly.
				require.Equal(t, "Remind the audience that the morning crossing leaves at seven sharp.",
					els[indexOf(t, els, "Bicycles travel free on every sailing")+1])
				require.Equal(t, "Ask for questions before the break.", els[len(els)-1])
				require.Len(t, els, 13, "3 titles, 7 bullets, 3 notes paragraphs")
			},
		},
		{
			name: "cjk.pdf", format: "pdf", cjk: true,
			passages: []string{
				// page 1: Japanese
				"灯台の年次報告",
				"港の灯台は今年、十一回の冬の嵐を乗り越え、一晩も明かりを絶やしませんでした。灯台守は嵐も修理も船も、すべて帳簿に記録しています。",
				"東京からの見学者は2024年に3,000人を超えました。",
				// page 2: Simplified Chinese
				"渡轮公司简介",
				"每天有四班渡轮往返于港口和海鸥岛之间，自行车在所有航班上均可免费携带。冬季风暴期间，备用船停靠在北码头。",
				"夏季时刻表从六月开始生效。",
				// page 3: Korean
				"등대 관리 보고서",
				"올해 등대는 열한 번의 겨울 폭풍을 견뎌냈으며 단 하룻밤도 불이 꺼지지 않았습니다. 등대지기들은 모든 폭풍을 장부에 적었습니다.",
				"봄에는 전기 모터로 교체됩니다.",
			},
			check: func(t *testing.T, text string) {
				// Korean separates words with spaces: they must survive.
				requirePassages(t, text,
					"등대 관리 보고서",
					"올해 등대는 열한 번의 겨울 폭풍을 견뎌냈으며 단 하룻밤도 불이 꺼지지 않았습니다.",
					"봄에는 전기 모터로 교체됩니다.")
				els := elements(text)
				for _, h := range []string{"灯台の年次報告", "渡轮公司简介", "등대 관리 보고서"} {
					require.Contains(t, els, h, "a heading is a block")
				}
			},
		},
		{
			name: "mixed-fonts.pdf", format: "pdf",
			passages: []string{
				"A Sampler of Typefaces",
				"This paragraph is set in Nimbus Roman. It mixes bold words, italic words and bold italic words in a single line of text.",
				"The sans paragraph orders a Café déjà vu, a crème brûlée and a piña colada at the naïve façade of the Smørrebrød bar in Łódź.",
				"Greek in the sans face: Καλημέρα κόσμε, η γρήγορη καφέ αλεπού. Russian too: Привет, мир.",
				"Serif text switches to a bold sans run and then to monospaced_code(x, y) before returning to serif.",
				`for ship in harbour.ships(): print(ship.name, "→", ship.berth)`,
				// The source types "ﬁnances" with the ligature character U+FB01, so LibreOffice's
				// ToUnicode maps the fi glyph to U+FB01 and it marks the fi ligatures it forms in
				// "fifty-five" with an /ActualText "fi".
				"Nimbus Roman sets the office’s “affluent” fjord ﬁnances: fifty-five fluffy waffles — priced at €12.50 each.",
				"C059 italic closes the sampler with a quiet coda.",
			},
			check: func(t *testing.T, text string) {
				require.NotContains(t, text, "ﬁfty", "the /ActualText of a ligature replaces its glyph's ToUnicode text")
			},
		},
		{
			name: "quoted-newlines.csv", format: "csv",
			passages: []string{
				"id vessel remark",
				"1 Marigold Runs the dawn crossing, weather permitting",
				"2 Sea Lantern Carries six cars, or four vans and a trailer",
				`3 Kittiwake Reserve vessel; "winter only"`,
			},
			check: func(t *testing.T, text string) {
				// One element per record: the quoted comma and line break stay inside theirs,
				// and the CRLF record ends are gone.
				require.Equal(t, []string{
					"id vessel remark",
					"1 Marigold Runs the dawn crossing, weather permitting",
					"2 Sea Lantern Carries six cars,\nor four vans and a trailer",
					`3 Kittiwake Reserve vessel; "winter only"`,
				}, elements(text))
				require.NotContains(t, text, "\r")
			},
		},
		{
			// pandoc's GitHub Markdown of report.docx: wrapped paragraphs, "-   " list items and
			// a pipe table whose header row is empty (the DOCX table has none).
			name: "report.md", format: "markdown", passages: reportPassages,
			check: func(t *testing.T, text string) {
				els := elements(text)
				for _, want := range append(append([]string{"Harrowgate Lighthouse Annual Report", "Work carried out",
					"The Harrowgate lighthouse stood through eleven winter gales this year without a single night of darkness. " +
						"Its keepers logged every storm, every repair and every passing ship in the brass-bound ledger kept on the second landing."},
					bullets...), tableRows...) {
					require.Contains(t, els, want, "wrapped lines join into their paragraph; items and rows are elements")
				}
				require.Equal(t, "The table below lists every purchase above fifty pounds.", els[indexOf(t, els, tableRows[0])-1],
					"the empty header row leaves no element")
				require.NotContains(t, text, "|")
				require.NotContains(t, text, "---")
			},
		},
		{
			// pandoc's plain text of report.docx: what a user exports to .txt.
			name: "report.txt", format: "text", passages: reportPassages,
		},
		{
			name: "nul-bytes.txt", format: "text",
			passages: []string{
				"Tide table for Port Elspeth",
				"High water at 06:42 and 19:05.",
				"Low water at 12:51; neap tides this week.",
			},
			check: func(t *testing.T, text string) {
				require.Equal(t, []string{
					"Tide table for Port Elspeth",
					"High water at 06:42 and 19:05.",
					"Low water at 12:51; neap tides this week.",
				}, elements(text))
			},
		},
		{
			name: "shift_jis.html", format: "html",
			passages: []string{
				"港の灯台について",
				"この灯台は明治時代に建てられ、今も毎晩、港に入る船を見守っています。",
				"見学は土曜日と日曜日の午前十時から午後四時までです。",
				"見学の注意",
				"① 階段は百二十段あります。", // ① is a Windows-31J extension of Shift_JIS
				"② 雨の日は展望台を閉鎖します。",
				"料金区分 金額",
				"大人 三百円",
				"子ども 百円",
			},
			check: func(t *testing.T, text string) {
				for _, dropped := range []string{"ホーム", "交通案内", "お問い合わせ窓口", "著作権表示", "灯台見学のご案内"} {
					require.NotContains(t, text, dropped, "navigation, footer and title are not content")
				}
				require.Equal(t, "港の灯台について", elements(text)[0])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := goldenLoad(t, tt.name)
			require.NoError(t, err)
			require.Equal(t, "golden/"+tt.name, doc.Source)
			require.Equal(t, tt.format, doc.Format)
			text := doc.Text
			require.True(t, utf8.ValidString(text))
			require.NotContains(t, text, "\x00")
			require.NotContains(t, text, "\uFFFD", "undecodable characters")
			require.NotContains(t, text, "\n\n\n", "elements are separated by exactly one blank line")
			require.Equal(t, strings.TrimSpace(text), text)
			for _, r := range text {
				require.False(t, unicode.Is(unicode.Co, r), "private-use character %U", r)
			}
			if tt.cjk {
				requirePassagesCJK(t, text, tt.passages...)
			} else {
				requirePassages(t, text, tt.passages...)
			}
			if tt.check != nil {
				tt.check(t, text)
			}
		})
	}
}

// TestGoldenFileErrors: files a reader cannot use fail with an error naming the source and the
// cause.
func TestGoldenFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want error
		msg  string // the whole message after "golden/<name>: "
	}{
		// Two pages rendered at 100 dpi by ghostscript, wrapped as images by img2pdf.
		{"scanned.pdf", loader.ErrPDFNoText, "no text layer (a scanned PDF?): OCR is not supported"},
		// qpdf with a user password: AES-256 (R6) and AES-128 (R4).
		{"encrypted.pdf", loader.ErrPDFEncrypted, "encrypted PDF: it opens only with a password, which ragmigrate does not take; upload an unprotected copy"},
		{"encrypted-aes128.pdf", loader.ErrPDFEncrypted, "encrypted PDF: it opens only with a password, which ragmigrate does not take; upload an unprotected copy"},
		// The first 60 % of report.pdf's bytes: no trailer, no cross-reference table.
		{"truncated.pdf", loader.ErrPDFCorrupt, "corrupt PDF: not a PDF file: missing %%EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := goldenLoad(t, tt.name)
			require.ErrorIs(t, err, tt.want)
			require.Equal(t, "golden/"+tt.name+": "+tt.msg, err.Error())
			var se *loader.SourceError
			require.True(t, errors.As(err, &se))
			require.Equal(t, "golden/"+tt.name, se.Source)
			require.Empty(t, doc.Text)
		})
	}
}

func indexOf(t *testing.T, els []string, s string) int {
	t.Helper()
	for i, e := range els {
		if e == s {
			return i
		}
	}
	require.Failf(t, "element missing", "%q is not an element of %q", s, els)
	return -1
}

// TestPDFActualText covers what the golden mixed-fonts.pdf does not: the other text-string
// encodings, an empty ActualText, spans over several strings, nesting and spans without one.
func TestPDFActualText(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, content, want string }{
		{"PDFDocEncoding", `(A) Tj /Span <</ActualText (\204)>> BDC (X) Tj (Y) Tj EMC (ne) Tj`, "A—ne"},
		{"UTF16", `(e) Tj /Span <</Lang (en) /ActualText <FEFF00660069>>> BDC (\001) Tj EMC (ne) Tj`, "efine"},
		{"Empty", `(co) Tj /Span <</ActualText ()>> BDC (-) Tj EMC (operate) Tj`, "cooperate"},
		{"Nested", `/Span <</ActualText (AB)>> BDC /Artifact BMC (x) Tj EMC (y) Tj EMC (C) Tj`, "ABC"},
		{"NoActualText", `/P <</MCID 0>> BDC (Hello) Tj EMC ( world) Tj`, "Hello world"},
		{"Unbalanced", `EMC (Hello) Tj /Span <</ActualText (!)>> BDC ( world) Tj`, "Hello!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text, err := loader.PDF(pdfMinimal("BT /F1 12 Tf 72 720 Td "+tt.content+" ET", ""))
			require.NoError(t, err)
			require.Equal(t, tt.want, text)
		})
	}
}

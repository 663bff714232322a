package corpus

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Section is one titled part of a Document: a slide in PPTX, a sheet in XLSX.
type Section struct {
	Heading string
	// Paragraphs are plain text; one starting with "- " is a bullet item.
	Paragraphs []string
	// Table is optional; its first row is the header. Cells may contain newlines.
	Table [][]string
	// Notes are optional speaker notes, written to PPTX only.
	Notes string
}

// Document is a generated knowledge document.
type Document struct {
	Title string
	Lang  string // BCP 47 primary language subtag, one of Languages()
	// Sections are never empty; the last one always holds a data table.
	Sections []Section
}

// Languages returns the languages of the corpus in the order Generate cycles
// through them: English, French, German, Spanish, Japanese, Simplified
// Chinese and Korean.
func Languages() []string { return slices.Clone(languages) }

// Generate returns document n of the corpus for seed. The same inputs always
// give an identical document. Any len(Languages()) consecutive documents
// cover every language. Sizes vary: every fifth document (n%5 == 4) combines
// all the material of its language with a long data table and runs to three
// or more PDF pages.
func Generate(seed int64, n int) Document {
	d, _ := generate(seed, n)
	return d
}

func generate(seed int64, n int) (Document, source) {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(int64(n))^0x9e3779b97f4a7c15))
	k := len(languages)
	lang := languages[((n%k+k)%k+int(uint64(seed)%uint64(k)))%k]
	srcs := sources()[lang]
	src := srcs[rng.IntN(len(srcs))]

	var secs []Section
	rows := 0
	switch size := rng.IntN(3); {
	case n%5 == 4: // long: the whole language
		secs = cloneSections(src.sections)
		for _, other := range srcs {
			if other.theme != src.theme {
				secs = append(secs, cloneSections(other.sections)...)
			}
		}
		rows = 110 + rng.IntN(40)
	case size == 0: // short: the first section and one or two others
		secs = cloneSections(src.sections[:1])
		rest := src.sections[1:]
		keep := rng.Perm(len(rest))[:1+rng.IntN(min(2, len(rest)))]
		slices.Sort(keep)
		for _, i := range keep {
			secs = append(secs, cloneSections(rest[i:i+1])...)
		}
		rows = 4 + rng.IntN(5)
	default: // medium: the whole source, a paragraph dropped here and there
		secs = cloneSections(src.sections)
		for i := range secs {
			if p := secs[i].Paragraphs; len(p) >= 3 && rng.IntN(4) == 0 {
				j := 1 + rng.IntN(len(p)-1)
				secs[i].Paragraphs = slices.Delete(p, j, j+1)
			}
		}
		rows = 8 + rng.IntN(8)
	}
	secs = append(secs, appendix(rng, lang, rows))
	if !slices.ContainsFunc(secs, func(s Section) bool { return s.Notes != "" }) {
		secs[0].Notes = loc[lang].notes + " " + secs[0].Heading
	}
	l := loc[lang]
	sep := " "
	if lang == "ja" || lang == "zh" {
		sep = "" // the suffix starts with a full-width parenthesis
	}
	title := src.title + sep + fmt.Sprintf(l.revision, 1+rng.IntN(4), rng.IntN(10))
	return Document{Title: title, Lang: lang, Sections: secs}, src
}

func cloneSections(in []Section) []Section {
	out := make([]Section, len(in))
	for i, s := range in {
		s.Paragraphs = slices.Clone(s.Paragraphs)
		s.Table = cloneTable(s.Table)
		out[i] = s
	}
	return out
}

func cloneTable(t [][]string) [][]string {
	if t == nil {
		return nil
	}
	out := make([][]string, len(t))
	for i, r := range t {
		out[i] = slices.Clone(r)
	}
	return out
}

// locale holds the generated parts of a document in one language.
type locale struct {
	revision string // title suffix, formatted with major and minor revision
	notes    string // speaker-notes prefix when a document has none
	heading  string // appendix heading
	intro    string // appendix paragraph
	header   []string
	sites    []string
	items    []string
	comments []string
	// tricky is the comment of the first row: a comma, a quote and a newline,
	// so that every CSV has a field that needs quoting.
	tricky string
}

var loc = map[string]locale{
	"en": {
		revision: "(rev. %d.%d)", notes: "Key points for this slide:",
		heading: "Appendix A: Shipment log",
		intro:   "The table lists the shipments recorded for this period. Amounts are net, in euros; quantities are units.",
		header:  []string{"Date", "Site", "Item", "Qty", "Amount (EUR)", "Comment"},
		sites:   []string{"Dublin", "Lisbon", "Leeds", "Boston", "Cork"},
		items:   []string{"Nimbus N3 purifier", "F3 HEPA filter", "Pre-filter pack", "Wall bracket", "Replacement cable"},
		comments: []string{"", "", "Delivered on time", "Partial delivery", "Invoice pending",
			"Customer asked for a callback", "Damaged box, contents OK"},
		tricky: "Checked by \"Ops\", see ticket\nOPS-1423",
	},
	"fr": {
		revision: "(rév. %d.%d)", notes: "Points clés de cette diapositive :",
		heading: "Annexe A : Journal des expéditions",
		intro:   "Le tableau récapitule les expéditions de la période. Les montants sont hors taxes, en euros ; le suivi des reçus est mis en œuvre par la logistique.",
		header:  []string{"Date", "Site", "Article", "Qté", "Montant (EUR)", "Commentaire"},
		sites:   []string{"Lyon", "Nantes", "Bordeaux", "Lille", "Genève"},
		items:   []string{"Purificateur Nimbus N3", "Filtre HEPA F3", "Lot de préfiltres", "Support mural", "Câble de rechange"},
		comments: []string{"", "", "Livré à l'heure", "Livraison partielle", "Facture en attente",
			"Client à rappeler", "Carton abîmé, contenu intact", "Reçu par la sœur du client"},
		tricky: "Vérifié par « Ops », voir le \"ticket\"\nOPS-1423",
	},
	"de": {
		revision: "(Fassung %d.%d)", notes: "Kernaussagen dieser Folie:",
		heading: "Anhang A: Versandprotokoll",
		intro:   "Die Tabelle zeigt die Lieferungen des Zeitraums. Beträge netto in Euro, Mengen in Stück, gemäß Lieferschein.",
		header:  []string{"Datum", "Standort", "Artikel", "Menge", "Betrag (EUR)", "Bemerkung"},
		sites:   []string{"München", "Köln", "Düsseldorf", "Graz", "Zürich"},
		items:   []string{"Luftreiniger Nimbus N3", "HEPA-Filter F3", "Vorfilter-Set", "Wandhalterung", "Ersatzkabel"},
		comments: []string{"", "", "Pünktlich geliefert", "Teillieferung", "Rechnung offen",
			"Rückruf gewünscht", "Karton beschädigt, Inhalt in Ordnung", "Übergabe an der Straße"},
		tricky: "Geprüft von \"Ops\", siehe Ticket\nOPS-1423",
	},
	"es": {
		revision: "(rev. %d.%d)", notes: "Ideas clave de esta diapositiva:",
		heading: "Anexo A: Registro de envíos",
		intro:   "La tabla recoge los envíos del periodo. Los importes son netos, en euros, del año en curso.",
		header:  []string{"Fecha", "Sede", "Artículo", "Cant.", "Importe (EUR)", "Comentario"},
		sites:   []string{"Madrid", "Barcelona", "A Coruña", "Logroño", "Málaga"},
		items:   []string{"Purificador Nimbus N3", "Filtro HEPA F3", "Pack de prefiltros", "Soporte de pared", "Cable de repuesto"},
		comments: []string{"", "", "Entregado a tiempo", "Entrega parcial", "Factura pendiente",
			"El cliente pide que le llamen mañana", "Caja dañada, contenido en buen estado"},
		tricky: "Revisado por \"Ops\", ver incidencia\nOPS-1423",
	},
	"ja": {
		revision: "（第%d.%d版）", notes: "このスライドの要点：",
		heading:  "付録A：出荷記録",
		intro:    "この表は、対象期間の出荷実績をまとめたものです。金額は税抜き（円）です。",
		header:   []string{"日付", "拠点", "品目", "数量", "金額（円）", "備考"},
		sites:    []string{"東京", "大阪", "名古屋", "福岡", "札幌"},
		items:    []string{"Nimbus N3 本体", "F3 HEPAフィルター", "プレフィルター", "壁掛け金具", "交換用コード"},
		comments: []string{"", "", "予定どおり納品", "分納", "請求書未着", "折り返し電話希望", "外箱破損、中身は問題なし"},
		tricky:   "「Ops」確認済み, \"OPS-1423\"参照\n再送予定",
	},
	"zh": {
		revision: "（第%d.%d版）", notes: "本页要点：",
		heading:  "附录A：发货记录",
		intro:    "下表汇总了本期的发货情况。金额为不含税金额，单位为元。",
		header:   []string{"日期", "网点", "品名", "数量", "金额（元）", "备注"},
		sites:    []string{"上海", "北京", "广州", "深圳", "成都"},
		items:    []string{"Nimbus N3 净化器", "F3 HEPA滤网", "初效滤网套装", "壁挂支架", "备用电源线"},
		comments: []string{"", "", "按时送达", "部分发货", "发票待开", "客户要求回电", "外箱破损，内件完好"},
		tricky:   "已由\"运维\"核对, 见工单\nOPS-1423",
	},
	"ko": {
		revision: "(개정 %d.%d판)", notes: "이 슬라이드의 핵심:",
		heading:  "부록 A: 출고 기록",
		intro:    "이 표는 해당 기간의 출고 내역입니다. 금액은 부가세 별도이며 단위는 원입니다.",
		header:   []string{"날짜", "거점", "품목", "수량", "금액(원)", "비고"},
		sites:    []string{"서울", "부산", "인천", "대구", "광주"},
		items:    []string{"Nimbus N3 본체", "F3 HEPA 필터", "프리필터 세트", "벽걸이 브래킷", "교체용 전원 코드"},
		comments: []string{"", "", "정시 배송", "부분 출고", "세금계산서 대기", "고객 회신 요청", "외부 상자 파손, 내용물 이상 없음"},
		tricky:   "\"운영팀\" 확인, 티켓 참조\nOPS-1423",
	},
}

// appendix is the generated data table that ends every document: dates,
// integers and decimals (numbers in XLSX) and free-text comments.
func appendix(rng *rand.Rand, lang string, rows int) Section {
	l := loc[lang]
	t := [][]string{slices.Clone(l.header)}
	yen := lang == "ja" || lang == "ko"
	month := 1 + rng.IntN(12)
	for i := range rows {
		qty := 1 + rng.IntN(60)
		var amount string
		if yen {
			amount = fmt.Sprint(qty * (1980 + 100*rng.IntN(300)))
		} else {
			amount = fmt.Sprintf("%d.%02d", qty*(19+rng.IntN(300)), rng.IntN(100))
		}
		comment := l.comments[rng.IntN(len(l.comments))]
		if i == 0 {
			comment = l.tricky
		}
		t = append(t, []string{
			fmt.Sprintf("2024-%02d-%02d", month, 1+(i*28/max(rows, 1))),
			l.sites[rng.IntN(len(l.sites))],
			l.items[rng.IntN(len(l.items))],
			fmt.Sprint(qty),
			amount,
			comment,
		})
	}
	return Section{Heading: l.heading, Paragraphs: []string{l.intro}, Table: t}
}

// PlainText returns roughly what a text extractor gets back from any
// encoding: the title, headings, paragraphs and table rows (cells separated
// by a tab, newlines inside cells replaced by spaces), blocks separated by
// blank lines. Speaker notes are left out.
func (d Document) PlainText() string {
	var b strings.Builder
	b.WriteString(d.Title)
	b.WriteString("\n")
	for _, s := range d.Sections {
		b.WriteString("\n")
		b.WriteString(s.Heading)
		b.WriteString("\n")
		for _, p := range s.Paragraphs {
			b.WriteString("\n")
			b.WriteString(p)
			b.WriteString("\n")
		}
		if len(s.Table) > 0 {
			b.WriteString("\n")
			for _, row := range s.Table {
				cells := make([]string, len(row))
				for i, c := range row {
					cells[i] = strings.ReplaceAll(c, "\n", " ")
				}
				b.WriteString(strings.Join(cells, "\t"))
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

// bullet reports whether p is a bullet item and returns its text.
func bullet(p string) (string, bool) { return strings.CutPrefix(p, "- ") }

// tables returns the non-empty tables of d, rows padded to the width of the
// widest row so that every encoder sees a rectangle.
func (d Document) tables() [][][]string {
	var out [][][]string
	for _, s := range d.Sections {
		if t := rectangle(s.Table); t != nil {
			out = append(out, t)
		}
	}
	return out
}

func rectangle(t [][]string) [][]string {
	if len(t) == 0 {
		return nil
	}
	w := 0
	for _, r := range t {
		w = max(w, len(r))
	}
	out := make([][]string, len(t))
	for i, r := range t {
		out[i] = make([]string, w)
		copy(out[i], r)
	}
	return out
}

// langTag returns the language with a region, as Office and HTML like it.
func langTag(lang string) string {
	switch lang {
	case "en":
		return "en-US"
	case "fr":
		return "fr-FR"
	case "de":
		return "de-DE"
	case "es":
		return "es-ES"
	case "ja":
		return "ja-JP"
	case "zh":
		return "zh-CN"
	case "ko":
		return "ko-KR"
	}
	return "en-US"
}

// eastAsian reports whether lang is written mostly with CJK or Hangul.
func eastAsian(lang string) bool { return lang == "ja" || lang == "zh" || lang == "ko" }

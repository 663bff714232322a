package corpus

import (
	"fmt"
	"strings"
)

const wNS = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`

// encodeDOCX writes d as a WordprocessingML package: Title and Heading1
// styled paragraphs, bullet items through numbering.xml, tables as w:tbl.
func encodeDOCX(d Document) ([]byte, error) {
	var b strings.Builder
	b.WriteString(xmlHeader)
	b.WriteString(`<w:document ` + wNS + `><w:body>`)
	docxPara(&b, "Title", false, d.Title)
	for _, s := range d.Sections {
		docxPara(&b, "Heading1", false, s.Heading)
		for _, p := range s.Paragraphs {
			if item, ok := bullet(p); ok {
				docxPara(&b, "ListParagraph", false, item)
				continue
			}
			docxPara(&b, "", false, p)
		}
		if t := rectangle(s.Table); t != nil {
			docxTable(&b, t)
			docxPara(&b, "", false, "") // Word puts a paragraph after every table
		}
	}
	b.WriteString(`<w:sectPr><w:pgSz w:w="11906" w:h="16838"/>` +
		`<w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440" w:header="708" w:footer="708" w:gutter="0"/>` +
		`</w:sectPr></w:body></w:document>`)

	const ct = "application/vnd.openxmlformats-officedocument.wordprocessingml."
	return zipParts([]part{
		{"[Content_Types].xml", contentTypes([][2]string{
			{"word/document.xml", ct + "document.main+xml"},
			{"word/styles.xml", ct + "styles+xml"},
			{"word/numbering.xml", ct + "numbering+xml"},
			{"docProps/core.xml", ctCore},
			{"docProps/app.xml", ctApp},
		})},
		{"_rels/.rels", packageRels("word/document.xml")},
		{"word/document.xml", b.String()},
		{"word/_rels/document.xml.rels", relationships([]rel{
			{"rId1", "styles", "styles.xml"},
			{"rId2", "numbering", "numbering.xml"},
		})},
		{"word/styles.xml", docxStyles(d.Lang)},
		{"word/numbering.xml", docxNumbering},
		{"docProps/core.xml", coreProps(d)},
		{"docProps/app.xml", appProps("Microsoft Office Word")},
	})
}

// docxPara writes one paragraph; newlines in text become line breaks.
func docxPara(b *strings.Builder, style string, bold bool, text string) {
	b.WriteString(`<w:p>`)
	if style != "" {
		b.WriteString(`<w:pPr><w:pStyle w:val="` + style + `"/>`)
		if style == "ListParagraph" {
			b.WriteString(`<w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>`)
		}
		b.WriteString(`</w:pPr>`)
	}
	if text != "" {
		b.WriteString(`<w:r>`)
		if bold {
			b.WriteString(`<w:rPr><w:b/></w:rPr>`)
		}
		for i, line := range strings.Split(text, "\n") {
			if i > 0 {
				b.WriteString(`<w:br/>`)
			}
			b.WriteString(`<w:t xml:space="preserve">` + xmlEscape(line) + `</w:t>`)
		}
		b.WriteString(`</w:r>`)
	}
	b.WriteString(`</w:p>`)
}

func docxTable(b *strings.Builder, t [][]string) {
	const textWidth = 9026 // twips between the margins of an A4 page
	n := len(t[0])
	colW := textWidth / n
	b.WriteString(`<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/><w:tblW w:w="0" w:type="auto"/>` +
		`<w:tblLook w:val="04A0" w:firstRow="1" w:lastRow="0" w:firstColumn="1" w:lastColumn="0" w:noHBand="0" w:noVBand="1"/></w:tblPr><w:tblGrid>`)
	for range n {
		fmt.Fprintf(b, `<w:gridCol w:w="%d"/>`, colW)
	}
	b.WriteString(`</w:tblGrid>`)
	for i, row := range t {
		b.WriteString(`<w:tr>`)
		if i == 0 {
			b.WriteString(`<w:trPr><w:tblHeader/></w:trPr>`)
		}
		for _, c := range row {
			fmt.Fprintf(b, `<w:tc><w:tcPr><w:tcW w:w="%d" w:type="dxa"/></w:tcPr>`, colW)
			docxPara(b, "", i == 0, c)
			b.WriteString(`</w:tc>`)
		}
		b.WriteString(`</w:tr>`)
	}
	b.WriteString(`</w:tbl>`)
}

func docxStyles(lang string) string {
	langAttr := `w:val="` + langTag(lang) + `" w:eastAsia="ja-JP"`
	if eastAsian(lang) {
		langAttr = `w:val="en-US" w:eastAsia="` + langTag(lang) + `"`
	}
	return xmlHeader + `<w:styles ` + wNS + `>` +
		`<w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii="Calibri" w:hAnsi="Calibri" w:eastAsia="Yu Gothic" w:cs="Arial"/>` +
		`<w:sz w:val="22"/><w:szCs w:val="22"/><w:lang ` + langAttr + ` w:bidi="ar-SA"/></w:rPr></w:rPrDefault>` +
		`<w:pPrDefault><w:pPr><w:spacing w:after="160" w:line="259" w:lineRule="auto"/></w:pPr></w:pPrDefault></w:docDefaults>` +
		`<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/><w:qFormat/></w:style>` +
		`<w:style w:type="character" w:default="1" w:styleId="DefaultParagraphFont"><w:name w:val="Default Paragraph Font"/><w:uiPriority w:val="1"/><w:semiHidden/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/>` +
		`<w:pPr><w:spacing w:after="240"/><w:contextualSpacing/></w:pPr><w:rPr><w:rFonts w:ascii="Calibri Light" w:hAnsi="Calibri Light"/><w:kern w:val="28"/><w:sz w:val="56"/><w:szCs w:val="56"/></w:rPr></w:style>` +
		`<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/>` +
		`<w:pPr><w:keepNext/><w:keepLines/><w:spacing w:before="360" w:after="120"/><w:outlineLvl w:val="0"/></w:pPr>` +
		`<w:rPr><w:b/><w:bCs/><w:color w:val="2F5496"/><w:sz w:val="32"/><w:szCs w:val="32"/></w:rPr></w:style>` +
		`<w:style w:type="paragraph" w:styleId="ListParagraph"><w:name w:val="List Paragraph"/><w:basedOn w:val="Normal"/><w:qFormat/>` +
		`<w:pPr><w:ind w:left="720"/><w:contextualSpacing/></w:pPr></w:style>` +
		`<w:style w:type="table" w:default="1" w:styleId="TableNormal"><w:name w:val="Normal Table"/><w:semiHidden/>` +
		`<w:tblPr><w:tblInd w:w="0" w:type="dxa"/><w:tblCellMar><w:top w:w="0" w:type="dxa"/><w:left w:w="108" w:type="dxa"/>` +
		`<w:bottom w:w="0" w:type="dxa"/><w:right w:w="108" w:type="dxa"/></w:tblCellMar></w:tblPr></w:style>` +
		`<w:style w:type="table" w:styleId="TableGrid"><w:name w:val="Table Grid"/><w:basedOn w:val="TableNormal"/>` +
		`<w:pPr><w:spacing w:after="0" w:line="240" w:lineRule="auto"/></w:pPr><w:tblPr><w:tblBorders>` +
		`<w:top w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:left w:val="single" w:sz="4" w:space="0" w:color="auto"/>` +
		`<w:bottom w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:right w:val="single" w:sz="4" w:space="0" w:color="auto"/>` +
		`<w:insideH w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:insideV w:val="single" w:sz="4" w:space="0" w:color="auto"/>` +
		`</w:tblBorders></w:tblPr></w:style>` +
		`</w:styles>`
}

const docxNumbering = xmlHeader + `<w:numbering ` + wNS + `>` +
	`<w:abstractNum w:abstractNumId="0"><w:multiLevelType w:val="hybridMultilevel"/>` +
	`<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="bullet"/><w:lvlText w:val="•"/><w:lvlJc w:val="left"/>` +
	`<w:pPr><w:ind w:left="720" w:hanging="360"/></w:pPr></w:lvl>` +
	`</w:abstractNum><w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num></w:numbering>`

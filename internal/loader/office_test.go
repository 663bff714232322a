package loader_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/loader"
)

// officePassages are the texts an Office reader must find, in order. DOCX starts with the
// title; XLSX has a sheet per section, named after its heading; PPTX a slide per section,
// followed by its notes.
func officePassages(t *testing.T, d corpus.Document, ext string, body []byte) []string {
	t.Helper()
	var sheets []string
	if ext == ".xlsx" {
		sheets = sheetNames(t, body)
		require.Len(t, sheets, len(d.Sections))
	}
	var out []string
	if ext == ".docx" {
		out = append(out, d.Title)
	}
	for i, s := range d.Sections {
		if ext == ".xlsx" {
			out = append(out, sheets[i])
		}
		out = append(out, s.Heading)
		for _, p := range s.Paragraphs {
			out = append(out, strings.TrimPrefix(p, "- "))
		}
		for _, row := range s.Table {
			for _, c := range row {
				if c != "" {
					out = append(out, c)
				}
			}
		}
		if ext == ".pptx" && s.Notes != "" {
			out = append(out, s.Notes)
		}
	}
	return out
}

// sheetNames reads the sheet names of a workbook the way Excel shows them, independently of
// the loader.
func sheetNames(t *testing.T, xlsx []byte) []string {
	t.Helper()
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
		} `xml:"sheets>sheet"`
	}
	require.NoError(t, xml.Unmarshal(readPart(t, xlsx, "xl/workbook.xml"), &wb))
	var names []string
	for _, s := range wb.Sheets {
		names = append(names, s.Name)
	}
	return names
}

func readPart(t testing.TB, pkg []byte, name string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	require.NoError(t, err)
	rc, err := zr.Open(name)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

// zipOf writes parts (name, content, name, content, …) into a zip package, deflated.
func zipOf(t testing.TB, parts ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(parts); i += 2 {
		w, err := zw.Create(parts[i])
		require.NoError(t, err)
		_, err = io.WriteString(w, parts[i+1])
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// replacePart rewrites one part of a package, keeping the others and their order.
func replacePart(t *testing.T, pkg []byte, name string, edit func([]byte) []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	require.NoError(t, err)
	var parts []string
	for _, f := range zr.File {
		b := readPart(t, pkg, f.Name)
		if f.Name == name {
			b = edit(b)
		}
		parts = append(parts, f.Name, string(b))
	}
	return zipOf(t, parts...)
}

func TestOfficeFormatsFromCorpus(t *testing.T) {
	t.Parallel()
	for n := range 14 { // two of each language
		d := corpus.Generate(1, n)
		for _, ext := range []string{".docx", ".xlsx", ".pptx"} {
			t.Run(fmt.Sprintf("%d%s", n, strings.ToUpper(ext[1:2])+ext[2:]), func(t *testing.T) {
				t.Parallel()
				body, err := corpus.Encode(d, ext)
				require.NoError(t, err)
				doc, err := loader.File("s3://b/k"+ext, "Doc"+strings.ToUpper(ext), body)
				require.NoError(t, err, "extensions are case-insensitive")
				require.Equal(t, "s3://b/k"+ext, doc.Source)
				require.Equal(t, ext[1:], doc.Format)
				requireInOrder(t, doc.Text, officePassages(t, d, ext, body))
				require.NotContains(t, doc.Text, "\n\n\n", "elements are joined by exactly one blank line")
				require.NotContains(t, doc.Text, "<", "no markup")
				require.NotContains(t, doc.Text, "Click to edit Master", "master and layout text is not the slides' text")
			})
		}
	}
}

func TestDOCXStructure(t *testing.T) {
	t.Parallel()
	const w = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" ` +
		`xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"`
	document := `<?xml version="1.0" encoding="UTF-8"?><w:document ` + w + `><w:body>` +
		`<w:p><w:pPr><w:pStyle w:val="Heading1"/><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr><w:r><w:t>Kapitel</w:t></w:r></w:p>` +
		`<w:p><w:r><w:t xml:space="preserve">Name:</w:t><w:tab/><w:t>Wert</w:t><w:br/><w:t>zweite Zeile</w:t></w:r>` +
		`<w:del><w:r><w:delText>gelöscht</w:delText></w:r></w:del><w:r><w:instrText>PAGE</w:instrText></w:r></w:p>` +
		`<w:p/><w:p><w:r><w:t>  </w:t></w:r></w:p>` +
		`<w:sdt><w:sdtPr><w:alias w:val="Ort"/></w:sdtPr><w:sdtContent><w:p><w:r><w:t>Im Steuerelement</w:t></w:r></w:p></w:sdtContent></w:sdt>` +
		`<w:sdt><w:sdtPr><w:showingPlcHdr/></w:sdtPr><w:sdtContent><w:p><w:r><w:t>Klicken Sie hier</w:t></w:r></w:p></w:sdtContent></w:sdt>` +
		`<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent><w:p><w:r><w:t>Textfeld</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice>` +
		`<mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>Textfeld</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r><w:r><w:t>Anker</w:t></w:r></w:p>` +
		`<w:tbl><w:tblPr/><w:tr><w:tc><w:p><w:r><w:t>A1</w:t></w:r></w:p></w:tc><w:tc><w:p/></w:tc><w:tc><w:p><w:r><w:t>C1</w:t></w:r></w:p><w:p><w:r><w:t>C1b</w:t></w:r></w:p></w:tc></w:tr>` +
		`<w:tr><w:tc><w:tbl><w:tr><w:tc><w:p><w:r><w:t>x</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>y</w:t></w:r></w:p></w:tc></w:tr></w:tbl><w:p><w:r><w:t>nach</w:t></w:r></w:p></w:tc>` +
		`<w:sdt><w:sdtContent><w:tc><w:p><w:r><w:t>B2</w:t></w:r></w:p></w:tc></w:sdtContent></w:sdt></w:tr></w:tbl>` +
		`<w:p><w:r><w:t>Ende &amp; aus</w:t></w:r></w:p><w:sectPr/></w:body></w:document>`
	body := zipOf(t,
		"_rels/.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`+
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="/word/main%20doc.xml"/></Relationships>`,
		"word/main doc.xml", document)
	doc, err := loader.File("s", "a.docx", body)
	require.NoError(t, err)
	require.Equal(t, strings.Join([]string{
		"Kapitel",
		"Name:\tWert\nzweite Zeile",
		"Im Steuerelement",
		"Textfeld", // a text box comes before the paragraph anchoring it, once
		"Anker",
		"A1 C1\nC1b",
		"x y\nnach B2",
		"Ende & aus",
	}, "\n\n"), doc.Text)
}

func TestXLSXValues(t *testing.T) {
	t.Parallel()
	const s = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	const rt = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
	body := zipOf(t,
		"_rels/.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`+
			`<Relationship Id="rId1" Type="`+rt+`officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml", `<workbook `+s+`><sheets><sheet name="Zuerst" sheetId="2" r:id="rId2"/><sheet name="Leer" sheetId="3" r:id="rId3"/>`+
			`<sheet name="Danach" sheetId="1" r:id="rId1" state="hidden"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`+
			`<Relationship Id="rId1" Type="`+rt+`worksheet" Target="worksheets/sheet1.xml"/>`+
			`<Relationship Id="rId2" Type="`+rt+`worksheet" Target="/xl/worksheets/sheet2.xml"/>`+
			`<Relationship Id="rId3" Type="`+rt+`worksheet" Target="worksheets/sheet3.xml"/>`+
			`<Relationship Id="rId4" Type="`+rt+`sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
		"xl/sharedStrings.xml", `<sst `+s+`><si><t>Größe</t></si>`+
			`<si><r><rPr><b/></rPr><t>fett</t></r><r><t xml:space="preserve"> und normal</t></r></si>`+
			`<si><t>東京</t><rPh sb="0" eb="2"><t>トウキョウ</t></rPh><phoneticPr fontId="1"/></si>`+
			`<si><t>Zeile_x000D_
zwei</t></si></sst>`,
		"xl/worksheets/sheet1.xml", `<worksheet `+s+`><sheetData><row r="1"><c r="A1" t="s"><v>2</v></c></row></sheetData></worksheet>`,
		"xl/worksheets/sheet2.xml", `<worksheet `+s+`><sheetData>`+
			`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>3</v></c></row>`+
			`<row r="2"/><row r="3"><c r="A3"/><c r="B3" s="1"/></row>`+
			`<row r="4"><c r="A4"><v>1.10</v></c><c r="B4" t="n"><v>1E-3</v></c><c r="C4"><f>A4*2</f><v>2.2000000000000002</v></c>`+
			`<c r="D4" t="b"><v>1</v></c><c r="E4" t="b"><v>0</v></c><c r="F4" t="e"><v>#N/A</v></c>`+
			`<c r="G4" t="str"><f>"a"&amp;"b"</f><v>ab</v></c><c r="H4" t="inlineStr"><is><r><t>in</t></r><r><t>line</t></r></is></c></row>`+
			`</sheetData></worksheet>`,
		"xl/worksheets/sheet3.xml", `<worksheet `+s+`><sheetData/></worksheet>`)
	doc, err := loader.File("s", "a.xlsx", body)
	require.NoError(t, err)
	require.Equal(t, strings.Join([]string{
		"Zuerst",
		"Größe fett und normal Zeile\nzwei",
		"1.10 1E-3 2.2000000000000002 TRUE FALSE #N/A ab inline",
		"Leer",
		"Danach",
		"東京",
	}, "\n\n"), doc.Text, "workbook order, not file order; hidden sheets too")
}

func TestXLSXCarriageReturn(t *testing.T) {
	t.Parallel()
	// _x000D_ is how Excel stores a carriage return; the output has plain newlines, as
	// decodeText gives for the text formats.
	const s = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	body := zipOf(t,
		"xl/workbook.xml", `<workbook `+s+`><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`+
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`,
		"xl/worksheets/sheet1.xml", `<worksheet `+s+`><sheetData><row><c t="inlineStr"><is><t>a_x000D_
b_x005F_x0041_</t></is></c></row></sheetData></worksheet>`)
	doc, err := loader.File("s", "a.xlsx", body)
	require.NoError(t, err, "no _rels/.rels: the conventional main part")
	require.Equal(t, "S\n\na\nb_x0041_", doc.Text)
}

func TestPPTXSlideOrderFollowsPresentation(t *testing.T) {
	t.Parallel()
	d := corpus.Generate(1, 1)
	require.GreaterOrEqual(t, len(d.Sections), 3)
	body, err := corpus.Encode(d, ".pptx")
	require.NoError(t, err)

	sldID := regexp.MustCompile(`<p:sldId [^>]*/>`)
	reversed := replacePart(t, body, "ppt/presentation.xml", func(b []byte) []byte {
		ids := sldID.FindAll(b, -1)
		require.Len(t, ids, len(d.Sections))
		slices.Reverse(ids)
		list := bytes.Join(ids, nil)
		return regexp.MustCompile(`<p:sldIdLst>.*</p:sldIdLst>`).ReplaceAllLiteral(b, []byte("<p:sldIdLst>"+string(list)+"</p:sldIdLst>"))
	})
	doc, err := loader.File("s", "deck.pptx", reversed)
	require.NoError(t, err)
	var headings []string
	for _, s := range slices.Backward(d.Sections) {
		headings = append(headings, s.Heading)
	}
	requireInOrder(t, doc.Text, headings)
	require.Less(t, strings.Index(doc.Text, d.Sections[len(d.Sections)-1].Heading), strings.Index(doc.Text, d.Sections[0].Heading),
		"slide%d.xml comes first because the sldIdLst says so", len(d.Sections))

	for _, s := range d.Sections {
		if s.Notes != "" {
			require.Contains(t, doc.Text, s.Notes, "speaker notes")
		}
	}
	require.NotContains(t, doc.Text, "Click to edit", "the notes master is not read")
}

func TestOfficeErrors(t *testing.T) {
	t.Parallel()
	docx, err := corpus.Encode(corpus.Generate(1, 0), ".docx")
	require.NoError(t, err)

	// damaged: the compressed bytes of word/document.xml are overwritten in place, so the zip
	// directory still reads but the part does not inflate or fails its checksum.
	damaged := bytes.Clone(docx)
	zr, err := zip.NewReader(bytes.NewReader(docx), int64(len(docx)))
	require.NoError(t, err)
	for _, f := range zr.File {
		if f.Name == "word/document.xml" {
			off, err := f.DataOffset()
			require.NoError(t, err)
			for i := off + 10; i < off+int64(f.CompressedSize64)-10; i += 7 {
				damaged[i] ^= 0x5a
			}
		}
	}
	ole := append([]byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}, make([]byte, 504)...)

	for name, tc := range map[string]struct {
		file        string
		body        []byte
		want        string
		unsupported bool
	}{
		"Truncated":   {"Policy.docx", docx[:len(docx)/2], "corrupt or not a DOCX file: zip: not a valid zip file", false},
		"Damaged":     {"Policy.docx", damaged, "corrupt or not a DOCX file: read word/document.xml: ", false},
		"NotZip":      {"Policy.docx", []byte("Policy, version 2\n"), "the file named .docx holds plain text, not a DOCX", true},
		"Empty":       {"Sheet.xlsx", nil, "no text: the file is empty", false},
		"NoMainPart":  {"Deck.pptx", zipOf(t, "[Content_Types].xml", "<Types/>"), "corrupt or not a PPTX file: missing main part ppt/presentation.xml", false},
		"NotOffice":   {"Policy.docx", zipOf(t, "notes.txt", "x"), "corrupt or not a DOCX file: missing main part word/document.xml", false},
		"BadXML":      {"Policy.docx", zipOf(t, "word/document.xml", `<w:document xmlns:w="http://purl.oclc.org/ooxml/wordprocessingml/main"><w:body>`), "corrupt or not a DOCX file: read word/document.xml: XML syntax error", false},
		"NoNamespace": {"Policy.docx", zipOf(t, "word/document.xml", "<document/>"), `main part word/document.xml holds <document in namespace "">, not <document>`, false},
		"Encrypted":   {"Secret.docx", ole, "encrypted or legacy binary Office file", true},
		"EncryptedX":  {"Secret.xlsx", ole, "encrypted or legacy binary Office file", true},
		"LegacyDoc":   {"Old.doc", ole, "unsupported format .doc", true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			source := "s3://bucket/u/b/documents/" + tc.file
			_, err := loader.File(source, tc.file, tc.body)
			var se *loader.SourceError
			require.ErrorAs(t, err, &se)
			require.Equal(t, source, se.Source)
			require.ErrorContains(t, err, source+": ")
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, tc.unsupported, errors.Is(err, loader.ErrUnsupported))
		})
	}
}

// zerosDeflated is a raw deflate stream of mib MiB of zero bytes and its CRC-32, built from
// one compressed MiB repeated, so that a bomb costs a few hundred kilobytes and no time.
func zerosDeflated(t testing.TB, mib int) ([]byte, uint32) {
	t.Helper()
	zeros := make([]byte, 1<<20)
	var block bytes.Buffer
	fw, err := flate.NewWriter(&block, flate.BestCompression)
	require.NoError(t, err)
	_, err = fw.Write(zeros)
	require.NoError(t, err)
	require.NoError(t, fw.Flush()) // ends the block on a byte boundary, not final
	out := bytes.Repeat(block.Bytes(), mib)
	out = append(out, 0x01, 0x00, 0x00, 0xff, 0xff) // a final, empty stored block
	crc := uint32(0)
	for range mib {
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
	}
	return out, crc
}

// bomb is a DOCX whose document.xml inflates to mib MiB of zeros; declared is the size its
// header claims (the true one when 0).
func bomb(t testing.TB, mib int, declared uint64) []byte {
	t.Helper()
	data, crc := zerosDeflated(t, mib)
	if declared == 0 {
		declared = uint64(mib) << 20
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: "word/document.xml", Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(data)), UncompressedSize64: declared,
	})
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestOfficeZipBomb(t *testing.T) {
	t.Parallel()
	// The helper makes what it says: a small one inflates to exactly its size.
	small := bomb(t, 3, 0)
	require.Len(t, readPart(t, small, "word/document.xml"), 3<<20)
	_, err := loader.File("s", "a.docx", small)
	require.ErrorContains(t, err, "corrupt or not a DOCX file", "zeros are not XML, but they are read")

	honest := bomb(t, 300, 0)
	require.Less(t, len(honest), 1<<20, "300 MiB in well under 1 MiB")
	start := time.Now()
	_, err = loader.File("s3://b/bomb.docx", "bomb.docx", honest)
	require.ErrorContains(t, err, "s3://b/bomb.docx: part word/document.xml: 300 MiB uncompressed, over the 128 MiB limit")
	require.Less(t, time.Since(start), time.Second, "refused from the header, before inflating")

	// A header that understates the size does not help: archive/zip stops at the declared
	// size and the part reads as corrupt.
	lying := bomb(t, 300, 4096)
	start = time.Now()
	_, err = loader.File("s3://b/bomb.docx", "bomb.docx", lying)
	require.ErrorContains(t, err, "s3://b/bomb.docx: corrupt or not a DOCX file: read word/document.xml")
	require.Less(t, time.Since(start), time.Second)
}

// fuzzOffice runs a fuzz input through File as a whole file and, when it is not a zip, as the
// content part of a minimal package of the format, so that the fuzzer reaches the XML readers
// instead of stopping at zip checksums.
func fuzzOffice(t *testing.T, ext string, b []byte) {
	check := func(body []byte) {
		doc, err := loader.File("s", "f"+ext, body)
		if err != nil {
			var se *loader.SourceError
			require.ErrorAs(t, err, &se)
			return
		}
		require.True(t, utf8.ValidString(doc.Text), "valid UTF-8")
		require.NotContains(t, doc.Text, "\x00")
	}
	check(b)
	if !bytes.HasPrefix(b, []byte("PK")) {
		check(wrapPart(t, ext, string(b)))
	}
}

const (
	relsNS    = "http://schemas.openxmlformats.org/package/2006/relationships"
	relTypeNS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
)

// wrapPart makes a package of ext whose content part (document, first sheet, first slide) is
// content.
func wrapPart(t testing.TB, ext, content string) []byte {
	t.Helper()
	switch ext {
	case ".docx":
		return zipOf(t, "word/document.xml", content)
	case ".xlsx":
		return zipOf(t,
			"xl/workbook.xml", `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="`+relTypeNS[:len(relTypeNS)-1]+`">`+
				`<sheets><sheet name="S" r:id="rId1"/></sheets></workbook>`,
			"xl/_rels/workbook.xml.rels", `<Relationships xmlns="`+relsNS+`"><Relationship Id="rId1" Type="`+relTypeNS+`worksheet" Target="worksheets/sheet1.xml"/>`+
				`<Relationship Id="rId2" Type="`+relTypeNS+`sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
			"xl/sharedStrings.xml", `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>a</t></si><si><t>b</t></si></sst>`,
			"xl/worksheets/sheet1.xml", content)
	default:
		return zipOf(t,
			"ppt/presentation.xml", `<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:r="`+relTypeNS[:len(relTypeNS)-1]+`">`+
				`<p:sldIdLst><p:sldId id="256" r:id="rId1"/></p:sldIdLst></p:presentation>`,
			"ppt/_rels/presentation.xml.rels", `<Relationships xmlns="`+relsNS+`"><Relationship Id="rId1" Type="`+relTypeNS+`slide" Target="slides/slide1.xml"/></Relationships>`,
			"ppt/slides/slide1.xml", content,
			"ppt/slides/_rels/slide1.xml.rels", `<Relationships xmlns="`+relsNS+`"><Relationship Id="rId1" Type="`+relTypeNS+`notesSlide" Target="../notesSlides/notesSlide1.xml"/></Relationships>`,
			"ppt/notesSlides/notesSlide1.xml", content)
	}
}

// contentPart is the part wrapPart fills, for seeding.
var contentPart = map[string]string{".docx": "word/document.xml", ".xlsx": "xl/worksheets/sheet1.xml", ".pptx": "ppt/slides/slide1.xml"}

func fuzzSeeds(f *testing.F, ext string) {
	for _, n := range []int{0, 1} {
		body, err := corpus.Encode(corpus.Generate(1, n), ext)
		require.NoError(f, err)
		f.Add(body)
		f.Add(readPart(f, body, contentPart[ext]))
		f.Add(body[:len(body)*2/3])
	}
	f.Add([]byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1})
	f.Add([]byte("<x>\xff&#0;</x>"))
}

func FuzzDOCX(f *testing.F) {
	fuzzSeeds(f, ".docx")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzOffice(t, ".docx", b) })
}

func FuzzXLSX(f *testing.F) {
	fuzzSeeds(f, ".xlsx")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzOffice(t, ".xlsx", b) })
}

func FuzzPPTX(f *testing.F) {
	fuzzSeeds(f, ".pptx")
	f.Fuzz(func(t *testing.T, b []byte) { fuzzOffice(t, ".pptx", b) })
}

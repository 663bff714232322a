package corpus

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// openPackage unzips an OOXML package and checks what every package must
// satisfy: well-formed XML parts, a content type for every part, and
// relationships that resolve to existing parts.
func openPackage(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	parts := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		data, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		parts[f.Name] = string(data)
	}
	require.Equal(t, "[Content_Types].xml", zr.File[0].Name)

	for name, data := range parts {
		dec := xml.NewDecoder(strings.NewReader(data))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			require.NoError(t, err, "part %s is not well-formed", name)
		}
	}

	var types struct {
		Defaults []struct {
			Extension string `xml:",attr"`
		} `xml:"Default"`
		Overrides []struct {
			PartName string `xml:",attr"`
		} `xml:"Override"`
	}
	require.NoError(t, xml.Unmarshal([]byte(parts["[Content_Types].xml"]), &types))
	byExt := map[string]bool{}
	for _, d := range types.Defaults {
		byExt[d.Extension] = true
	}
	byName := map[string]bool{}
	for _, o := range types.Overrides {
		name := strings.TrimPrefix(o.PartName, "/")
		_, ok := parts[name]
		require.True(t, ok, "override for missing part %s", name)
		byName[name] = true
	}
	for name := range parts {
		if name == "[Content_Types].xml" {
			continue
		}
		require.True(t, byName[name] || byExt[strings.TrimPrefix(path.Ext(name), ".")], "no content type for %s", name)
		if strings.HasSuffix(name, ".xml") && !strings.HasPrefix(name, "[") {
			require.True(t, byName[name], "%s has only the generic application/xml type", name)
		}
	}

	for name, data := range parts {
		if !strings.HasSuffix(name, ".rels") {
			continue
		}
		dir := path.Dir(path.Dir(name)) // word/_rels/document.xml.rels → word
		if dir == "." {
			dir = ""
		}
		source := path.Join(dir, strings.TrimSuffix(path.Base(name), ".rels"))
		if dir != "" {
			_, ok := parts[source]
			require.True(t, ok, "relationships of missing part %s", source)
		}
		var rels struct {
			Rels []struct {
				ID         string `xml:"Id,attr"`
				Type       string `xml:",attr"`
				Target     string `xml:",attr"`
				TargetMode string `xml:",attr"`
			} `xml:"Relationship"`
		}
		require.NoError(t, xml.Unmarshal([]byte(data), &rels))
		ids := map[string]bool{}
		for _, r := range rels.Rels {
			require.False(t, ids[r.ID], "%s: duplicate id %s", name, r.ID)
			ids[r.ID] = true
			require.NotEqual(t, "External", r.TargetMode)
			target := path.Join(dir, r.Target)
			_, ok := parts[target]
			require.True(t, ok, "%s: %s → missing %s", name, r.Type, r.Target)
			require.NotEmpty(t, r.ID)
		}
	}
	return parts
}

// texts returns the character data of every element named local.
func texts(t *testing.T, data, local string) []string {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(data))
	var out []string
	var cur *strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Local == local {
				cur = &strings.Builder{}
			}
		case xml.CharData:
			if cur != nil {
				cur.Write(e)
			}
		case xml.EndElement:
			if e.Name.Local == local && cur != nil {
				out = append(out, cur.String())
				cur = nil
			}
		}
	}
}

func coreTitle(t *testing.T, parts map[string]string) string {
	t.Helper()
	titles := texts(t, parts["docProps/core.xml"], "title")
	require.Len(t, titles, 1)
	return titles[0]
}

func TestDOCX(t *testing.T) {
	t.Parallel()

	for n := range 10 {
		d := Generate(4, n)
		b, err := Encode(d, ".docx")
		require.NoError(t, err)
		parts := openPackage(t, b)
		require.Equal(t, d.Title, coreTitle(t, parts))

		doc := parts["word/document.xml"]
		require.Equal(t, 1, strings.Count(doc, `<w:pStyle w:val="Title"/>`))
		require.Equal(t, len(d.Sections), strings.Count(doc, `<w:pStyle w:val="Heading1"/>`))
		require.Equal(t, len(d.tables()), strings.Count(doc, `<w:tbl>`))
		styles := parts["word/styles.xml"]
		require.Contains(t, styles, `w:styleId="Heading1"`)
		require.Contains(t, styles, `w:styleId="Title"`)

		all := strings.Join(texts(t, doc, "t"), "\n")
		for _, s := range d.Sections {
			require.Contains(t, all, s.Heading)
			for _, p := range s.Paragraphs {
				item, _ := bullet(p)
				require.Contains(t, all, item)
			}
		}
	}
}

func TestXLSX(t *testing.T) {
	t.Parallel()

	for n := range 10 {
		d := Generate(4, n)
		b, err := Encode(d, ".xlsx")
		require.NoError(t, err)
		parts := openPackage(t, b)
		require.Equal(t, d.Title, coreTitle(t, parts))

		var wb struct {
			Sheets []struct {
				Name string `xml:"name,attr"`
			} `xml:"sheets>sheet"`
		}
		require.NoError(t, xml.Unmarshal([]byte(parts["xl/workbook.xml"]), &wb))
		require.GreaterOrEqual(t, len(wb.Sheets), 2)
		require.Len(t, wb.Sheets, len(d.Sections))
		names := map[string]bool{}
		for _, s := range wb.Sheets {
			require.NotEmpty(t, s.Name)
			require.LessOrEqual(t, len([]rune(s.Name)), 31)
			require.NotContains(t, s.Name, ":")
			require.False(t, names[strings.ToLower(s.Name)], "duplicate sheet %q", s.Name)
			names[strings.ToLower(s.Name)] = true
		}

		strs := texts(t, parts["xl/sharedStrings.xml"], "t")
		require.Contains(t, strs, loc[d.Lang].tricky)
		require.Contains(t, strs, d.Sections[0].Heading)

		last := parts[`xl/worksheets/sheet`+strconv.Itoa(len(d.Sections))+`.xml`]
		require.Regexp(t, `<c r="D\d+"><v>\d+</v></c>`, last, "quantities are numbers")
		require.Regexp(t, `<c r="E\d+"><v>\d+(\.\d+)?</v></c>`, last, "amounts are numbers")
	}
}

func TestPPTX(t *testing.T) {
	t.Parallel()

	for n := range 10 {
		d := Generate(4, n)
		b, err := Encode(d, ".pptx")
		require.NoError(t, err)
		parts := openPackage(t, b)
		require.Equal(t, d.Title, coreTitle(t, parts))

		slides, notes := 0, 0
		for name := range parts {
			if regexp.MustCompile(`^ppt/slides/slide\d+\.xml$`).MatchString(name) {
				slides++
			}
			if regexp.MustCompile(`^ppt/notesSlides/notesSlide\d+\.xml$`).MatchString(name) {
				notes++
			}
		}
		require.Equal(t, len(d.Sections), slides)
		require.Equal(t, len(d.Sections), strings.Count(parts["ppt/presentation.xml"], "<p:sldId "))
		withNotes := 0
		for i, s := range d.Sections {
			slide := strings.Join(texts(t, parts["ppt/slides/slide"+strconv.Itoa(i+1)+".xml"], "t"), "\n")
			require.Contains(t, slide, s.Heading)
			if s.Table != nil {
				require.Contains(t, slide, s.Table[0][0])
			}
			if s.Notes != "" {
				withNotes++
				note := strings.Join(texts(t, parts["ppt/notesSlides/notesSlide"+strconv.Itoa(i+1)+".xml"], "t"), "")
				require.Equal(t, s.Notes, note)
			}
		}
		require.Positive(t, notes)
		require.Equal(t, withNotes, notes)
		for _, p := range []string{"ppt/slideMasters/slideMaster1.xml", "ppt/slideLayouts/slideLayout1.xml", "ppt/theme/theme1.xml", "ppt/notesMasters/notesMaster1.xml"} {
			_, ok := parts[p]
			require.True(t, ok, p)
		}
	}
}

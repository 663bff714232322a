package corpus

import (
	"fmt"
	"strings"
)

const pNS = `xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"`

// Slide geometry in EMU (16:9).
const (
	slideW = 12192000
	slideH = 6858000
)

// encodePPTX writes d as a PresentationML package with one slide per
// section (title and body placeholders, a table as a graphic frame) and a
// notes slide for every section with Notes.
func encodePPTX(d Document) ([]byte, error) {
	const ct = "application/vnd.openxmlformats-officedocument.presentationml."
	hasNotes := false
	for _, s := range d.Sections {
		hasNotes = hasNotes || s.Notes != ""
	}
	tag := langTag(d.Lang)

	var slides, others []part
	var overrides [][2]string
	var presRels []rel
	var sldIDs strings.Builder
	presRels = append(presRels, rel{"rId1", "slideMaster", "slideMasters/slideMaster1.xml"})
	for i, s := range d.Sections {
		n := i + 1
		name := fmt.Sprintf("ppt/slides/slide%d.xml", n)
		slides = append(slides, part{name, pptxSlide(s, tag)})
		overrides = append(overrides, [2]string{name, ct + "slide+xml"})
		rid := fmt.Sprintf("rId%d", n+1)
		presRels = append(presRels, rel{rid, "slide", fmt.Sprintf("slides/slide%d.xml", n)})
		fmt.Fprintf(&sldIDs, `<p:sldId id="%d" r:id="%s"/>`, 255+n, rid)

		slideRels := []rel{{"rId1", "slideLayout", "../slideLayouts/slideLayout1.xml"}}
		if s.Notes != "" {
			notes := fmt.Sprintf("ppt/notesSlides/notesSlide%d.xml", n)
			slideRels = append(slideRels, rel{"rId2", "notesSlide", fmt.Sprintf("../notesSlides/notesSlide%d.xml", n)})
			others = append(others,
				part{notes, pptxNotes(s.Notes, tag)},
				part{fmt.Sprintf("ppt/notesSlides/_rels/notesSlide%d.xml.rels", n), relationships([]rel{
					{"rId1", "notesMaster", "../notesMasters/notesMaster1.xml"},
					{"rId2", "slide", fmt.Sprintf("../slides/slide%d.xml", n)},
				})})
			overrides = append(overrides, [2]string{notes, ct + "notesSlide+xml"})
		}
		slides = append(slides, part{fmt.Sprintf("ppt/slides/_rels/slide%d.xml.rels", n), relationships(slideRels)})
	}
	next := len(d.Sections) + 2
	rid := func() string { next++; return fmt.Sprintf("rId%d", next-1) }
	notesMasterList := ""
	if hasNotes {
		id := rid()
		presRels = append(presRels, rel{id, "notesMaster", "notesMasters/notesMaster1.xml"})
		notesMasterList = `<p:notesMasterIdLst><p:notesMasterId r:id="` + id + `"/></p:notesMasterIdLst>`
	}
	presRels = append(presRels,
		rel{rid(), "theme", "theme/theme1.xml"},
		rel{rid(), "presProps", "presProps.xml"},
		rel{rid(), "viewProps", "viewProps.xml"},
		rel{rid(), "tableStyles", "tableStyles.xml"})

	presentation := xmlHeader + `<p:presentation ` + pNS + ` saveSubsetFonts="1">` +
		`<p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst>` + notesMasterList +
		`<p:sldIdLst>` + sldIDs.String() + `</p:sldIdLst>` +
		fmt.Sprintf(`<p:sldSz cx="%d" cy="%d"/><p:notesSz cx="6858000" cy="9144000"/>`, slideW, slideH) +
		`<p:defaultTextStyle><a:defPPr><a:defRPr lang="` + tag + `"/></a:defPPr></p:defaultTextStyle></p:presentation>`

	overrides = append([][2]string{
		{"ppt/presentation.xml", ct + "presentation.main+xml"},
		{"ppt/slideMasters/slideMaster1.xml", ct + "slideMaster+xml"},
		{"ppt/slideLayouts/slideLayout1.xml", ct + "slideLayout+xml"},
		{"ppt/theme/theme1.xml", "application/vnd.openxmlformats-officedocument.theme+xml"},
		{"ppt/presProps.xml", ct + "presProps+xml"},
		{"ppt/viewProps.xml", ct + "viewProps+xml"},
		{"ppt/tableStyles.xml", ct + "tableStyles+xml"},
		{"docProps/core.xml", ctCore},
		{"docProps/app.xml", ctApp},
	}, overrides...)
	if hasNotes {
		overrides = append(overrides,
			[2]string{"ppt/notesMasters/notesMaster1.xml", ct + "notesMaster+xml"},
			[2]string{"ppt/theme/theme2.xml", "application/vnd.openxmlformats-officedocument.theme+xml"})
		others = append(others,
			part{"ppt/notesMasters/notesMaster1.xml", pptxNotesMaster},
			part{"ppt/notesMasters/_rels/notesMaster1.xml.rels", relationships([]rel{{"rId1", "theme", "../theme/theme2.xml"}})},
			part{"ppt/theme/theme2.xml", pptxTheme})
	}

	parts := []part{
		{"[Content_Types].xml", contentTypes(overrides)},
		{"_rels/.rels", packageRels("ppt/presentation.xml")},
		{"ppt/presentation.xml", presentation},
		{"ppt/_rels/presentation.xml.rels", relationships(presRels)},
		{"ppt/slideMasters/slideMaster1.xml", pptxMaster},
		{"ppt/slideMasters/_rels/slideMaster1.xml.rels", relationships([]rel{
			{"rId1", "slideLayout", "../slideLayouts/slideLayout1.xml"},
			{"rId2", "theme", "../theme/theme1.xml"},
		})},
		{"ppt/slideLayouts/slideLayout1.xml", pptxLayout},
		{"ppt/slideLayouts/_rels/slideLayout1.xml.rels", relationships([]rel{{"rId1", "slideMaster", "../slideMasters/slideMaster1.xml"}})},
		{"ppt/theme/theme1.xml", pptxTheme},
		{"ppt/presProps.xml", xmlHeader + `<p:presentationPr ` + pNS + `/>`},
		{"ppt/viewProps.xml", xmlHeader + `<p:viewPr ` + pNS + `><p:gridSpacing cx="76200" cy="76200"/></p:viewPr>`},
		{"ppt/tableStyles.xml", xmlHeader + `<a:tblStyleLst xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" def="{5C22544A-7EE6-4342-B048-85BDC9FD1C3A}"/>`},
	}
	parts = append(parts, slides...)
	parts = append(parts, others...)
	parts = append(parts,
		part{"docProps/core.xml", coreProps(d)},
		part{"docProps/app.xml", appProps("Microsoft Office PowerPoint")})
	return zipParts(parts)
}

const spTreeStart = `<p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr>` +
	`<p:grpSpPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/><a:chOff x="0" y="0"/><a:chExt cx="0" cy="0"/></a:xfrm></p:grpSpPr>`

// pptxRun is one text run; newlines become line breaks.
func pptxRun(text, tag string, bold bool) string {
	b := ""
	if bold {
		b = ` b="1"`
	}
	var out strings.Builder
	for i, line := range strings.Split(text, "\n") {
		if i > 0 {
			out.WriteString(`<a:br><a:rPr lang="` + tag + `"/></a:br>`)
		}
		out.WriteString(`<a:r><a:rPr lang="` + tag + `"` + b + ` dirty="0"/><a:t>` + xmlEscape(line) + `</a:t></a:r>`)
	}
	return out.String()
}

func pptxSlide(s Section, tag string) string {
	var b strings.Builder
	b.WriteString(xmlHeader + `<p:sld ` + pNS + `><p:cSld><p:spTree>` + spTreeStart)
	b.WriteString(`<p:sp><p:nvSpPr><p:cNvPr id="2" name="Title 1"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr>` +
		`<p:spPr/><p:txBody><a:bodyPr><a:normAutofit/></a:bodyPr><a:lstStyle/><a:p>` + pptxRun(s.Heading, tag, false) + `</a:p></p:txBody></p:sp>`)

	t := rectangle(s.Table)
	bodyH := 4351338
	if t != nil && len(s.Paragraphs) > 0 {
		bodyH = 1900000
	}
	if len(s.Paragraphs) > 0 || t == nil {
		b.WriteString(`<p:sp><p:nvSpPr><p:cNvPr id="3" name="Content Placeholder 2"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr><p:ph idx="1"/></p:nvPr></p:nvSpPr>`)
		fmt.Fprintf(&b, `<p:spPr><a:xfrm><a:off x="838200" y="1825625"/><a:ext cx="10515600" cy="%d"/></a:xfrm></p:spPr>`, bodyH)
		b.WriteString(`<p:txBody><a:bodyPr><a:normAutofit fontScale="62500" lnSpcReduction="20000"/></a:bodyPr><a:lstStyle/>`)
		for _, p := range s.Paragraphs {
			if item, ok := bullet(p); ok {
				b.WriteString(`<a:p>` + pptxRun(item, tag, false) + `</a:p>`)
				continue
			}
			b.WriteString(`<a:p><a:pPr marL="0" indent="0"><a:buNone/></a:pPr>` + pptxRun(p, tag, false) + `</a:p>`)
		}
		if len(s.Paragraphs) == 0 {
			b.WriteString(`<a:p><a:endParaRPr lang="` + tag + `"/></a:p>`)
		}
		b.WriteString(`</p:txBody></p:sp>`)
	}
	if t != nil {
		y := 1825625 + bodyH + 150000
		if len(s.Paragraphs) == 0 {
			y = 1825625
		}
		const rowH = 300000
		cols := len(t[0])
		colW := 10515600 / cols
		fmt.Fprintf(&b, `<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="4" name="Table 3"/><p:cNvGraphicFramePr><a:graphicFrameLocks noGrp="1"/></p:cNvGraphicFramePr><p:nvPr/></p:nvGraphicFramePr>`+
			`<p:xfrm><a:off x="838200" y="%d"/><a:ext cx="%d" cy="%d"/></p:xfrm>`, y, colW*cols, rowH*len(t))
		b.WriteString(`<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/table"><a:tbl><a:tblPr firstRow="1" bandRow="1"/><a:tblGrid>`)
		for range cols {
			fmt.Fprintf(&b, `<a:gridCol w="%d"/>`, colW)
		}
		b.WriteString(`</a:tblGrid>`)
		for i, row := range t {
			fmt.Fprintf(&b, `<a:tr h="%d">`, rowH)
			for _, c := range row {
				b.WriteString(`<a:tc><a:txBody><a:bodyPr/><a:lstStyle/><a:p>`)
				if c == "" {
					b.WriteString(`<a:endParaRPr lang="` + tag + `" sz="1000"/>`)
				} else {
					b.WriteString(strings.ReplaceAll(pptxRun(c, tag, i == 0), `dirty="0"`, `sz="1000" dirty="0"`))
				}
				b.WriteString(`</a:p></a:txBody><a:tcPr/></a:tc>`)
			}
			b.WriteString(`</a:tr>`)
		}
		b.WriteString(`</a:tbl></a:graphicData></a:graphic></p:graphicFrame>`)
	}
	b.WriteString(`</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sld>`)
	return b.String()
}

func pptxNotes(notes, tag string) string {
	return xmlHeader + `<p:notes ` + pNS + `><p:cSld><p:spTree>` + spTreeStart +
		`<p:sp><p:nvSpPr><p:cNvPr id="2" name="Slide Image Placeholder 1"/><p:cNvSpPr><a:spLocks noGrp="1" noRot="1" noChangeAspect="1"/></p:cNvSpPr>` +
		`<p:nvPr><p:ph type="sldImg"/></p:nvPr></p:nvSpPr><p:spPr/></p:sp>` +
		`<p:sp><p:nvSpPr><p:cNvPr id="3" name="Notes Placeholder 2"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr>` +
		`<p:nvPr><p:ph type="body" idx="1"/></p:nvPr></p:nvSpPr><p:spPr/>` +
		`<p:txBody><a:bodyPr/><a:lstStyle/><a:p>` + pptxRun(notes, tag, false) + `</a:p></p:txBody></p:sp>` +
		`</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:notes>`
}

const clrMap = `<p:clrMap bg1="lt1" tx1="dk1" bg2="lt2" tx2="dk2" accent1="accent1" accent2="accent2" accent3="accent3" accent4="accent4" accent5="accent5" accent6="accent6" hlink="hlink" folHlink="folHlink"/>`

func placeholder(id int, name, ph string, x, y, cx, cy int, text string) string {
	return fmt.Sprintf(`<p:sp><p:nvSpPr><p:cNvPr id="%d" name="%s"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr>%s</p:nvPr></p:nvSpPr>`+
		`<p:spPr><a:xfrm><a:off x="%d" y="%d"/><a:ext cx="%d" cy="%d"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></p:spPr>`+
		`<p:txBody><a:bodyPr/><a:lstStyle/><a:p><a:r><a:rPr lang="en-US"/><a:t>%s</a:t></a:r></a:p></p:txBody></p:sp>`,
		id, name, ph, x, y, cx, cy, text)
}

var pptxMaster = xmlHeader + `<p:sldMaster ` + pNS + `><p:cSld><p:bg><p:bgRef idx="1001"><a:schemeClr val="bg1"/></p:bgRef></p:bg><p:spTree>` + spTreeStart +
	placeholder(2, "Title Placeholder 1", `<p:ph type="title"/>`, 838200, 365125, 10515600, 1325563, "Click to edit Master title style") +
	placeholder(3, "Text Placeholder 2", `<p:ph type="body" idx="1"/>`, 838200, 1825625, 10515600, 4351338, "Click to edit Master text styles") +
	`</p:spTree></p:cSld>` + clrMap +
	`<p:sldLayoutIdLst><p:sldLayoutId id="2147483649" r:id="rId1"/></p:sldLayoutIdLst>` +
	`<p:txStyles><p:titleStyle><a:lvl1pPr algn="l"><a:defRPr sz="4000" kern="1200"><a:solidFill><a:schemeClr val="tx1"/></a:solidFill>` +
	`<a:latin typeface="+mj-lt"/><a:ea typeface="+mj-ea"/><a:cs typeface="+mj-cs"/></a:defRPr></a:lvl1pPr></p:titleStyle>` +
	`<p:bodyStyle><a:lvl1pPr marL="228600" indent="-228600"><a:spcBef><a:spcPts val="1000"/></a:spcBef><a:buFont typeface="Arial"/><a:buChar char="•"/>` +
	`<a:defRPr sz="2400" kern="1200"><a:solidFill><a:schemeClr val="tx1"/></a:solidFill><a:latin typeface="+mn-lt"/><a:ea typeface="+mn-ea"/><a:cs typeface="+mn-cs"/></a:defRPr></a:lvl1pPr></p:bodyStyle>` +
	`<p:otherStyle><a:defPPr><a:defRPr lang="en-US"/></a:defPPr></p:otherStyle></p:txStyles></p:sldMaster>`

var pptxLayout = xmlHeader + `<p:sldLayout ` + pNS + ` type="obj" preserve="1"><p:cSld name="Title and Content"><p:spTree>` + spTreeStart +
	`<p:sp><p:nvSpPr><p:cNvPr id="2" name="Title 1"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:spPr/>` +
	`<p:txBody><a:bodyPr/><a:lstStyle/><a:p><a:r><a:rPr lang="en-US"/><a:t>Click to edit Master title style</a:t></a:r></a:p></p:txBody></p:sp>` +
	`<p:sp><p:nvSpPr><p:cNvPr id="3" name="Content Placeholder 2"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr><p:ph idx="1"/></p:nvPr></p:nvSpPr><p:spPr/>` +
	`<p:txBody><a:bodyPr/><a:lstStyle/><a:p><a:r><a:rPr lang="en-US"/><a:t>Click to edit Master text styles</a:t></a:r></a:p></p:txBody></p:sp>` +
	`</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sldLayout>`

var pptxNotesMaster = xmlHeader + `<p:notesMaster ` + pNS + `><p:cSld><p:bg><p:bgRef idx="1001"><a:schemeClr val="bg1"/></p:bgRef></p:bg><p:spTree>` + spTreeStart +
	placeholder(2, "Slide Image Placeholder 1", `<p:ph type="sldImg" idx="2"/>`, 685800, 1143000, 5486400, 3086100, "") +
	placeholder(3, "Notes Placeholder 2", `<p:ph type="body" sz="quarter" idx="3"/>`, 685800, 4400550, 5486400, 3600450, "Click to edit Master text styles") +
	`</p:spTree></p:cSld>` + clrMap +
	`<p:notesStyle><a:lvl1pPr marL="0" algn="l"><a:defRPr sz="1200" kern="1200"><a:solidFill><a:schemeClr val="tx1"/></a:solidFill>` +
	`<a:latin typeface="+mn-lt"/><a:ea typeface="+mn-ea"/><a:cs typeface="+mn-cs"/></a:defRPr></a:lvl1pPr></p:notesStyle></p:notesMaster>`

var pptxTheme = func() string {
	colors := []struct{ name, rgb string }{
		{"dk2", "44546A"}, {"lt2", "E7E6E6"}, {"accent1", "4472C4"}, {"accent2", "ED7D31"}, {"accent3", "A5A5A5"},
		{"accent4", "FFC000"}, {"accent5", "5B9BD5"}, {"accent6", "70AD47"}, {"hlink", "0563C1"}, {"folHlink", "954F72"},
	}
	var b strings.Builder
	b.WriteString(xmlHeader + `<a:theme xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" name="Office Theme"><a:themeElements>`)
	b.WriteString(`<a:clrScheme name="Office"><a:dk1><a:sysClr val="windowText" lastClr="000000"/></a:dk1><a:lt1><a:sysClr val="window" lastClr="FFFFFF"/></a:lt1>`)
	for _, c := range colors {
		fmt.Fprintf(&b, `<a:%s><a:srgbClr val="%s"/></a:%s>`, c.name, c.rgb, c.name)
	}
	b.WriteString(`</a:clrScheme><a:fontScheme name="Office">` +
		`<a:majorFont><a:latin typeface="Calibri Light"/><a:ea typeface=""/><a:cs typeface=""/></a:majorFont>` +
		`<a:minorFont><a:latin typeface="Calibri"/><a:ea typeface=""/><a:cs typeface=""/></a:minorFont></a:fontScheme><a:fmtScheme name="Office">`)
	fill := `<a:solidFill><a:schemeClr val="phClr"/></a:solidFill>`
	b.WriteString(`<a:fillStyleLst>` + strings.Repeat(fill, 3) + `</a:fillStyleLst><a:lnStyleLst>`)
	for _, w := range []int{6350, 12700, 19050} {
		fmt.Fprintf(&b, `<a:ln w="%d" cap="flat" cmpd="sng" algn="ctr">%s<a:prstDash val="solid"/><a:miter lim="800000"/></a:ln>`, w, fill)
	}
	b.WriteString(`</a:lnStyleLst><a:effectStyleLst>` + strings.Repeat(`<a:effectStyle><a:effectLst/></a:effectStyle>`, 3) + `</a:effectStyleLst>`)
	b.WriteString(`<a:bgFillStyleLst>` + strings.Repeat(fill, 3) + `</a:bgFillStyleLst></a:fmtScheme></a:themeElements>`)
	b.WriteString(`<a:objectDefaults/><a:extraClrSchemeLst/></a:theme>`)
	return b.String()
}()

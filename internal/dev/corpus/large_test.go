package corpus

import (
	"strings"
	"testing"
)

func TestLarge(t *testing.T) {
	d := Large(1, "en", 200_000)
	if got := len(d.PlainText()); got < 180_000 || got > 260_000 {
		t.Fatalf("plain text is %d bytes, want about 200000", got)
	}
	if d.Lang != "en" || !strings.HasSuffix(d.Title, "(collected edition)") {
		t.Fatalf("lang %q, title %q", d.Lang, d.Title)
	}
	tables := d.tables()
	if len(tables) != 1 {
		t.Fatalf("%d tables, want the rows of all in one", len(tables))
	}
	if rows := len(tables[0]); rows < 100 {
		t.Fatalf("the merged table has %d rows", rows)
	}
	for _, ext := range Extensions() {
		if _, err := Encode(d, ext); err != nil {
			t.Fatalf("encode as %s: %v", ext, err)
		}
	}
}

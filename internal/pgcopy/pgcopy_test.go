package pgcopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

func TestPartCount(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		rel, rows, part int64
		want            int
	}{
		"Empty":           {0, 0, 64 << 20, 1},
		"Small":           {10 << 20, 1000, 64 << 20, 1},
		"AppTable100k":    {693 << 20, 100_000, 64 << 20, 11},
		"FewRows":         {1 << 30, 3, 64 << 20, 3},
		"CappedAtMax":     {1 << 50, 1 << 40, 64 << 20, maxParts},
		"ExactMultiple":   {128 << 20, 10, 64 << 20, 2},
		"JustOverOnePart": {64<<20 + 1, 10, 64 << 20, 2},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, partCount(tc.rel, tc.rows, tc.part))
		})
	}
}

func TestCopyOutSQL(t *testing.T) {
	t.Parallel()
	tbl := &Table{Schema: "public", Name: "items", Key: "id", KeyType: "character(26)",
		Columns: []Column{{Name: "id"}, {Name: "embedding"}}}
	lo, hi := "A'B", "C"
	for name, tc := range map[string]struct {
		part Part
		want string
	}{
		"Whole":  {Part{}, `COPY "public"."items" ("id", "embedding") TO STDOUT (FORMAT binary)`},
		"First":  {Part{Upper: &hi}, `COPY (SELECT "id", "embedding" FROM ONLY "public"."items" WHERE "id" < 'C'::character(26)) TO STDOUT (FORMAT binary)`},
		"Middle": {Part{Lower: &lo, Upper: &hi}, `COPY (SELECT "id", "embedding" FROM ONLY "public"."items" WHERE "id" >= 'A''B'::character(26) AND "id" < 'C'::character(26)) TO STDOUT (FORMAT binary)`},
		"Last":   {Part{Lower: &lo}, `COPY (SELECT "id", "embedding" FROM ONLY "public"."items" WHERE "id" >= 'A''B'::character(26)) TO STDOUT (FORMAT binary)`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, copyOutSQL(tbl, tc.part))
		})
	}
}

func TestRetarget(t *testing.T) {
	t.Parallel()
	require.Equal(t, `CREATE INDEX x ON "app"."items2" USING ivfflat (embedding) WITH (lists='100')`,
		retarget(`CREATE INDEX x ON public.items USING ivfflat (embedding) WITH (lists='100')`, `public.items`, `"app"."items2"`))
	require.Equal(t, `CREATE UNIQUE INDEX p ON ONLY "a"."b" USING btree (id)`,
		retarget(`CREATE UNIQUE INDEX p ON ONLY "My".items USING btree (id)`, `"My".items`, `"a"."b"`))
	// An index column that happens to spell the table's name is not touched.
	require.Equal(t, `CREATE INDEX i ON "x"."y" USING btree ("public.items ")`,
		retarget(`CREATE INDEX i ON public.items USING btree ("public.items ")`, `public.items`, `"x"."y"`))
}

func TestAnnMemory(t *testing.T) {
	t.Parallel()
	// 1M × 1024 dims needs ~5.3 GB by the rule; the cap wins.
	require.Equal(t, int64(1<<30), annMemory(1_000_000, 1024, 1<<30))
	require.InDelta(t, 5.34e9, float64(annMemory(1_000_000, 1024, 16<<30)), 0.01e9)
	require.Equal(t, int64(64<<20), annMemory(100, 1024, 1<<30), "at least 64 MB")
	require.InDelta(t, 534e6, float64(annMemory(100_000, 1024, 1<<30)), 1e6)
}

func TestCompareColumns(t *testing.T) {
	t.Parallel()
	src := []Column{{Name: "id", Type: "character(26)"}, {Name: "embedding", Type: "vector(1024)"}}
	require.NoError(t, compareColumns("t", src, src))
	err := compareColumns("t", src, []Column{{Name: "id", Type: "character(26)"}, {Name: "embedding", Type: "vector(1536)"}})
	require.ErrorIs(t, err, ErrSchemaMismatch)
	require.ErrorContains(t, err, "column embedding is vector(1536), the source's is vector(1024)")
	err = compareColumns("t", src, src[:1])
	require.ErrorContains(t, err, "column embedding vector(1024) is missing")
	err = compareColumns("t", src, []Column{src[1], src[0]})
	require.ErrorContains(t, err, "column 1 is embedding, the source's is id")
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		err  error
		want bool
	}{
		"Terminated":    {&pgconn.PgError{Code: "57P01"}, true},
		"ConnException": {fmt.Errorf("x: %w", &pgconn.PgError{Code: "08006"}), true},
		"EOF":           {fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		"DataError":     {&pgconn.PgError{Code: "22P02"}, false},
		"Duplicate":     {&pgconn.PgError{Code: "23505"}, false},
		"Canceled":      {fmt.Errorf("x: %w", context.Canceled), false},
		"Nil":           {nil, false},
		"Other":         {errors.New("conn closed"), true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, retryable(tc.err))
		})
	}
}

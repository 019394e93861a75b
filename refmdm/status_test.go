package refmdm

import (
	"context"
	"fmt"
	"testing"

	"github.com/jessepeterson/kmfddm/ddm"
	"github.com/jessepeterson/kmfddm/storage"
)

// TestBoundedStatus: however many status reports an enrollment sends, the
// stack keeps its latest raw report only, and KMFDDM still reads it.
func TestBoundedStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, bucket := newDDMStore()
	b := boundedStatus{KV: store, bucket: bucket}
	count := func(enr string) int {
		n := 0
		for range bucket.KeysPrefix(ctx, "rs."+enr+".", nil) {
			n++
		}
		return n
	}
	for i := range 6 {
		for _, enr := range []string{"A", "B"} {
			raw := fmt.Appendf(nil, `{"StatusItems":{},"Errors":[],"n":%d}`, i)
			if err := b.StoreDeclarationStatus(ctx, enr, &ddm.StatusReport{Raw: raw, ID: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The index and one report's raw, id and ts.
	for _, enr := range []string{"A", "B"} {
		if n := count(enr); n != 1+3 {
			t.Errorf("enrollment %s keeps %d keys of raw reports, want the index and the latest report's 3", enr, n)
		}
	}
	latest := 0
	got, err := store.RetrieveStatusReport(ctx, storage.StatusReportQuery{EnrollmentID: "A", Index: &latest})
	if err != nil || got == nil || string(got.Raw) != `{"StatusItems":{},"Errors":[],"n":5}` {
		t.Errorf("the latest report: %+v, %v", got, err)
	}
	older := 1
	if _, err := store.RetrieveStatusReport(ctx, storage.StatusReportQuery{EnrollmentID: "A", Index: &older}); err == nil {
		t.Error("the report before the latest is still there")
	}
}

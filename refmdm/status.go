package refmdm

import (
	"context"
	"strconv"
	"strings"

	"github.com/jessepeterson/kmfddm/ddm"
	kmfkv "github.com/jessepeterson/kmfddm/storage/kv"

	"github.com/mdmsim/mdmsim/internal/kvtree"
)

// boundedStatus bounds what KMFDDM's kv storage keeps of DDM status
// reports. It keeps every raw report of every enrollment, for ever, under
// a new index each (storage/kv, v0.8.3): a device that reports its status
// every day (its 24-hour safety sync) grows the stack's heap by its
// report's size a day, which a soak of a fleet shows. The stack keeps an
// enrollment's latest keepStatusReports raw reports; the declarations'
// status, values and errors KMFDDM keeps per enrollment and path are
// untouched (they are replaced, not added to). Nothing in the stack reads
// older raw reports; KMFDDM's API answers index 0, the latest, and an
// error for older ones.
type boundedStatus struct {
	*kmfkv.KV
	bucket *kvtree.Store
}

// keepStatusReports is how many raw status reports an enrollment keeps.
const keepStatusReports = 1

// KMFDDM's keys of a raw status report (storage/kv, v0.8.3):
// rs.<enrollment ID>.index is the latest index, rs.<enrollment ID>.<index>.
// {raw,id,ts} the report.
const statusRawPrefix = "rs"

var statusRawSuffixes = []string{"raw", "id", "ts"}

// StoreDeclarationStatus stores the report, then forgets the one
// keepStatusReports before it.
func (b boundedStatus) StoreDeclarationStatus(ctx context.Context, enrollmentID string, status *ddm.StatusReport) error {
	if err := b.KV.StoreDeclarationStatus(ctx, enrollmentID, status); err != nil {
		return err
	}
	raw, err := b.bucket.Get(ctx, strings.Join([]string{statusRawPrefix, enrollmentID, "index"}, "."))
	if err != nil {
		return nil
	}
	idx, err := strconv.Atoi(string(raw))
	if err != nil || idx < keepStatusReports {
		return nil
	}
	old := strings.Join([]string{statusRawPrefix, enrollmentID, strconv.Itoa(idx - keepStatusReports)}, ".")
	for _, sfx := range statusRawSuffixes {
		_ = b.bucket.Delete(ctx, old+"."+sfx)
	}
	return nil
}

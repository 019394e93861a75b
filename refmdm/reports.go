package refmdm

import (
	"context"
	"strings"
	"sync"

	"github.com/micromdm/nanomdm/mdm"
	"github.com/micromdm/nanomdm/storage"

	"github.com/mdmsim/mdmsim/internal/kvtree"
)

// boundedReports bounds what NanoMDM's kv storage keeps of answered
// commands. Its queue keeps every command's raw report and status for each
// device that answered it, for ever (`mdmsim bench --workload push --target
// embedded --rounds N` prints the heap it leaves). The stack keeps the reports of the
// latest answers (maxReports, or the result window if smaller); older ones
// are deleted from the queue bucket once their command is off the device's
// queue (any status but NotNow: NanoMDM unlinks those, and a NotNow is
// answered again later). Nothing in the stack reads them back: its own
// view of results is the observer's (observer.go).
type boundedReports struct {
	serviceStore
	queue *kvtree.Store

	mu     sync.Mutex
	window int
	ring   []string // key prefixes of the kept reports, oldest at head
	head   int
}

// serviceStore is what NanoMDM's service and its cert-auth middleware
// store in.
type serviceStore interface {
	storage.ServiceStore
	storage.CertAuthStore
}

// maxReports bounds the answered commands' reports NanoMDM keeps.
const maxReports = 1 << 16

func newBoundedReports(s serviceStore, queue *kvtree.Store, window int) *boundedReports {
	if window <= 0 || window > maxReports {
		window = maxReports
	}
	return &boundedReports{serviceStore: s, queue: queue, window: window}
}

// reportKeyPrefix is where NanoMDM's kv queue (storage/kv, v0.9.0) keeps a
// device's answer to a command: <enrollment ID>.<command UUID>.queueitem.
func reportKeyPrefix(enrollmentID, commandUUID string) string {
	return strings.Join([]string{enrollmentID, commandUUID, "queueitem", ""}, ".")
}

// StoreCommandReport stores the report, then forgets the oldest beyond the
// window.
func (b *boundedReports) StoreCommandReport(r *mdm.Request, report *mdm.CommandResults) error {
	if err := b.serviceStore.StoreCommandReport(r, report); err != nil {
		return err
	}
	if report.Status == "Idle" || report.Status == "NotNow" || report.CommandUUID == "" {
		return nil
	}
	prefix := reportKeyPrefix(r.ID, report.CommandUUID)
	b.mu.Lock()
	var old string
	if len(b.ring) < b.window {
		b.ring = append(b.ring, prefix)
	} else {
		old = b.ring[b.head]
		b.ring[b.head] = prefix
		b.head = (b.head + 1) % b.window
	}
	b.mu.Unlock()
	if old == "" || old == prefix {
		return nil
	}
	ctx := context.Background()
	if st, err := b.queue.Get(ctx, old+"status"); err == nil && string(st) == "NotNow" {
		return nil // answered NotNow since: still queued
	}
	_ = b.queue.Delete(ctx, old+"report")
	_ = b.queue.Delete(ctx, old+"status")
	return nil
}

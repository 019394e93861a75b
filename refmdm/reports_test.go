package refmdm

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/micromdm/nanomdm/mdm"
)

// countKeys counts the queue keys ending in suffix.
func countKeys(t *testing.T, s *boundedReports, suffix string) int {
	t.Helper()
	n := 0
	for k := range s.queue.KeysPrefix(context.Background(), "", nil) {
		if strings.HasSuffix(k, suffix) {
			n++
		}
	}
	return n
}

// TestBoundedReports runs NanoMDM's kv storage under the wrapper: reports
// of answered commands beyond the window go, in NanoMDM's own key format;
// a command answered NotNow keeps its status while it is queued.
func TestBoundedReports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, queue := newNanoStore()
	b := newBoundedReports(store, queue, 5)
	ids := []string{"D1", "D2"}
	req := func(id string) *mdm.Request {
		r := mdm.NewRequestWithContext(ctx, nil)
		r.EnrollID = &mdm.EnrollID{Type: mdm.Device, ID: id}
		return r
	}
	answer := func(id, uuid, status string) {
		t.Helper()
		err := b.StoreCommandReport(req(id), &mdm.CommandResults{CommandUUID: uuid, Status: status, Raw: []byte("<plist>" + uuid + "</plist>")})
		if err != nil {
			t.Fatal(err)
		}
	}
	enqueue := func(uuid string) {
		t.Helper()
		cmd := &mdm.Command{CommandUUID: uuid, Raw: []byte("<plist/>")}
		cmd.Command.RequestType = "DeviceInformation"
		if _, err := store.EnqueueCommand(ctx, ids, cmd); err != nil {
			t.Fatal(err)
		}
	}
	enqueue("C-notnow")
	answer("D1", "C-notnow", "NotNow")
	for i := range 10 {
		uuid := fmt.Sprintf("C-%d", i)
		enqueue(uuid)
		for _, id := range ids {
			answer(id, uuid, "Acknowledged")
		}
	}
	if n := countKeys(t, b, ".queueitem.report"); n != 5+1 {
		t.Errorf("%d reports kept, want the window's 5 and the NotNow one", n)
	}
	if st, err := queue.Get(ctx, reportKeyPrefix("D1", "C-notnow")+"status"); err != nil || string(st) != "NotNow" {
		t.Errorf("the NotNow command's status: %q, %v", st, err)
	}
	// The latest answers are the ones kept.
	if _, err := queue.Get(ctx, reportKeyPrefix("D2", "C-9")+"report"); err != nil {
		t.Errorf("the latest report is gone: %v", err)
	}
	if _, err := queue.Get(ctx, reportKeyPrefix("D1", "C-0")+"report"); err == nil {
		t.Error("the oldest report is still kept")
	}
}

package mockapns

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHistogramPercentiles(t *testing.T) {
	t.Parallel()
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.observe(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.9, 900 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.percentile(tc.p)
		if d := float64(got-tc.want) / float64(tc.want); d < 0 || d > 1.0/32 {
			t.Errorf("p%v: have %v, want %v within 1/32 above", tc.p*100, got, tc.want)
		}
	}
	s := h.summary()
	if s.Count != 1000 || time.Duration(s.Min) != time.Millisecond || time.Duration(s.Max) != time.Second {
		t.Errorf("summary %+v", s)
	}
	for v := int64(0); v < 1<<20; v = v*3/2 + 1 {
		if i := bucketOf(v); bucketUpper(i) < v || (i > 0 && bucketUpper(i-1) >= v) {
			t.Fatalf("value %d in bucket %d with upper %d", v, i, bucketUpper(i))
		}
	}
}

func TestTopicMatch(t *testing.T) {
	t.Parallel()
	pats := []string{"com.apple.mgmt*", "com.example.app"}
	for topic, want := range map[string]bool{
		"com.apple.mgmt.External.abc": true,
		"com.apple.mgmt":              true,
		"com.example.app":             true,
		"com.example.app.voip":        false,
		"":                            false,
		"com.apple.mgm":               false,
	} {
		if got := topicMatch(pats, topic); got != want {
			t.Errorf("%q: have %v, want %v", topic, got, want)
		}
	}
}

func TestGeneratedIDsAreSeededUUIDs(t *testing.T) {
	t.Parallel()
	a, b := NewUnstartedServer(WithSeed(3)), NewUnstartedServer(WithSeed(3))
	defer a.Close()
	defer b.Close()
	for range 10 {
		x, y := a.newID(), b.newID()
		if x != y || !isUUID(x) || x[14] != '4' {
			t.Fatalf("ids %q %q", x, y)
		}
	}
}

// TestStreamProtocol speaks the stream protocol by hand.
func TestStreamProtocol(t *testing.T) {
	t.Parallel()
	srv := NewServer()
	defer srv.Close()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", srv.URL+"/_mock/stream", pr)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewScanner(resp.Body)
	next := func() streamEvent {
		t.Helper()
		if !events.Scan() {
			t.Fatalf("stream ended: %v", events.Err())
		}
		var ev streamEvent
		if err := json.Unmarshal(events.Bytes(), &ev); err != nil {
			t.Fatalf("event %q: %v", events.Text(), err)
		}
		return ev
	}
	if ev := next(); ev.Event != "hello" || ev.Session == "" {
		t.Fatalf("first event %+v", ev)
	}
	tok := strings.Repeat("0a", 32)
	go func() {
		_, _ = io.WriteString(pw, "garbage\n"+`{"op":"launch","token":"00"}`+"\n"+
			`{"op":"register","token":"`+tok+`","topic":"com.apple.mgmt.x","push_magic":"m"}`+"\n"+`{"op":"sync","id":5}`+"\n")
	}()
	for i, want := range []string{"error", "error", "synced"} {
		if ev := next(); ev.Event != want {
			t.Fatalf("event %d: %+v, want %s", i, ev, want)
		}
	}
	if srv.Devices() != 1 {
		t.Fatal("register over the stream did not register")
	}
	// A push delivered to a stream device becomes a push event.
	srv.mu.Lock()
	deliver := srv.devices[tok].deliver
	srv.mu.Unlock()
	deliver()
	if ev := next(); ev.Event != "push" || ev.Token != tok {
		t.Fatalf("push event %+v", ev)
	}
	// Ending the stream takes its devices offline but keeps them.
	pw.Close()
	for events.Scan() {
	}
	eventually := time.Now().Add(5 * time.Second)
	for {
		srv.mu.Lock()
		online, n := srv.devices[tok].online, len(srv.sessions)
		srv.mu.Unlock()
		if !online && n == 0 {
			break
		}
		if time.Now().After(eventually) {
			t.Fatal("device still online after its stream ended")
		}
		time.Sleep(time.Millisecond)
	}
}

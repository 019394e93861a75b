package mockapns

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingReader counts what the client takes from the server.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// fuzzLine is the read buffer (the line limit) FuzzRemoteEvents gives the
// decoder: the real one is maxEventLine, but a small one reaches the
// too-long paths with inputs the fuzzer can mutate quickly.
const fuzzLine = 512

// FuzzRemoteEvents is the mirror of FuzzStreamOps: it feeds arbitrary bytes
// as the event stream a server sends to a Remote (hello first, then events),
// through the same decoding the stream reader runs. A hostile server must
// not make the device side panic, hang, read a line without bound, or end
// the stream without a clear error; a malformed event is logged and skipped.
func FuzzRemoteEvents(f *testing.F) {
	hello := `{"event":"hello","session":"s1"}` + "\n"
	f.Add([]byte(hello + `{"event":"push","token":"00ff"}` + "\n" + `{"event":"synced","id":1}` + "\n"))
	f.Add([]byte(hello + `{"event":"synced","id":2}` + "\n" + `{"event":"synced","id":2}` + "\n" + `{"event":"error","message":"bad operation"}` + "\n"))
	f.Add([]byte(hello + `{"event":"push","token":"abcd"}` + "\n" + `not json` + "\n" + `{"event":"push","token":1}` + "\n" + `{}` + "\n" + `null` + "\n"))
	f.Add([]byte(hello + `{"event":"synced","id":-1}` + "\n" + `{"event":"synced","id":18446744073709551616}` + "\n" + `{"event":"push"`))
	f.Add([]byte(`{"event":"push","token":"00ff"}` + "\n"))
	f.Add([]byte(`{"event":"hello"} {}` + "\n"))
	f.Add([]byte(hello + strings.Repeat("x", fuzzLine+10) + "\n"))
	f.Add([]byte(strings.Repeat("{", fuzzLine+1)))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		var delivered atomic.Int64
		var mu sync.Mutex
		var logs []string
		r := &Remote{
			cfg: dialConfig{logf: func(format string, args ...any) {
				mu.Lock()
				logs = append(logs, format)
				mu.Unlock()
			}},
			devices: map[string]*remoteDevice{
				"00ff": {deliver: func() { delivered.Add(1) }, online: true},
			},
			syncs:  map[uint64]chan error{},
			signal: make(chan struct{}, 1),
			done:   make(chan struct{}),
		}
		for id := range uint64(3) {
			r.syncs[id] = make(chan error, 1)
		}
		src := &countingReader{r: bytes.NewReader(data)}
		br := bufio.NewReaderSize(src, fuzzLine)
		if err := readHello(br); err != nil {
			if err.Error() == "" {
				t.Fatal("hello refused with an empty error")
			}
			if src.n > fuzzLine {
				t.Fatalf("read %d bytes looking for hello, limit %d", src.n, fuzzLine)
			}
			return
		}
		done := make(chan error, 1)
		go func() { done <- r.readEvents(br) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("readEvents did not return at the end of the stream")
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) && (err == nil || err.Error() != "event line too long") {
			t.Fatalf("stream ended with %v, want unexpected EOF or a too-long line", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, l := range logs {
			if !strings.HasPrefix(l, "mockapns: remote: ") {
				t.Errorf("log line %q", l)
			}
		}
	})
}

// h2cServer serves h on an HTTP/2-without-TLS test server, as Dial expects
// for an http:// URL.
func h2cServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestDialHelloLineBounded: a server that never ends its first line used to
// make Dial read (and buffer) it for as long as it kept sending; the hello
// line is now bounded like every other event line.
func TestDialHelloLineBounded(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	defer close(stop)
	srv := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte("x"), 4096)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			default:
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rem, err := Dial(ctx, srv.URL, WithoutReconnect())
	if err == nil {
		rem.Close()
		t.Fatal("Dial accepted an endless hello line")
	}
	if !strings.Contains(err.Error(), "hello line too long") {
		t.Fatalf("Dial: %v, want a too-long hello line", err)
	}
}

// TestDialHostileStreams dials servers that answer with hostile streams: Dial
// fails with a clear error, or the stream ends and Sync reports it.
func TestDialHostileStreams(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"empty":       "",
		"not json":    "<html>\n",
		"not hello":   `{"event":"push","token":"00ff"}` + "\n",
		"no newline":  `{"event":"hello"}`,
		"hello, junk": `{"event":"hello"}` + "\n" + "junk\n" + `{"event":"synced","id":99}` + "\n" + strings.Repeat("y", maxEventLine+1),
		"hello, cut":  `{"event":"hello"}` + "\n" + `{"event":"syn`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, body)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rem, err := Dial(ctx, srv.URL, WithoutReconnect())
			if err != nil {
				if !strings.HasPrefix(err.Error(), "mockapns: dial ") {
					t.Fatalf("Dial: %v", err)
				}
				return
			}
			defer rem.Close()
			if err := rem.Sync(ctx); err == nil || ctx.Err() != nil {
				t.Fatalf("Sync on a broken stream: %v (ctx %v)", err, ctx.Err())
			}
		})
	}
}

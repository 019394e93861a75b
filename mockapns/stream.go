package mockapns

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
)

// The device stream protocol is described in the package documentation
// (doc.go, "Device stream").

// maxStreamLine bounds one operation line.
const maxStreamLine = 64 << 10

// streamOp is one operation a stream client sends.
type streamOp struct {
	Op        string `json:"op"`
	Token     string `json:"token,omitempty"`
	Topic     string `json:"topic,omitempty"`
	PushMagic string `json:"push_magic,omitempty"`
	Online    *bool  `json:"online,omitempty"`
	ID        uint64 `json:"id,omitempty"`
}

// streamEvent is one event the server sends on a stream.
type streamEvent struct {
	Event   string `json:"event"`
	Session string `json:"session,omitempty"`
	Token   string `json:"token,omitempty"`
	ID      uint64 `json:"id,omitempty"`
	Message string `json:"message,omitempty"`
}

// session is the server side of one device stream.
type session struct {
	id     string
	mu     sync.Mutex
	out    []byte
	signal chan struct{}
	done   chan struct{}
	closed bool
}

func (ss *session) send(line []byte) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	ss.out = append(ss.out, line...)
	ss.mu.Unlock()
	select {
	case ss.signal <- struct{}{}:
	default:
	}
}

func (ss *session) sendEvent(ev streamEvent) {
	b, _ := json.Marshal(ev)
	ss.send(append(b, '\n'))
}

// pusher returns the deliver func of a device registered on this stream.
func (ss *session) pusher(tok string) func() {
	line := []byte(`{"event":"push","token":"` + tok + `"}` + "\n")
	return func() { ss.send(line) }
}

// closeLocked ends the session; the caller holds Server.mu.
func (ss *session) closeLocked() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.closed {
		ss.closed = true
		close(ss.done)
	}
}

func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// HTTP/1.1 needs this to read the body while writing; HTTP/2 is full
	// duplex anyway and reports ErrNotSupported.
	_ = rc.EnableFullDuplex()

	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		s.controlError(w, http.StatusServiceUnavailable, "server closed")
		return
	}
	s.sessionSeq++
	ss := &session{
		id:     "s" + strconv.FormatUint(s.sessionSeq, 10),
		signal: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	defer s.endSession(ss)

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	ss.sendEvent(streamEvent{Event: "hello", Session: ss.id})

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		s.readOps(r, ss)
	}()

	ctx := r.Context()
	for {
		ss.mu.Lock()
		batch := ss.out
		ss.out = nil
		ss.mu.Unlock()
		if len(batch) > 0 {
			if _, err := w.Write(batch); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
		select {
		case <-ss.signal:
		case <-readerDone:
			// The client closed its side: send what is queued and stop.
			ss.mu.Lock()
			batch := ss.out
			ss.out = nil
			ss.mu.Unlock()
			if len(batch) > 0 {
				_, _ = w.Write(batch)
				_ = rc.Flush()
			}
			return
		case <-ss.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

// readOps applies the operations a stream client sends until its body ends.
func (s *Server) readOps(r *http.Request, ss *session) {
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 0, 4096), maxStreamLine)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var op streamOp
		if err := json.Unmarshal(line, &op); err != nil {
			ss.sendEvent(streamEvent{Event: "error", Message: "bad operation: " + err.Error()})
			continue
		}
		if err := s.applyOp(ss, op); err != nil {
			ss.sendEvent(streamEvent{Event: "error", Message: err.Error()})
		}
	}
	if err := sc.Err(); err != nil {
		ss.sendEvent(streamEvent{Event: "error", Message: "read operations: " + err.Error()})
	}
}

func (s *Server) applyOp(ss *session, op streamOp) error {
	if op.Op == "sync" {
		ss.sendEvent(streamEvent{Event: "synced", ID: op.ID})
		return nil
	}
	raw, err := hex.DecodeString(op.Token)
	if err != nil || len(raw) == 0 {
		return fmt.Errorf("%s: token %q is not hex", op.Op, op.Token)
	}
	tok := hex.EncodeToString(raw)
	switch op.Op {
	case "register":
		s.register(tok, op.Topic, op.PushMagic, ss.pusher(tok), ss)
	case "unregister":
		s.unregister(tok, ss)
	case "online":
		if op.Online == nil {
			return fmt.Errorf("online: token %s: missing \"online\"", tok)
		}
		s.setOnline(tok, *op.Online, ss)
	default:
		return fmt.Errorf("unknown op %q (want register, unregister, online or sync)", op.Op)
	}
	return nil
}

// endSession takes the stream's devices offline and forgets the stream.
func (s *Server) endSession(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.closeLocked()
	delete(s.sessions, ss)
	for _, dev := range s.devices {
		if dev.owner == ss {
			dev.online = false
		}
	}
}

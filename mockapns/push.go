package mockapns

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const devicePrefix = "/3/device/"

// pushTypes are the apns-push-type values Apple defines.
var pushTypes = map[string]bool{
	"alert": true, "background": true, "location": true, "voip": true,
	"complication": true, "fileprovider": true, "mdm": true, "liveactivity": true,
	"pushtotalk": true, "widgets": true, "controls": true,
}

// singleHeaders may appear once; APNs answers DuplicateHeaders otherwise.
var singleHeaders = []string{
	"Apns-Id", "Apns-Topic", "Apns-Push-Type", "Apns-Priority",
	"Apns-Expiration", "Apns-Collapse-Id", "Authorization",
}

// maxTokenBytes is the longest device token APNs documents room for.
const maxTokenBytes = 100

// servePush answers the provider API. Validation follows APNs: path and
// method, then credentials, then headers, token and payload; then injected
// faults; then the device registry.
func (s *Server) servePush(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor < 2 {
		// APNs speaks HTTP/2 only: a client that falls back to HTTP/1.1
		// must fail here as it would against Apple, not pass silently.
		s.logf("mockapns: %s %s over %s: closing the connection (APNs is HTTP/2 only)", r.Method, r.URL.Path, r.Proto)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
		http.Error(w, "APNs requires HTTP/2", http.StatusHTTPVersionNotSupported)
		return
	}
	now := s.cfg.now()
	rec := &record{Push: Push{Time: now, Method: r.Method, Path: r.URL.Path}}
	rec.accepted = now

	id := r.Header.Get("Apns-Id")
	idOK := id == "" || isUUID(id)
	if id == "" || !idOK {
		id = s.newID()
	}
	rec.APNsID = id
	w.Header().Set("Apns-Id", id)

	body, tooLarge := readBody(r.Body)
	tok, reason := s.validate(r, rec, body, tooLarge, idOK, now)
	if reason == "" {
		s.accept(w, rec, tok, now)
		return
	}
	s.refuse(w, rec, reason, 0, time.Time{})
}

// readBody reads at most MaxPayloadSize+1 bytes and drains (a bounded amount
// of) the rest, so the stream ends cleanly for the client.
func readBody(rc io.ReadCloser) ([]byte, bool) {
	if rc == nil {
		return nil, false
	}
	b, _ := io.ReadAll(io.LimitReader(rc, MaxPayloadSize+1))
	if len(b) > MaxPayloadSize {
		_, _ = io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
		return b, true
	}
	return b, false
}

// validate fills rec from the request and returns the lowercase token, or
// the reason to refuse the request with.
func (s *Server) validate(r *http.Request, rec *record, body []byte, tooLarge, idOK bool, now time.Time) (string, string) {
	path := r.URL.Path
	if path != strings.TrimSuffix(devicePrefix, "/") && !strings.HasPrefix(path, devicePrefix) {
		return "", ReasonBadPath
	}
	if r.Method != http.MethodPost {
		return "", ReasonMethodNotAllowed
	}
	tokHex := strings.TrimPrefix(strings.TrimPrefix(path, strings.TrimSuffix(devicePrefix, "/")), "/")
	rec.Token = strings.ToLower(tokHex)
	h := r.Header
	rec.PushType = h.Get("Apns-Push-Type")
	rec.Priority = h.Get("Apns-Priority")
	rec.Expiration = h.Get("Apns-Expiration")
	rec.CollapseID = h.Get("Apns-Collapse-Id")
	if len(body) > 0 && !tooLarge {
		rec.Payload = body
	}

	auth := s.authenticate(r, now)
	rec.Auth = auth.method
	rec.Topic = auth.topic
	if auth.reason != "" {
		return "", auth.reason
	}
	for _, k := range singleHeaders {
		if len(h[k]) > 1 {
			return "", ReasonDuplicateHeaders
		}
	}
	if !idOK {
		return "", ReasonBadMessageID
	}
	if p := rec.Priority; p != "" && p != "10" && p != "5" && p != "1" {
		return "", ReasonBadPriority
	}
	if e := rec.Expiration; e != "" {
		v, err := strconv.ParseInt(e, 10, 64)
		if err != nil || v < 0 {
			return "", ReasonBadExpirationDate
		}
		switch v {
		case 0:
			rec.noStorage = true
		default:
			rec.expires = time.Unix(v, 0)
		}
	}
	if pt := rec.PushType; pt != "" && !pushTypes[pt] {
		return "", ReasonInvalidPushType
	}
	if len(rec.CollapseID) > 64 {
		return "", ReasonBadCollapseID
	}
	if reason := s.checkTopic(h.Get("Apns-Topic"), rec); reason != "" {
		return "", reason
	}
	if tokHex == "" {
		return "", ReasonMissingDeviceToken
	}
	if !s.tokenOK(tokHex) {
		return "", ReasonBadDeviceToken
	}
	if len(body) == 0 {
		return "", ReasonPayloadEmpty
	}
	if tooLarge {
		return "", ReasonPayloadTooLarge
	}
	return rec.Token, ""
}

// checkTopic settles rec.Topic. With a certificate, an apns-topic header must
// name the certificate's topic; with a token it is required and must be
// accepted.
func (s *Server) checkTopic(header string, rec *record) string {
	if rec.Auth == AuthCertificate {
		if header != "" && header != rec.Topic {
			return ReasonBadTopic
		}
		return ""
	}
	if header == "" {
		return ReasonMissingTopic
	}
	rec.Topic = header
	s.mu.Lock()
	ok := topicMatch(s.topics, header)
	s.mu.Unlock()
	if !ok {
		return ReasonTopicDisallowed
	}
	return ""
}

func (s *Server) tokenOK(tokHex string) bool {
	if len(tokHex)%2 != 0 {
		return false
	}
	if _, err := hex.DecodeString(tokHex); err != nil {
		return false
	}
	n := len(tokHex) / 2
	if s.cfg.tokenLen > 0 {
		return n == s.cfg.tokenLen
	}
	return n >= 1 && n <= maxTokenBytes
}

// accept runs faults and the registry for a valid request and answers it.
func (s *Server) accept(w http.ResponseWriter, rec *record, tok string, now time.Time) {
	s.mu.Lock()
	if status, reason, refused := s.rejectLocked(tok, now); refused {
		ts := time.Time{}
		if hasTimestamp(status) {
			ts = now
		}
		s.mu.Unlock()
		s.refuse(w, rec, reason, status, ts)
		return
	}
	dev := s.devices[tok]
	var reason string
	var ts time.Time
	switch {
	case dev == nil:
		if g, gone := s.gone[tok]; gone {
			reason, ts = ReasonUnregistered, g.at
		} else if !s.cfg.acceptUnknown {
			reason = ReasonBadDeviceToken
		}
	case dev.topic != rec.Topic:
		reason = ReasonDeviceTokenNotForTopic
	}
	if reason != "" {
		s.mu.Unlock()
		s.refuse(w, rec, reason, 0, ts)
		return
	}

	rec.Status = http.StatusOK
	s.rec.add(rec)
	var fn, later func()
	switch drop, latency := s.deliveryFaultsLocked(tok); {
	case dev == nil:
		s.rec.transition(rec, DeliveryNoDevice, now)
	case dev.magic != "" && payloadMagic(rec.Payload) != dev.magic:
		s.rec.transition(rec, DeliveryMagicMismatch, now)
	case drop:
		s.rec.transition(rec, DeliveryDropped, now)
	case latency > 0:
		s.rec.transition(rec, DeliveryPending, now)
		after := s.cfg.afterFunc
		later = func() { after(latency, func() { s.arriveLater(rec) }) }
	default:
		fn = s.arriveLocked(rec, now)
	}
	s.mu.Unlock()
	if later != nil {
		later()
	}
	s.deliverAsync(fn)
	w.WriteHeader(http.StatusOK)
}

// refuse answers with an APNs error body and records the refusal. status 0
// means the status APNs uses for reason.
func (s *Server) refuse(w http.ResponseWriter, rec *record, reason string, status int, ts time.Time) {
	if status == 0 {
		status, _ = ReasonStatus(reason)
	}
	rec.Status, rec.Reason = status, reason
	s.mu.Lock()
	s.rec.add(rec)
	s.mu.Unlock()
	s.logf("mockapns: %s %s: %d %s", rec.Method, rec.Path, status, reason)

	var b []byte
	if hasTimestamp(status) {
		if ts.IsZero() {
			ts = s.cfg.now()
		}
		b = fmt.Appendf(nil, `{"reason":%q,"timestamp":%d}`, reason, ts.UnixNano()/int64(s.cfg.tsUnit))
	} else {
		b = fmt.Appendf(nil, `{"reason":%q}`, reason)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// payloadMagic returns the "mdm" value of an MDM push payload.
func payloadMagic(payload []byte) string {
	var p struct {
		MDM string `json:"mdm"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return ""
	}
	return p.MDM
}

// newID returns a random (seeded) version-4 UUID.
func (s *Server) newID() string {
	s.mu.Lock()
	hi, lo := s.idRng.Uint64(), s.idRng.Uint64()
	s.mu.Unlock()
	var b [16]byte
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// isUUID reports whether s is a UUID in canonical 8-4-4-4-12 form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

package nanomdm

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// NanoMDM's webhook (-webhook-url) posts one JSON event per check-in and
// per command report, in MicroMDM's format (NanoMDM v0.9.0,
// service/webhook/event.json): a topic such as "mdm.TokenUpdate" or
// "mdm.Connect", and a checkin_event or an acknowledge_event holding the
// UDID (or EnrollmentID), NanoMDM's enrollment IDs, the raw plist in
// base64 and, for a command report, the status and the command UUID. The
// server waits for each post (200 or it logs an error) but does not act on
// the answer.

// Webhook topics NanoMDM sends.
const (
	TopicAuthenticate          = "mdm.Authenticate"
	TopicTokenUpdate           = "mdm.TokenUpdate"
	TopicCheckOut              = "mdm.CheckOut"
	TopicUserAuthenticate      = "mdm.UserAuthenticate"
	TopicSetBootstrapToken     = "mdm.SetBootstrapToken"
	TopicGetBootstrapToken     = "mdm.GetBootstrapToken"
	TopicConnect               = "mdm.Connect"
	TopicDeclarativeManagement = "mdm.DeclarativeManagement"
	TopicGetToken              = "mdm.GetToken"
)

// HMACHeader is where NanoMDM (-webhook-hmac-key) puts the base64 HMAC-SHA256
// of the body.
const HMACHeader = "X-Hmac-Signature"

// Defaults of WebhookOptions.
const (
	DefaultWebhookAddr        = "127.0.0.1:0"
	DefaultWebhookMaxBody     = 16 << 20
	DefaultWebhookMaxCommands = 100_000
	DefaultWebhookMaxEnrolled = 1 << 20
	// WebhookPath is the path URL gives; the listener takes any path.
	WebhookPath = "/webhook"
)

// ErrWebhookClosed is what Wait returns once the webhook is closed.
var ErrWebhookClosed = errors.New("nanomdm webhook: closed")

// WebhookOptions configure a Webhook; the zero value listens on
// 127.0.0.1 with a random port and the default bounds.
type WebhookOptions struct {
	// Addr is the listen address; default DefaultWebhookAddr.
	Addr string
	// MaxBody bounds one event's body; a larger one is refused (413) and
	// counted as an error. Default DefaultWebhookMaxBody.
	MaxBody int64
	// MaxCommands bounds the (UDID, command UUID) statuses kept; the
	// oldest goes first. Default DefaultWebhookMaxCommands.
	MaxCommands int
	// MaxEnrolled bounds the UDIDs kept as enrolled; past it new ones are
	// not recorded (Overflow counts them). Default DefaultWebhookMaxEnrolled.
	MaxEnrolled int
	// HMACSecret, when set, must have signed every body (NanoMDM's
	// -webhook-hmac-key); an event without a valid signature is refused
	// (401) and counted as an error.
	HMACSecret []byte
	// OnEvent, when set, is called with every accepted event, in the
	// server's request, after the Webhook's state has taken it in. It
	// must not block for long: NanoMDM waits for the answer.
	OnEvent func(Event)
}

// Event is one webhook event, decoded.
type Event struct {
	// Topic is NanoMDM's, e.g. TopicConnect.
	Topic     string
	EventID   string
	CreatedAt time.Time
	// UDID is the device's (or, without one, the EnrollmentID of a user
	// enrollment, else NanoMDM's enrollment ID).
	UDID         string
	EnrollmentID string
	// ID and IDType are NanoMDM's enrollment ID and its type ("Device",
	// "User", "User Enrollment (Device)", …).
	ID, IDType string
	// CommandUUID and Status are a command report's (TopicConnect);
	// Status "Idle" has no CommandUUID.
	CommandUUID string
	Status      string
	// TokenUpdateTally is NanoMDM's count of TokenUpdates for the
	// enrollment, when the server sends it (TopicTokenUpdate).
	TokenUpdateTally int
	// Raw is the device's plist as the server received it.
	Raw []byte
}

// wireEvent is NanoMDM's event JSON (service/webhook.EventJson).
type wireEvent struct {
	Topic            string     `json:"topic"`
	EventID          string     `json:"event_id"`
	CreatedAt        time.Time  `json:"created_at"`
	CheckinEvent     *wireInner `json:"checkin_event"`
	AcknowledgeEvent *wireInner `json:"acknowledge_event"`
}

type wireInner struct {
	UDID         string `json:"udid"`
	EnrollmentID string `json:"enrollment_id"`
	IDs          *struct {
		ID       string `json:"id"`
		ParentID string `json:"parent_id"`
		Type     string `json:"type"`
	} `json:"ids"`
	RawPayload       string `json:"raw_payload"`
	Status           string `json:"status"`
	CommandUUID      string `json:"command_uuid"`
	TokenUpdateTally *int   `json:"token_update_tally"`
}

// DecodeEvent decodes one webhook body. It checks what the Webhook relies
// on: a known topic with the part that goes with it, a device or
// enrollment it is about, a status on a command report, base64 payload.
func DecodeEvent(body []byte) (Event, error) {
	var w wireEvent
	if err := json.Unmarshal(body, &w); err != nil {
		return Event{}, fmt.Errorf("nanomdm webhook: %w", err)
	}
	var in *wireInner
	switch w.Topic {
	case TopicConnect:
		in = w.AcknowledgeEvent
	case TopicAuthenticate, TopicTokenUpdate, TopicCheckOut, TopicUserAuthenticate, TopicSetBootstrapToken,
		TopicGetBootstrapToken, TopicDeclarativeManagement, TopicGetToken:
		in = w.CheckinEvent
	case "":
		return Event{}, errors.New("nanomdm webhook: event without a topic")
	default:
		return Event{}, fmt.Errorf("nanomdm webhook: unknown topic %.64q", w.Topic)
	}
	if in == nil {
		return Event{}, fmt.Errorf("nanomdm webhook: %s event without its body", w.Topic)
	}
	ev := Event{Topic: w.Topic, EventID: w.EventID, CreatedAt: w.CreatedAt, UDID: in.UDID,
		EnrollmentID: in.EnrollmentID, CommandUUID: in.CommandUUID, Status: in.Status}
	if in.IDs != nil {
		ev.ID, ev.IDType = in.IDs.ID, in.IDs.Type
	}
	if in.TokenUpdateTally != nil {
		ev.TokenUpdateTally = *in.TokenUpdateTally
	}
	if ev.UDID == "" {
		ev.UDID = ev.EnrollmentID
	}
	if ev.UDID == "" {
		ev.UDID = ev.ID
	}
	if ev.UDID == "" {
		return Event{}, fmt.Errorf("nanomdm webhook: %s event names no device or enrollment", w.Topic)
	}
	if w.Topic == TopicConnect && ev.Status == "" {
		return Event{}, errors.New("nanomdm webhook: command report without a status")
	}
	if in.RawPayload != "" {
		raw, err := base64.StdEncoding.DecodeString(in.RawPayload)
		if err != nil {
			return Event{}, fmt.Errorf("nanomdm webhook: %s raw_payload: %w", w.Topic, err)
		}
		ev.Raw = raw
	}
	return ev, nil
}

// deviceChannel reports whether an event is about a device channel, the
// one that makes a device enrolled; NanoMDM names user channels "User",
// "Shared iPad" and "User Enrollment".
func (e Event) deviceChannel() bool {
	switch e.IDType {
	case "", "Device", "User Enrollment (Device)":
		return true
	}
	return false
}

// Webhook is a listener for NanoMDM's webhook: it keeps what the server
// saw of the devices, within bounds a hostile or runaway server cannot
// push past. It is safe for concurrent use, and an http.Handler of its own
// for servers that mount it elsewhere.
type Webhook struct {
	opts WebhookOptions
	ln   net.Listener
	srv  *http.Server
	url  string

	mu       sync.Mutex
	changed  chan struct{}
	closed   bool
	seen     int
	errs     int
	overflow int
	topics   map[string]int
	enrolled map[string]bool
	status   map[cmdKey]string
	order    []cmdKey // ring of status keys, oldest at next once full
	next     int
}

type cmdKey struct{ udid, uuid string }

// NewWebhook starts a listener; point NanoMDM's -webhook-url at URL().
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultWebhookAddr
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("nanomdm webhook: listen: %w", err)
	}
	w := newWebhook(opts)
	w.ln = ln
	w.url = "http://" + ln.Addr().String() + WebhookPath
	w.srv = &http.Server{Handler: w, ReadHeaderTimeout: time.Minute}
	go w.srv.Serve(ln)
	return w, nil
}

func newWebhook(opts WebhookOptions) *Webhook {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultWebhookMaxBody
	}
	if opts.MaxCommands <= 0 {
		opts.MaxCommands = DefaultWebhookMaxCommands
	}
	if opts.MaxEnrolled <= 0 {
		opts.MaxEnrolled = DefaultWebhookMaxEnrolled
	}
	return &Webhook{opts: opts, changed: make(chan struct{}), topics: map[string]int{},
		enrolled: map[string]bool{}, status: map[cmdKey]string{}}
}

// URL is where NanoMDM posts, e.g. http://127.0.0.1:PORT/webhook.
func (w *Webhook) URL() string { return w.url }

// Close stops the listener and wakes every Wait.
func (w *Webhook) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		w.notifyLocked()
	}
	w.mu.Unlock()
	if w.srv != nil {
		return w.srv.Close()
	}
	return nil
}

// ServeHTTP takes one event.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, w.opts.MaxBody+1))
	if err != nil {
		w.countError()
		http.Error(rw, "read body", http.StatusBadRequest)
		return
	}
	if int64(len(body)) > w.opts.MaxBody {
		w.countError()
		http.Error(rw, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if len(w.opts.HMACSecret) > 0 && !validHMAC(w.opts.HMACSecret, body, r.Header.Get(HMACHeader)) {
		w.countError()
		http.Error(rw, "bad HMAC signature", http.StatusUnauthorized)
		return
	}
	ev, err := DecodeEvent(body)
	if err != nil {
		w.countError()
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.record(ev)
	if w.opts.OnEvent != nil {
		w.opts.OnEvent(ev)
	}
	rw.WriteHeader(http.StatusOK)
}

func validHMAC(key, body []byte, sig string) bool {
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(got) == 0 {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

func (w *Webhook) countError() {
	w.mu.Lock()
	w.errs++
	w.notifyLocked()
	w.mu.Unlock()
}

// record takes an accepted event into the state.
func (w *Webhook) record(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen++
	w.topics[ev.Topic]++
	switch ev.Topic {
	case TopicAuthenticate, TopicCheckOut:
		// NanoMDM disables an enrollment on Authenticate until its
		// TokenUpdate, and on CheckOut.
		if ev.deviceChannel() {
			delete(w.enrolled, ev.UDID)
		}
	case TopicTokenUpdate:
		if ev.deviceChannel() && !w.enrolled[ev.UDID] {
			if len(w.enrolled) < w.opts.MaxEnrolled {
				w.enrolled[ev.UDID] = true
			} else {
				w.overflow++
			}
		}
	case TopicConnect:
		if ev.CommandUUID != "" {
			w.setStatusLocked(cmdKey{ev.UDID, ev.CommandUUID}, ev.Status)
		}
	}
	w.notifyLocked()
}

func (w *Webhook) setStatusLocked(k cmdKey, status string) {
	if _, ok := w.status[k]; ok {
		w.status[k] = status
		return
	}
	if len(w.order) < w.opts.MaxCommands {
		w.order = append(w.order, k)
	} else {
		delete(w.status, w.order[w.next])
		w.order[w.next] = k
		w.next = (w.next + 1) % len(w.order)
	}
	w.status[k] = status
}

func (w *Webhook) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// CommandStatus is the last status udid reported for the command
// ("Acknowledged", "Error", "NotNow", …), and whether the webhook saw one
// among the most recent MaxCommands.
func (w *Webhook) CommandStatus(udid, commandUUID string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.status[cmdKey{udid, commandUUID}]
	return s, ok
}

// Seen is how many events the webhook accepted.
func (w *Webhook) Seen() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}

// Errors is how many posts the webhook refused: bad JSON, unknown topic,
// too large, bad signature.
func (w *Webhook) Errors() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errs
}

// Count is how many accepted events had the topic.
func (w *Webhook) Count(topic string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.topics[topic]
}

// Topics returns the counts of accepted events by topic.
func (w *Webhook) Topics() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.topics))
	for k, v := range w.topics {
		out[k] = v
	}
	return out
}

// Enrolled reports whether the device's last word on its device channel
// was a TokenUpdate (not an Authenticate or a CheckOut).
func (w *Webhook) Enrolled(udid string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.enrolled[udid]
}

// EnrolledCount is how many devices are enrolled as Enrolled tells it.
func (w *Webhook) EnrolledCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.enrolled)
}

// Overflow is how many enrolling devices were not recorded because
// MaxEnrolled devices already were.
func (w *Webhook) Overflow() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.overflow
}

// Wait blocks until cond holds, ctx ends (its error) or the webhook is
// closed (ErrWebhookClosed). cond is called without the webhook's lock, so
// it may call the webhook's methods; it is called again after every event
// or refused post.
func (w *Webhook) Wait(ctx context.Context, cond func() bool) error {
	for {
		w.mu.Lock()
		ch, closed := w.changed, w.closed
		w.mu.Unlock()
		if cond() {
			return nil
		}
		if closed {
			return ErrWebhookClosed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

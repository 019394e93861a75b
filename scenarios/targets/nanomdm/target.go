package nanomdm

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Config says where a NanoMDM (and, for DDM, a KMFDDM) server is and how
// to reach it. NanoHUB serves both APIs from one process: give both URLs.
type Config struct {
	// Name is the target's name in reports; default "nanomdm".
	Name string
	// APIURL is NanoMDM's API root, e.g. http://127.0.0.1:9000/v1.
	APIURL string
	// APIKey is the API's password (user "nanomdm").
	APIKey string
	// DDMURL is KMFDDM's API root, e.g. http://127.0.0.1:9002/v1; empty
	// when the server has no declarative management.
	DDMURL string
	// DDMKey is KMFDDM's API key; default APIKey.
	DDMKey string
	// Profile, ProfileFile or ProfileURL is the enrollment profile (in
	// that order of preference).
	Profile     []byte
	ProfileFile string
	ProfileURL  string
	// Roots are the CAs of the server's TLS endpoints (profile, SCEP,
	// check-in, API), besides the system's.
	Roots []*x509.Certificate
	// PollInterval, when positive, makes devices check in on their own:
	// for a server whose pushes cannot reach the mock APNs.
	PollInterval time.Duration
	// UploadPushCert mints a push certificate for the profile's topic with
	// the world's mock APNs and uploads it through the API, as an operator
	// would: the server then pushes to the mock (through the proxy it is
	// started with).
	UploadPushCert bool
	// Webhook, when set, is the listener the server's -webhook-url posts
	// to: the target then reports what the server saw.
	Webhook *Webhook
	// HTTPClient talks to the APIs; nil means one that trusts Roots.
	HTTPClient *http.Client
}

// Target is a NanoMDM server, wherever it runs.
type Target struct {
	cfg     Config
	world   *scenarios.World
	api     *Client
	ddm     *DDMClient
	profile []byte
	cmds    *commands
	decls   *declarations
}

// New connects to the server: reads the enrollment profile and, if asked,
// uploads a push certificate for its topic.
func New(ctx context.Context, w *scenarios.World, cfg Config) (*Target, error) {
	if cfg.APIURL == "" {
		return nil, errors.New("nanomdm target: the NanoMDM API URL is required")
	}
	if cfg.Name == "" {
		cfg.Name = "nanomdm"
	}
	if cfg.DDMKey == "" {
		cfg.DDMKey = cfg.APIKey
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = scenarios.TrustingClient(cfg.Roots)
	}
	t := &Target{cfg: cfg, world: w, api: NewClient(strings.TrimSuffix(cfg.APIURL, "/"), cfg.APIKey, cfg.HTTPClient)}
	t.cmds = &commands{t: t}
	if cfg.DDMURL != "" {
		t.ddm = NewDDMClient(strings.TrimSuffix(cfg.DDMURL, "/"), cfg.DDMKey, cfg.HTTPClient)
		t.decls = &declarations{t: t, sets: map[string]bool{}}
	}
	var err error
	if t.profile, err = ReadProfile(ctx, cfg.HTTPClient, cfg.Profile, cfg.ProfileFile, cfg.ProfileURL); err != nil {
		return nil, fmt.Errorf("nanomdm target: %w", err)
	}
	if cfg.UploadPushCert {
		p, err := protocol.ParseProfile(t.profile)
		if err != nil {
			return nil, fmt.Errorf("nanomdm target: enrollment profile: %w", err)
		}
		certPEM, keyPEM, err := w.PushCertificate(p.MDM.Topic)
		if err != nil {
			return nil, err
		}
		topic, err := t.api.UploadPushCert(ctx, certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("nanomdm target: upload push certificate: %w", err)
		}
		if topic != p.MDM.Topic {
			return nil, fmt.Errorf("nanomdm target: the server stored the push certificate for topic %q, the profile says %q", topic, p.MDM.Topic)
		}
	}
	return t, nil
}

// ReadProfile returns data, or the file's contents, or what url serves.
func ReadProfile(ctx context.Context, hc *http.Client, data []byte, file, url string) ([]byte, error) {
	switch {
	case len(data) > 0:
		return data, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("enrollment profile: %w", err)
		}
		return b, nil
	case url != "":
		b, err := protocol.FetchProfile(ctx, hc, url)
		if err != nil {
			return nil, fmt.Errorf("enrollment profile: %w", err)
		}
		return b, nil
	}
	return nil, errors.New("enrollment profile: no profile, file or URL given")
}

// Name implements scenarios.Target.
func (t *Target) Name() string { return t.cfg.Name }

// Enrollment implements scenarios.Target.
func (t *Target) Enrollment(context.Context) (scenarios.Enrollment, error) {
	return scenarios.Enrollment{Profile: t.profile, Roots: t.cfg.Roots, PollInterval: t.cfg.PollInterval}, nil
}

// Commands implements scenarios.Target: NanoMDM's enqueue and push API.
func (t *Target) Commands() scenarios.Commands { return t.cmds }

// Declarations implements scenarios.Target: KMFDDM's API, when configured.
func (t *Target) Declarations() scenarios.Declarations {
	if t.decls == nil {
		return nil
	}
	return t.decls
}

// UpdatePolicy implements scenarios.Target: NanoMDM has no update policy
// of its own (the reference enforcers are built on its channels instead).
func (t *Target) UpdatePolicy() scenarios.UpdatePolicy { return nil }

// API is the NanoMDM API client; DDM the KMFDDM one (nil without DDM).
func (t *Target) API() *Client    { return t.api }
func (t *Target) DDM() *DDMClient { return t.ddm }

// Close implements scenarios.Target: it closes the webhook listener; the
// server keeps running.
func (t *Target) Close() error {
	if t.cfg.Webhook != nil {
		return t.cfg.Webhook.Close()
	}
	return nil
}

type commands struct{ t *Target }

func (c *commands) Enqueue(ctx context.Context, udids []string, cmd scenarios.Command) error {
	body, err := cmd.Plist()
	if err != nil {
		return err
	}
	res, err := c.t.api.Enqueue(ctx, udids, body, false)
	if res != nil && res.CommandError != "" {
		return fmt.Errorf("nanomdm: enqueue %s: %s", cmd.RequestType, res.CommandError)
	}
	if res != nil {
		for id, st := range res.Status {
			if st.CommandError != "" {
				return fmt.Errorf("nanomdm: enqueue %s for %s: %s", cmd.RequestType, id, st.CommandError)
			}
		}
	}
	if err != nil && c.pushOnly(err, res) {
		// Queued, but the server could not push (NanoMDM answers 500 when
		// every push failed): devices that poll ask for it anyway.
		return c.pushFailed(err)
	}
	return err
}

// pushOnly reports whether err is a server error whose answer shows the
// command queued for every device and only pushes failing: each device's
// push, or the push as a whole before any device's (no push certificate
// for the topic: NanoMDM then answers a push_error and no status, the
// command stored all the same).
func (c *commands) pushOnly(err error, res *APIResult) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusInternalServerError || res == nil || res.CommandError != "" {
		return false
	}
	if len(res.Status) == 0 {
		return res.PushError != ""
	}
	for _, st := range res.Status {
		if st.PushError == "" && res.PushError == "" {
			return false
		}
	}
	return true
}

// pushFailed is nil for a target whose devices poll, and
// scenarios.ErrPushFailed otherwise.
func (c *commands) pushFailed(err error) error {
	if c.t.cfg.PollInterval > 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", scenarios.ErrPushFailed, err)
}

func (c *commands) Push(ctx context.Context, udids []string) error {
	res, err := c.t.api.Push(ctx, udids)
	if err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusInternalServerError {
			return c.pushFailed(err)
		}
		return err
	}
	if res.PushError != "" {
		return c.pushFailed(fmt.Errorf("nanomdm: push: %s", res.PushError))
	}
	return nil
}

type declarations struct {
	t  *Target
	mu sync.Mutex
	// setMu serialises changes to sets: KMFDDM v0.8.3's key-value
	// transactions deadlock when several change one set at once.
	setMu sync.Mutex
	sets  map[string]bool // sets known to hold their declarations
}

// DeclarationStatus implements scenarios.ServerDeclarations from
// KMFDDM's declaration-status API, a hundred devices per request.
func (d *declarations) DeclarationStatus(ctx context.Context, udids ...string) (map[string][]scenarios.DeclarationStatus, error) {
	out := make(map[string][]scenarios.DeclarationStatus, len(udids))
	for chunk := range slices.Chunk(udids, 100) {
		st, err := d.t.ddm.DeclarationStatus(ctx, chunk...)
		if err != nil {
			return out, fmt.Errorf("kmfddm: declaration status: %w", err)
		}
		for id, list := range st {
			for _, x := range list {
				out[id] = append(out[id], scenarios.DeclarationStatus{Identifier: x.Identifier, Valid: x.Valid, Active: x.Active, Current: x.Current})
			}
		}
	}
	return out, nil
}

func (d *declarations) Put(ctx context.Context, decls ...scenarios.Declaration) error {
	for _, x := range decls {
		if _, err := d.t.ddm.PutDeclaration(ctx, Declaration{Type: x.Type, Identifier: x.Identifier, ServerToken: x.ServerToken, Payload: x.Payload}); err != nil {
			return fmt.Errorf("kmfddm: put declaration %s: %w", x.Identifier, err)
		}
	}
	d.mu.Lock()
	clear(d.sets)
	d.mu.Unlock()
	return nil
}

// Assign makes the set group hold ids (once per set between Puts) and
// assigns it to each device; KMFDDM notifies them.
func (d *declarations) Assign(ctx context.Context, group string, udids []string, ids ...string) error {
	d.mu.Lock()
	known := d.sets[group]
	d.mu.Unlock()
	if !known {
		d.setMu.Lock()
		d.mu.Lock()
		known = d.sets[group]
		d.mu.Unlock()
		if !known {
			if err := d.t.ddm.SetDeclarations(ctx, group, ids...); err != nil {
				d.setMu.Unlock()
				return fmt.Errorf("kmfddm: set %s: %w", group, err)
			}
			d.mu.Lock()
			d.sets[group] = true
			d.mu.Unlock()
		}
		d.setMu.Unlock()
	}
	for _, id := range udids {
		if _, err := d.t.ddm.PutEnrollmentSet(ctx, id, group); err != nil {
			return fmt.Errorf("kmfddm: assign %s to %s: %w", group, id, err)
		}
	}
	return nil
}

// ServerView is what NanoMDM's webhook told, or nil without one.
func (t *Target) ServerView() scenarios.ServerView {
	if t.cfg.Webhook == nil {
		return nil
	}
	return t.cfg.Webhook
}

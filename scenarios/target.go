package scenarios

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/fleet"
)

// Target is an MDM server as the harness needs it, and nothing more: how a
// device enrolls, and the channels through which the harness (or a
// reference enforcer) asks the server to act. A channel the server does
// not offer is nil, and Has says so: a spec or job that needs it is
// skipped with a reason rather than failed.
//
// What the devices did is observed on their side (Observer); a target may
// also say what the server saw (ServerView).
type Target interface {
	// Name says which server this is, for reports.
	Name() string
	// Enrollment is how a device joins the server.
	Enrollment(ctx context.Context) (Enrollment, error)
	// Commands is the command channel, nil when the server has none the
	// harness can use.
	Commands() Commands
	// Declarations is the declarative-management channel, or nil.
	Declarations() Declarations
	// UpdatePolicy is the server's own software-update enforcement, or nil.
	UpdatePolicy() UpdatePolicy
	// Close releases what the target holds (not the server itself when it
	// runs elsewhere).
	Close() error
}

// Enrollment is what a device needs to enroll: a profile, handed over as
// bytes or fetched from a URL, and the roots its endpoints' TLS
// certificates chain to (the profile download, SCEP and check-ins alike).
type Enrollment struct {
	// Profile is the enrollment profile (signed or not); when empty it is
	// fetched from ProfileURL.
	Profile    []byte
	ProfileURL string
	// Roots are trusted besides the system roots and the profile's own
	// certificate payloads.
	Roots []*x509.Certificate
	// Identities, when set, mints device identities directly, skipping
	// SCEP: the fast path of large fleets. Nil means SCEP.
	Identities IdentitySource
	// PollInterval, when positive, makes devices check in on their own
	// every interval: for a server whose pushes cannot reach the mock
	// APNs. Real devices only check in when pushed; results of a polling
	// fleet are labelled as such.
	PollInterval time.Duration
}

// Command is one MDM command as a server queues it.
type Command struct {
	UUID        string
	RequestType string
	// Payload holds the command's keys besides RequestType.
	Payload map[string]any
}

// Plist encodes the command as Apple's command dictionary.
func (c Command) Plist() ([]byte, error) {
	if c.UUID == "" || c.RequestType == "" {
		return nil, errors.New("scenarios: command needs a UUID and a RequestType")
	}
	body := map[string]any{"RequestType": c.RequestType}
	for k, v := range c.Payload {
		if k == "RequestType" {
			continue
		}
		body[k] = v
	}
	return plist.MarshalIndent(map[string]any{"CommandUUID": c.UUID, "Command": body}, "\t")
}

// Commands is a server's command channel.
type Commands interface {
	// Enqueue queues cmd for every device and pushes them.
	Enqueue(ctx context.Context, udids []string, cmd Command) error
	// Push pushes the devices again, so they ask for what is queued.
	Push(ctx context.Context, udids []string) error
}

// Declaration is one DDM declaration.
type Declaration struct {
	Type        string         `json:"Type"`
	Identifier  string         `json:"Identifier"`
	ServerToken string         `json:"ServerToken,omitempty"`
	Payload     map[string]any `json:"Payload"`
}

// Declarations is a server's declarative-management channel.
type Declarations interface {
	// Put stores declarations (creating or replacing them by Identifier).
	Put(ctx context.Context, decls ...Declaration) error
	// Assign gives the devices the declarations named by ids, as one
	// group (a KMFDDM set, a Jamf group, …) called group, and tells the
	// devices to sync.
	Assign(ctx context.Context, group string, udids []string, ids ...string) error
}

// Method is how a server enforces an update.
type Method string

// Methods of UpdatePolicy.
const (
	MethodDDM    Method = "ddm"
	MethodLegacy Method = "legacy"
)

// UpdateRequest asks a server to bring devices to a version by a deadline.
type UpdateRequest struct {
	UDIDs []string
	// Version is the target; empty means the latest the device can take.
	Version string
	// Deadline is when the devices must run it.
	Deadline time.Time
	Method   Method
}

// UpdatePolicy is a server's own update enforcement: the harness asks, the
// server acts, and the devices show what came of it.
type UpdatePolicy interface {
	EnforceUpdate(ctx context.Context, req UpdateRequest) error
}

// ServerView is what a target can tell of what the server saw, besides
// what the devices saw: NanoMDM's webhook, KMFDDM's status API. A target
// that can tell has a method ServerView() ServerView (nil when it cannot,
// e.g. without its webhook).
type ServerView interface {
	// CommandStatus is the last status the server recorded for udid's
	// answer to the command, and whether it saw one.
	CommandStatus(udid, commandUUID string) (status string, ok bool)
	// Seen reports how many webhook events or status reports the server
	// has passed on.
	Seen() int
}

// IdentitySource mints a device identity without SCEP.
type IdentitySource = fleet.IdentitySource

// Capability names a channel a target may offer.
type Capability string

// Capabilities.
const (
	CapCommands     Capability = "commands"
	CapDeclarations Capability = "declarations"
	CapUpdatePolicy Capability = "update-policy"
	// CapServerView: the target reports what the server saw.
	CapServerView Capability = "server-view"
)

// Has reports whether t offers c.
func Has(t Target, c Capability) bool {
	switch c {
	case CapCommands:
		return t.Commands() != nil
	case CapDeclarations:
		return t.Declarations() != nil
	case CapUpdatePolicy:
		return t.UpdatePolicy() != nil
	case CapServerView:
		v, ok := t.(interface{ ServerView() ServerView })
		return ok && v.ServerView() != nil
	}
	return false
}

// Capabilities lists what t offers.
func Capabilities(t Target) []Capability {
	var out []Capability
	for _, c := range []Capability{CapCommands, CapDeclarations, CapUpdatePolicy, CapServerView} {
		if Has(t, c) {
			out = append(out, c)
		}
	}
	return out
}

// MissingError says which capabilities a target lacks for a job or spec:
// the reason it is skipped.
type MissingError struct {
	Target  string
	Missing []Capability
}

func (e *MissingError) Error() string {
	names := make([]string, len(e.Missing))
	for i, c := range e.Missing {
		names[i] = string(c)
	}
	return fmt.Sprintf("target %s has no %s channel", e.Target, strings.Join(names, ", "))
}

// ErrPushFailed is what Commands.Enqueue wraps when the server queued the
// command but could not push the devices: the command is not lost, and a
// device that checks in gets it.
var ErrPushFailed = errors.New("scenarios: the server queued the command but could not push")

// ErrUnsupported is what a channel's method returns for an operation the
// server behind it cannot do.
var ErrUnsupported = errors.New("scenarios: not supported by this target")

// Require returns a *MissingError unless t offers every capability.
func Require(t Target, caps ...Capability) error {
	var missing []Capability
	for _, c := range caps {
		if !Has(t, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return &MissingError{Target: t.Name(), Missing: missing}
	}
	return nil
}

// BootstrapTokens is what a command channel may also tell: whether a Mac
// escrowed its bootstrap token with the server (an Apple-silicon Mac needs
// one to install an update from MDM). Servers that cannot say leave it out.
type BootstrapTokens interface {
	BootstrapTokenEscrowed(ctx context.Context, udid string) bool
}

// TrustingClient is an HTTP client that trusts roots besides the system's,
// for a target's APIs and profile URL.
func TrustingClient(roots []*x509.Certificate) *http.Client {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, c := range roots {
		pool.AddCert(c)
	}
	return &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: true,
	}}
}

// DeclarationStatus is one declaration's state as the server last heard
// it from a device.
type DeclarationStatus struct {
	Identifier string
	// Valid is "valid", "invalid" or "unknown", as the device reported.
	Valid  string
	Active bool
	// Current says the report is for the declaration's current version
	// (its ServerToken).
	Current bool
}

// ServerDeclarations is what a declaration channel may also tell: the
// declarations' status as the server recorded it from the devices'
// reports (KMFDDM's status API), to compare with what the devices sent.
type ServerDeclarations interface {
	DeclarationStatus(ctx context.Context, udids ...string) (map[string][]DeclarationStatus, error)
}

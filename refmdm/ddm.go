package refmdm

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"net/http"
	"sync"

	"github.com/alexedwards/flow"
	"github.com/jessepeterson/kmfddm/ddm"
	kmfapi "github.com/jessepeterson/kmfddm/http/api"
	"github.com/jessepeterson/kmfddm/notifier"
	kmfstorage "github.com/jessepeterson/kmfddm/storage"
	kmfinmem "github.com/jessepeterson/kmfddm/storage/inmem"
	"github.com/micromdm/nanohub/ddmadapter"
	"github.com/micromdm/nanohub/enqueue"
	nlhttp "github.com/micromdm/nanolib/http"
	nanoapi "github.com/micromdm/nanomdm/api"
	"github.com/micromdm/nanomdm/mdm"
	"github.com/micromdm/nanomdm/push"
	"github.com/micromdm/nanomdm/service"
)

// Declarative management in the stack: KMFDDM v0.8.3 runs in-process
// beside NanoMDM, wired as NanoHUB wires it. Its in-memory storage holds
// declarations, sets and status; NanoHUB's ddmadapter answers NanoMDM's
// DeclarativeManagement check-ins from it; KMFDDM's notifier, through
// NanoHUB's enqueue and NanoMDM's push enqueuer, sends a DeclarativeManagement
// command and a push to every enrollment a change concerns. Declarations are
// managed through KMFDDM's own HTTP API, mounted at PathDDMAPI behind HTTP
// Basic authentication as user DDMUser with the stack's API key, exactly as
// a standalone KMFDDM serves it at /v1: a real deployment's tooling works
// against it unchanged.

// KMFDDM's API on the stack.
const (
	// PathDDMAPI is the root of KMFDDM's API: PathDDMAPI+"/declarations"
	// and so on.
	PathDDMAPI = "/ddm/v1"
	// DDMUser is the HTTP Basic user of KMFDDM's API (the password is the
	// stack's APIKey), as standalone KMFDDM names it.
	DDMUser = "kmfddm"
)

// ddmStack is the stack's KMFDDM.
type ddmStack struct {
	store    *kmfinmem.InMem
	notifier *notifier.Notifier
	tap      *statusTap

	once   sync.Once
	client *DDMClient
}

// newDDM builds KMFDDM's storage and notifier and returns the service that
// answers NanoMDM's DeclarativeManagement check-ins.
func (s *Stack) newDDM(logger *slogAdapter, pusher push.Pusher) (service.DeclarativeManagement, error) {
	store := kmfinmem.New(func() hash.Hash { return fnv.New128a() })
	tap := &statusTap{StatusStorer: store, osVersion: map[string]string{}}
	adapter, err := ddmadapter.New(store, ddmadapter.WithStatusStore(tap), ddmadapter.WithLogger(logger.With("service", "ddm")))
	if err != nil {
		return nil, fmt.Errorf("refmdm: DDM adapter: %w", err)
	}
	enq, err := nanoapi.NewPushEnqueuer(s.store, pusher, nanoapi.WithLogger(logger.With("service", "ddm-enqueue")))
	if err != nil {
		return nil, fmt.Errorf("refmdm: DDM enqueuer: %w", err)
	}
	notif, err := notifier.New(enqueue.New(enq), store, notifier.WithLogger(logger.With("service", "ddm-notifier")))
	if err != nil {
		return nil, fmt.Errorf("refmdm: DDM notifier: %w", err)
	}
	s.ddm = &ddmStack{store: store, notifier: notif, tap: tap}
	return notFoundDM{adapter}, nil
}

// mountDDM serves KMFDDM's API at PathDDMAPI.
func (s *Stack) mountDDM(mux *http.ServeMux, logger *slogAdapter) {
	api := flow.New()
	kmfapi.HandleAPIv1("/v1", api, logger.With("handler", "ddm-api"), s.ddm.store, s.ddm.notifier)
	var h http.Handler = http.StripPrefix("/ddm", api)
	h = nlhttp.NewSimpleBasicAuthHandler(h, DDMUser, s.APIKey, "kmfddm")
	mux.Handle("/ddm/", http.MaxBytesHandler(h, 16<<20))
}

// notFoundDM makes a declaration the enrollment may not see a 404, as
// Apple's protocol and KMFDDM's own HTTP handler have it. NanoHUB's
// adapter returns KMFDDM's ErrDeclarationNotFound as a plain error, which
// NanoMDM would turn into a 500 the device does not read as "removed".
type notFoundDM struct{ *ddmadapter.DMAdapter }

func (n notFoundDM) DeclarativeManagement(r *mdm.Request, m *mdm.DeclarativeManagement) ([]byte, error) {
	b, err := n.DMAdapter.DeclarativeManagement(r, m)
	if errors.Is(err, kmfstorage.ErrDeclarationNotFound) {
		return nil, service.NewHTTPStatusError(http.StatusNotFound, err)
	}
	return b, err
}

// DDM is a client of the stack's KMFDDM API.
func (s *Stack) DDM() *DDMClient {
	s.ddm.once.Do(func() {
		s.ddm.client = NewDDMClient(s.URL+PathDDMAPI, s.APIKey, s.httpClient())
	})
	return s.ddm.client
}

// PutDeclaration stores a declaration in KMFDDM (which computes its
// ServerToken) and notifies the enrollments whose sets hold it. It reports
// whether the declaration changed.
func (s *Stack) PutDeclaration(ctx context.Context, d Declaration) (changed bool, err error) {
	return s.DDM().PutDeclaration(ctx, d)
}

// SetDeclarations makes set hold exactly the declarations ids, adding and
// removing through KMFDDM's API; enrollments assigned the set are
// notified of each change.
func (s *Stack) SetDeclarations(ctx context.Context, set string, ids ...string) error {
	return s.DDM().SetDeclarations(ctx, set, ids...)
}

// AssignSet assigns a set to an enrollment (a device's UDID); KMFDDM
// notifies it, which enables DDM on a device that had not used it yet.
func (s *Stack) AssignSet(ctx context.Context, enrollmentID, set string) error {
	_, err := s.DDM().PutEnrollmentSet(ctx, enrollmentID, set)
	return err
}

// StatusReport returns the last status report an enrollment sent, raw.
// KMFDDM turns only device.* and management.* items into status values
// and ignores softwareupdate.*, so this is where those are read.
func (s *Stack) StatusReport(ctx context.Context, enrollmentID string) ([]byte, error) {
	return s.DDM().StatusReport(ctx, enrollmentID, 0)
}

// DeclarationStatus returns, by enrollment, the declarations each reported
// and whether the report is for their current ServerToken.
func (s *Stack) DeclarationStatus(ctx context.Context, enrollmentIDs ...string) (map[string][]DeclarationStatus, error) {
	return s.DDM().DeclarationStatus(ctx, enrollmentIDs...)
}

// osVersionPath is the status value that says which OS a device runs.
const osVersionPath = ".StatusItems.device.operating-system.version"

// statusTap sits between NanoHUB's adapter and KMFDDM's status storage and
// keeps the last OS version each enrollment reported. KMFDDM's in-memory
// store answers a status-values query by scanning every key it holds, so
// asking it for every device every hour costs the square of the fleet;
// the tap answers the same question in constant time per device.
type statusTap struct {
	kmfstorage.StatusStorer
	mu        sync.Mutex
	osVersion map[string]string
}

func (t *statusTap) StoreDeclarationStatus(ctx context.Context, id string, report *ddm.StatusReport) error {
	if err := t.StatusStorer.StoreDeclarationStatus(ctx, id, report); err != nil {
		return err
	}
	for _, v := range report.Values {
		if v.Path == osVersionPath {
			t.mu.Lock()
			t.osVersion[id] = string(v.Value)
			t.mu.Unlock()
		}
	}
	return nil
}

// ReportedOSVersion returns the OS version the enrollment last reported in
// a DDM status report, and "" if it never did.
func (s *Stack) ReportedOSVersion(enrollmentID string) string {
	t := s.ddm.tap
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.osVersion[enrollmentID]
}

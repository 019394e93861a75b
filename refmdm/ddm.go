package refmdm

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/alexedwards/flow"
	kmfapi "github.com/jessepeterson/kmfddm/http/api"
	"github.com/jessepeterson/kmfddm/notifier"
	kmfstorage "github.com/jessepeterson/kmfddm/storage"
	kmfkv "github.com/jessepeterson/kmfddm/storage/kv"
	"github.com/micromdm/nanohub/ddmadapter"
	"github.com/micromdm/nanohub/enqueue"
	nlhttp "github.com/micromdm/nanolib/http"
	"github.com/micromdm/nanomdm/mdm"
	"github.com/micromdm/nanomdm/service"
)

// Declarative management in the stack: KMFDDM v0.8.3 runs in-process
// beside NanoMDM, wired as NanoHUB wires it. Its in-memory storage (store.go) holds
// declarations, sets and status; NanoHUB's ddmadapter answers NanoMDM's
// DeclarativeManagement check-ins from it; KMFDDM's notifier, through
// NanoHUB's enqueue and NanoMDM's push enqueuer, sends a DeclarativeManagement
// command and a push to every enrollment a change concerns. Declarations are
// managed through KMFDDM's own HTTP API, mounted at PathDDMAPI behind HTTP
// Basic authentication as user DDMUser with the stack's API key, exactly as
// a standalone KMFDDM serves it at /v1: a real deployment's tooling, and
// scenarios/targets/nanomdm's DDMClient, work against it unchanged.

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
	store    *kmfkv.KV
	notifier *notifier.Notifier
}

// newDDM builds KMFDDM's storage and notifier and returns the service that
// answers NanoMDM's DeclarativeManagement check-ins.
func (s *Stack) newDDM(logger *slogAdapter) (service.DeclarativeManagement, error) {
	store, status := newDDMStore()
	adapter, err := ddmadapter.New(store, ddmadapter.WithStatusStore(boundedStatus{KV: store, bucket: status}), ddmadapter.WithLogger(logger.With("service", "ddm")))
	if err != nil {
		return nil, fmt.Errorf("refmdm: DDM adapter: %w", err)
	}
	notif, err := notifier.New(enqueue.New(s.enq), store, notifier.WithLogger(logger.With("service", "ddm-notifier")))
	if err != nil {
		return nil, fmt.Errorf("refmdm: DDM notifier: %w", err)
	}
	s.ddm = &ddmStack{store: store, notifier: notif}
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

package simulator

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// AccessRights bits of the MDM payload, as Apple defines them.
const (
	AccessProfileInspection  = 1
	AccessProfileInstall     = 2
	AccessDeviceLock         = 4
	AccessDeviceErase        = 8
	AccessQueryDeviceInfo    = 16
	AccessQueryNetworkInfo   = 32
	AccessProvProfileInspect = 64
	AccessProvProfileInstall = 128
	AccessAppInspection      = 256
	AccessRestrictionQueries = 512
	AccessSecurityQueries    = 1024
	AccessSettingsManipulate = 2048
	AccessAppManagement      = 4096
	AccessAll                = 8191
)

// Handler answers one RequestType.
type Handler struct {
	// Handle runs the command. It returns the result without UDID or
	// CommandUUID, which the session fills in; nil means Acknowledged.
	Handle func(ctx context.Context, d *Device, cmd *protocol.Command) *protocol.Result
	// Available reports whether the device's OS knows the command; when it
	// returns false the device answers as for an unknown RequestType.
	// Nil means always available.
	Available func(id identity.Identity) bool
	// AccessRight is the AccessRights bit the command needs; 0 means none.
	AccessRight int

	// ddmTypes are DeclarativeManagementHandler's, for a restored device
	// to re-enable its DDM client with (state.go).
	ddmTypes *DDMTypes
}

// Handlers maps RequestType to Handler. It is safe for concurrent use;
// handlers are usually registered before devices start.
type Handlers struct {
	mu sync.RWMutex
	m  map[string]Handler
}

// NewHandlers returns an empty registry.
func NewHandlers() *Handlers { return &Handlers{m: map[string]Handler{}} }

// Handle registers (or replaces) the handler for requestType.
func (h *Handlers) Handle(requestType string, handler Handler) {
	if handler.Handle == nil {
		panic("simulator: nil handler for " + requestType)
	}
	h.mu.Lock()
	h.m[requestType] = handler
	h.mu.Unlock()
}

// Remove unregisters a RequestType.
func (h *Handlers) Remove(requestType string) {
	h.mu.Lock()
	delete(h.m, requestType)
	h.mu.Unlock()
}

// RequestTypes lists the registered request types, sorted.
func (h *Handlers) RequestTypes() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.Sorted(maps.Keys(h.m))
}

// Clone copies the registry, so a fleet can extend the defaults.
func (h *Handlers) Clone() *Handlers {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return &Handlers{m: maps.Clone(h.m)}
}

func (h *Handlers) lookup(requestType string) (Handler, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	x, ok := h.m[requestType]
	return x, ok
}

// DefaultHandlers answers the commands every simulated device knows.
func DefaultHandlers() *Handlers {
	h := NewHandlers()
	// DeviceInformation's access right is a "Special Case" in Apple's
	// schema: each query names its own (info_answer.go).
	h.Handle("DeviceInformation", Handler{Handle: handleDeviceInformation})
	h.Handle("SecurityInfo", Handler{Handle: handleSecurityInfo, AccessRight: AccessSecurityQueries})
	h.Handle("ProfileList", Handler{Handle: handleProfileList, AccessRight: AccessProfileInspection})
	h.Handle("InstalledApplicationList", Handler{Handle: handleInstalledApplicationList, AccessRight: AccessAppInspection})
	h.Handle("CertificateList", Handler{Handle: handleCertificateList, AccessRight: AccessProfileInspection})
	h.Handle("RestartDevice", Handler{Handle: handleRestartDevice, AccessRight: AccessDeviceLock})
	h.Handle("ShutDownDevice", Handler{Handle: handleShutDownDevice, AccessRight: AccessDeviceLock})
	// Software update (update_*.go): the four legacy commands.
	registerUpdateHandlers(h)
	// Configuration profiles (profiles.go).
	RegisterProfileHandlers(h)
	// DDM (ddm*.go): enables and syncs declarative management.
	h.Handle(RequestTypeDeclarativeManagement, DeclarativeManagementHandler(DefaultDDMTypes()))
	return h
}

func handleShutDownDevice(_ context.Context, d *Device, _ *protocol.Command) *protocol.Result {
	// The session holds the device's activity: switch off in it.
	d.mu.Lock()
	d.powerOffLocked()
	d.mu.Unlock()
	return nil
}

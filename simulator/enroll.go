package simulator

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// FetchProfile downloads an enrollment profile, as a user opening the
// server's enrollment link does.
func (e *Env) FetchProfile(ctx context.Context, url string) (*protocol.EnrollmentProfile, error) {
	data, err := protocol.FetchProfile(ctx, e.httpClient, url)
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	return protocol.ParseProfile(data)
}

// Enroll enrolls the device with a profile, getting its identity over SCEP
// from the profile's SCEP payload, then sending Authenticate and TokenUpdate.
func (d *Device) Enroll(ctx context.Context, p *protocol.EnrollmentProfile) error {
	if p.SCEP == nil {
		return fmt.Errorf("simulator: enroll: profile has no SCEP payload for IdentityCertificateUUID %q", p.MDM.IdentityCertificateUUID)
	}
	id := d.Identity()
	ident, err := protocol.SCEPEnroll(ctx, d.env.anchorClient(p), p.SCEP, protocol.SCEPDevice{
		UDID: id.UDID, SerialNumber: id.SerialNumber, DeviceName: id.DeviceName, ProductName: id.Model.Identifier,
		Keys: d.env.scepKeys,
	})
	if err != nil {
		return fmt.Errorf("simulator: enroll %s: %w", id.UDID, err)
	}
	return d.EnrollWithIdentity(ctx, p, ident)
}

// EnrollWithIdentity enrolls with an identity the caller provides (the fast
// path for large fleets: no SCEP, no RSA key generation).
func (d *Device) EnrollWithIdentity(ctx context.Context, p *protocol.EnrollmentProfile, ident *protocol.Identity) error {
	cred, err := protocol.NewCredential(ident)
	if err != nil {
		return fmt.Errorf("simulator: enroll %s: %w", d.UDID(), err)
	}
	return d.EnrollWithCredential(ctx, p, cred)
}

// EnrollWithCredential is EnrollWithIdentity with the identity already in
// the compact form a device keeps.
func (d *Device) EnrollWithCredential(ctx context.Context, p *protocol.EnrollmentProfile, cred *protocol.Credential) error {
	d.mu.Lock()
	if d.enr != nil {
		d.mu.Unlock()
		return ErrAlreadyEnrolled
	}
	id := d.id
	enr := &enrollment{profileSettings: d.env.settingsFor(p), identity: cred}
	for i := range enr.token {
		enr.token[i] = byte(d.rng.UintN(256))
	}
	enr.magicHi, enr.magicLo = d.rng.Uint64(), d.rng.Uint64()
	d.mu.Unlock()
	token, magic := enr.token[:], enr.pushMagic()

	sess := enr.transport.Session(cred, enr.mode)
	defer sess.Close()
	auth := &protocol.Authenticate{
		Enrollment: protocol.Enrollment{UDID: id.UDID}, Topic: enr.topic,
		SerialNumber: id.SerialNumber, ProductName: id.Model.Identifier,
		OSVersion: id.OSVersion, BuildVersion: id.BuildVersion,
		IMEI: id.IMEI,
	}
	if id.Model.Family == "Mac" {
		// macOS requires these three; iOS does not send them.
		auth.DeviceName, auth.Model, auth.ModelName = id.DeviceName, id.Model.Identifier, id.Model.ModelName
	}
	if _, err := sess.Checkin(ctx, enr.checkInURL, auth); err != nil {
		return fmt.Errorf("simulator: enroll %s: Authenticate: %w", id.UDID, err)
	}
	// Register for pushes before telling the server the token, so no push
	// sent right after TokenUpdate is lost.
	if d.env.push != nil {
		d.env.push.RegisterDevice(token, enr.topic, magic, d.Wake)
	}
	tu := &protocol.TokenUpdate{
		Enrollment: protocol.Enrollment{UDID: id.UDID}, Topic: enr.topic, Token: token, PushMagic: magic,
	}
	if _, err := sess.Checkin(ctx, enr.checkInURL, tu); err != nil {
		if d.env.push != nil {
			d.env.push.UnregisterDevice(token)
		}
		return fmt.Errorf("simulator: enroll %s: TokenUpdate: %w", id.UDID, err)
	}
	d.mu.Lock()
	d.enr = enr
	d.startPollingLocked(enr)
	d.mu.Unlock()
	if s := d.env.stateSink; s != nil {
		if err := s.Enrolled(d); err != nil {
			return fmt.Errorf("simulator: enroll %s: saving the enrollment: %w", id.UDID, err)
		}
	}
	d.env.emit(Event{Kind: EventEnrolled, UDID: id.UDID})
	return nil
}

// Unenroll removes the MDM profile: the device sends CheckOut if the profile
// asked for it, and stops answering pushes.
func (d *Device) Unenroll(ctx context.Context) error {
	d.mu.Lock()
	enr := d.enr
	d.enr = nil
	d.stopPollingLocked()
	udid := d.id.UDID
	d.mu.Unlock()
	if enr == nil {
		return ErrNotEnrolled
	}
	d.changed()
	if d.env.push != nil {
		d.env.push.UnregisterDevice(enr.token[:])
	}
	d.env.emit(Event{Kind: EventCheckedOut, UDID: udid})
	if !enr.checkOut {
		return nil
	}
	sess := enr.transport.Session(enr.identity, enr.mode)
	defer sess.Close()
	if _, err := sess.Checkin(ctx, enr.checkInURL, &protocol.CheckOut{
		Enrollment: protocol.Enrollment{UDID: udid}, Topic: enr.topic,
	}); err != nil {
		return fmt.Errorf("simulator: CheckOut %s: %w", udid, err)
	}
	return nil
}

// PushToken returns the device's APNs token and push magic once enrolled.
func (d *Device) PushToken() (token []byte, pushMagic string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.enr == nil {
		return nil, "", false
	}
	return append([]byte(nil), d.enr.token[:]...), d.enr.pushMagic(), true
}

// anchors is the trust a profile brings: the system roots plus its
// certificate payloads. Devices enrolled from the same profile share one
// transport (one connection pool) and one HTTP client for SCEP.
type anchors struct {
	mu  sync.Mutex
	set map[[32]byte]*trust
}

type trust struct {
	transport *protocol.Transport
	client    *http.Client
}

func anchorKey(p *protocol.EnrollmentProfile) [32]byte {
	h := sha256.New()
	for _, c := range p.Certificates {
		h.Write(c)
		h.Write([]byte{0})
	}
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// systemPool is a copy of the system roots (empty when there are none).
func systemPool() *x509.CertPool {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	return pool
}

func (e *Env) anchorPool(p *protocol.EnrollmentProfile) *x509.CertPool {
	pool := systemPool()
	for _, c := range e.roots {
		pool.AddCert(c)
	}
	for _, c := range p.Anchors() {
		pool.AddCert(c)
	}
	return pool
}

func (e *Env) trustFor(p *protocol.EnrollmentProfile) *trust {
	k := anchorKey(p)
	e.anchors.mu.Lock()
	defer e.anchors.mu.Unlock()
	if e.anchors.set == nil {
		e.anchors.set = map[[32]byte]*trust{}
	}
	t, ok := e.anchors.set[k]
	if !ok {
		pool := e.anchorPool(p)
		t = &trust{
			transport: protocol.NewTransport(protocol.WithRootCAs(pool), protocol.WithTimeout(e.requestTimeout)),
			client: &http.Client{Timeout: max(time.Minute, e.requestTimeout), Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pool},
			}},
		}
		e.anchors.set[k] = t
	}
	return t
}

func (e *Env) transportFor(p *protocol.EnrollmentProfile) *protocol.Transport {
	if e.transport != nil {
		return e.transport
	}
	return e.trustFor(p).transport
}

// CapabilityBootstrapToken is the ServerCapabilities entry of a server that
// escrows bootstrap tokens: "This must be present to have the device create
// a Bootstrap Token and send it to the server" (com.apple.mdm.yaml).
const CapabilityBootstrapToken = "com.apple.mdm.bootstraptoken"

// settingsFor returns the settings of profile p, shared by every device
// enrolled with the same parsed profile.
func (e *Env) settingsFor(p *protocol.EnrollmentProfile) *profileSettings {
	if v, ok := e.profiles.Load(p); ok {
		return v.(*profileSettings)
	}
	mode := protocol.MdmSignature
	if !p.MDM.SignMessage {
		mode = protocol.MutualTLS
	}
	ps := &profileSettings{
		serverURL: p.MDM.ServerURL, checkInURL: p.CheckInURL(), topic: p.MDM.Topic, mode: mode,
		accessRights: p.MDM.AccessRights, checkOut: p.MDM.CheckOutWhenRemoved, transport: e.transportFor(p),
		profileID: p.PayloadIdentifier, profileUUID: p.PayloadUUID, mdmUUID: p.MDM.PayloadUUID, anchors: p.Certificates,
		bootstrapToken: slices.Contains(p.MDM.ServerCapabilities, CapabilityBootstrapToken),
	}
	v, _ := e.profiles.LoadOrStore(p, ps)
	return v.(*profileSettings)
}

func (e *Env) anchorClient(p *protocol.EnrollmentProfile) *http.Client { return e.trustFor(p).client }

func uuidFrom(hi, lo uint64) string {
	hi = hi&^0xF000 | 0x4000
	lo = lo&^(0xC<<60) | 0x8<<60
	return fmt.Sprintf("%08X-%04X-%04X-%04X-%012X", hi>>32, (hi>>16)&0xFFFF, hi&0xFFFF, lo>>48, lo&0xFFFFFFFFFFFF)
}

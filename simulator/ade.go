package simulator

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/micromdm/plist"
	"github.com/smallstep/pkcs7"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/protocol"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// Automated Device Enrollment with a minimum OS version
// (update-behaviour.md B4.11; other/machineinfo.yaml,
// mdm/errors/softwareupdate.required.yaml).
//
// In Setup Assistant the device POSTs its MachineInfo, CMS-signed, to the
// enrollment URL of its ADE profile. A macOS 14+/iOS 17+ device says
// MDM_CAN_REQUEST_SOFTWARE_UPDATE, and the server may answer HTTP 403
// com.apple.softwareupdate.required with the OS it must reach first. The
// device then installs that update (download, prepare, apply, restart on
// the device's clock, with the update engine's timings), comes back into
// Setup Assistant and asks again. When it cannot (the target is not in the
// catalog, not above what it runs, or a condition stops the download) it
// shows an error and returns to the Remote Management pane: SetupAssistant
// reports ErrSetupUpdate.

// Limits of the ADE exchange.
const (
	// MaxSetupUpdates bounds the updates one SetupAssistant call installs
	// before it gives up on a server that keeps asking (U).
	MaxSetupUpdates = 3
	maxADEBody      = 1 << 20
)

// ContentTypeMachineInfo is how the device sends MachineInfo.
const ContentTypeMachineInfo = "application/pkcs7-signature"

// InstallReasonSetupAssistant is the install-reason of an update installed
// in Setup Assistant.
const InstallReasonSetupAssistant = "setup-assistant"

// ErrSetupUpdate: the required update could not be installed; the device
// shows an error and goes back to the Remote Management pane.
var ErrSetupUpdate = errors.New("simulator: Setup Assistant could not install the required software update")

// SoftwareUpdateRequired is the server's 403 com.apple.softwareupdate.required.
type SoftwareUpdateRequired struct {
	OSVersion    string
	BuildVersion string
	// BetaProgram is RequireBetaProgram's Description (17.5/14.5+).
	BetaProgram string
	Message     string
}

func (e *SoftwareUpdateRequired) Error() string {
	s := "simulator: the server requires OS " + e.OSVersion
	if e.BuildVersion != "" {
		s += " (" + e.BuildVersion + ")"
	}
	return s + " before enrollment"
}

// MachineInfo is what the device tells the enrollment URL about itself,
// with the keys its OS version sends.
func (d *Device) MachineInfo() map[string]any {
	id := d.Identity()
	m := map[string]any{"UDID": id.UDID, "SERIAL": id.SerialNumber, "PRODUCT": id.Model.Identifier,
		"VERSION": id.BuildVersion, "LANGUAGE": "en-US"}
	mac := id.IsMac()
	if mac && versionAtLeast(id.OSVersion, "14.0") || !mac && versionAtLeast(id.OSVersion, "17.0") {
		m["OS_VERSION"] = id.OSVersion
		m["MDM_CAN_REQUEST_SOFTWARE_UPDATE"] = true
		if id.SupplementalBuildVersion != "" {
			m["SUPPLEMENTAL_BUILD_VERSION"] = id.SupplementalBuildVersion
			m["SUPPLEMENTAL_OS_VERSION_EXTRA"] = id.SupplementalOSVersionExtra
		}
	}
	if mac && versionAtLeast(id.OSVersion, "14.4") || !mac && versionAtLeast(id.OSVersion, "17.4") {
		m["SOFTWARE_UPDATE_DEVICE_ID"] = id.Model.SoftwareUpdateDeviceID
	}
	return m
}

// FetchADEProfile posts MachineInfo to url as Setup Assistant does. It
// returns the enrollment profile, or a *SoftwareUpdateRequired when the
// server answers 403 with that code.
func (d *Device) FetchADEProfile(ctx context.Context, url string) (*protocol.EnrollmentProfile, error) {
	body, err := signMachineInfo(d.MachineInfo())
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("simulator: ADE: %w", err)
	}
	req.Header.Set("Content-Type", ContentTypeMachineInfo)
	resp, err := d.env.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("simulator: ADE: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxADEBody+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("simulator: ADE: %w", err)
	case len(data) > maxADEBody:
		return nil, fmt.Errorf("simulator: ADE: answer larger than %d bytes", maxADEBody)
	case resp.StatusCode == http.StatusForbidden:
		return nil, parseUpdateRequired(resp.Header.Get("Content-Type"), data)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("simulator: ADE: HTTP %d", resp.StatusCode)
	}
	return protocol.ParseProfile(data)
}

// parseUpdateRequired reads a 403 body, JSON or plist as its Content-Type
// says.
func parseUpdateRequired(contentType string, data []byte) error {
	var doc struct {
		Code    string `json:"code" plist:"code"`
		Message string `json:"message" plist:"message"`
		Details struct {
			OSVersion          string `json:"OSVersion" plist:"OSVersion"`
			BuildVersion       string `json:"BuildVersion" plist:"BuildVersion"`
			RequireBetaProgram *struct {
				Description string `json:"Description" plist:"Description"`
				Token       string `json:"Token" plist:"Token"`
			} `json:"RequireBetaProgram" plist:"RequireBetaProgram"`
		} `json:"details" plist:"details"`
	}
	var err error
	if strings.Contains(contentType, "json") {
		err = json.Unmarshal(data, &doc)
	} else {
		err = unmarshalPlist(data, &doc)
	}
	switch {
	case err != nil:
		return fmt.Errorf("simulator: ADE: HTTP 403 with an unreadable body: %w", err)
	case doc.Code != "com.apple.softwareupdate.required":
		return fmt.Errorf("simulator: ADE: HTTP 403 %q", doc.Code)
	case doc.Details.OSVersion == "":
		return fmt.Errorf("simulator: ADE: com.apple.softwareupdate.required without details.OSVersion")
	}
	e := &SoftwareUpdateRequired{OSVersion: doc.Details.OSVersion, BuildVersion: doc.Details.BuildVersion, Message: doc.Message}
	if b := doc.Details.RequireBetaProgram; b != nil {
		e.BetaProgram = b.Description
	}
	return e
}

// signMachineInfo wraps MachineInfo in CMS SignedData. A real device signs
// with its Apple-issued identity; the simulated one with a fresh
// self-signed key, so a server that checks the chain to Apple refuses it.
func signMachineInfo(m map[string]any) ([]byte, error) {
	content, err := plist.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("simulator: MachineInfo: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: fmt.Sprint(m["UDID"])},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return nil, err
	}
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, err
	}
	return sd.Finish()
}

// SetupAssistant runs the ADE step of Setup Assistant against url: it
// fetches the enrollment profile and, each time the server requires a
// software update, installs it on the device's clock and asks again. done
// is called once, from the device's timers or before SetupAssistant
// returns, with the profile to Enroll with, or with the error that sent
// the device back to the Remote Management pane (ErrSetupUpdate, or the
// exchange's). Nothing blocks meanwhile: on a discrete-event clock the
// install's minutes pass as virtual time.
func (d *Device) SetupAssistant(ctx context.Context, url string, done func(*protocol.EnrollmentProfile, error)) {
	d.setupStep(ctx, url, 0, done)
}

func (d *Device) setupStep(ctx context.Context, url string, installs int, done func(*protocol.EnrollmentProfile, error)) {
	p, err := d.FetchADEProfile(ctx, url)
	var req *SoftwareUpdateRequired
	if !errors.As(err, &req) {
		done(p, err)
		return
	}
	if installs >= MaxSetupUpdates {
		done(nil, fmt.Errorf("%w: the server still requires %s after %d updates", ErrSetupUpdate, req.OSVersion, installs))
		return
	}
	var fail error
	d.withLock(func() {
		fail = d.setupInstallLocked(req, func() { d.setupStep(ctx, url, installs+1, done) })
	})
	if fail != nil {
		done(nil, fail)
	}
}

// setupInstallLocked starts the required update; back calls the next
// fetch once the device is back on its new OS.
func (d *Device) setupInstallLocked(req *SoftwareUpdateRequired, back func()) error {
	if d.enr != nil || d.sw.job != nil {
		return fmt.Errorf("%w: the device is not in Setup Assistant", ErrSetupUpdate)
	}
	rel, ok := d.setupTargetLocked(req)
	if !ok {
		return fmt.Errorf("%w: %s is not available for this device", ErrSetupUpdate, req.OSVersion)
	}
	if ddm.CompareVersions(d.id.OSVersion, rel.ProductVersion) >= 0 && !rel.SecurityImprovement {
		return fmt.Errorf("%w: already on %s, the server requires %s", ErrSetupUpdate, d.id.OSVersion, req.OSVersion)
	}
	if b := d.downloadBlockerLocked(rel); b != "" {
		return fmt.Errorf("%w: %s", ErrSetupUpdate, b)
	}
	key := rel.ProductKey(d.installedVersion(), d.id.BuildVersion)
	var j *updateJob
	j = d.startJobLocked(rel, key, installPlan{action: actForceRestart, reported: "Default", maxDeferrals: -1,
		reason: InstallReasonSetupAssistant, notify: func(st UpdateState) {
			if st.Phase == PhaseNone {
				back()
			}
		}})
	// No user exists yet: nobody is asked to authorise the install (U).
	j.authorized = true
	return nil
}

// setupTargetLocked finds the release the server requires: OSVersion
// ("16.1", or "16.1 (a)" for a supplemental), BuildVersion when it agrees
// with it. Under quirk Q16 (ade-newer-major) a Mac takes the newest major
// upgrade instead.
func (d *Device) setupTargetLocked(req *SoftwareUpdateRequired) (catalog.Release, bool) {
	if d.env.catalog == nil {
		return catalog.Release{}, false
	}
	if d.id.IsMac() && d.quirk(update.QuirkADENewerMajor) {
		for _, r := range d.installableLocked() {
			if r.IsMajorFrom(d.installedVersion()) && !r.SecurityImprovement {
				return r, true
			}
		}
	}
	v, extra, _ := strings.Cut(req.OSVersion, " ")
	build := req.BuildVersion
	if extra != "" && build == "" {
		// A supplemental named by its version: the security improvement
		// on top of the base.
		for _, r := range d.installableLocked() {
			if r.SecurityImprovement && r.ProductVersion == v && r.ProductVersionExtra == extra {
				return d.stepReleaseLocked(r)
			}
		}
		return catalog.Release{}, false
	}
	r, ok := d.resolveTargetLocked(ddm.SoftwareUpdateEnforcementSpecific{TargetOSVersion: v, TargetBuildVersion: build})
	if !ok {
		return r, false
	}
	return d.stepReleaseLocked(r)
}

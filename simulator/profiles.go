package simulator

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Configuration profiles: InstallProfile, RemoveProfile and what ProfileList
// shows of them (profile.install.yaml, profile.remove.yaml,
// profile.list.yaml). The device reads what matters to software updates,
// the deferrals of com.apple.applicationaccess (update-behaviour.md B4.8),
// and keeps the rest as a list entry.
//
// A fleet receives the same profile bytes on every device: the parsed
// profile is shared (a weak cache keyed by the bytes' hash), and a device
// keeps one pointer per installed profile, at most MaxProfiles of them.

// Limits of the profile store. Apple documents neither: the simulator
// refuses past them with the installation error a device gives (U).
const (
	// MaxProfiles is how many profiles a device holds installed.
	MaxProfiles = 100
	// MaxProfileSize is the largest profile a device reads, in bytes.
	MaxProfileSize = 1 << 20
)

// Request types of the profile commands.
const (
	RequestTypeInstallProfile = "InstallProfile"
	RequestTypeRemoveProfile  = "RemoveProfile"
)

// PayloadTypeRestrictions is the restrictions payload, whose software-update
// keys defer updates.
const PayloadTypeRestrictions = "com.apple.applicationaccess"

// Errors of the profile store; the command handlers turn them into the
// error chains devices send.
var (
	ErrProfileInvalid    = errors.New("simulator: invalid profile")
	ErrProfileLimit      = errors.New("simulator: too many profiles")
	ErrProfileNotFound   = errors.New("simulator: profile not installed")
	ErrProfileProtected  = errors.New("simulator: the enrollment profile is removed by unenrolling")
	ErrProfileEncryption = errors.New("simulator: encrypted profiles are not supported")
)

// profile is an installed profile as a device keeps it: immutable, shared
// by every device that installed the same bytes.
type profile struct {
	identifier, uuid, displayName, organization, description string
	removalDisallowed, signed                                bool
	payloads                                                 []profilePayload
	restrictions                                             profileRestrictions
}

type profilePayload struct {
	typ, identifier, uuid, displayName string
}

// profileRestrictions are the software-update keys of a restrictions
// payload, in days (0: not set) and flags.
type profileRestrictions struct {
	forceDelayed, forceDelayedMajor, forceDelayedApp bool
	delay, majorDelay, minorDelay, nonOSDelay        int
}

// ProfileInfo is an installed profile as ProfileList shows it.
type ProfileInfo struct {
	Identifier, UUID, DisplayName string
	PayloadTypes                  []string
}

// profileCache shares parsed profiles among devices.
var profileCache weakCache[profile]

// parseProfile reads a profile from InstallProfile's Payload: a plist,
// optionally signed (CMS SignedData). Encrypted profiles are refused: the
// simulated device has no key to open them.
func parseProfile(data []byte) (*profile, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty Payload", ErrProfileInvalid)
	}
	if len(data) > MaxProfileSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrProfileInvalid, len(data), MaxProfileSize)
	}
	return profileCache.get(sha256.Sum256(data), func() (*profile, error) { return readProfile(data) })
}

func readProfile(data []byte) (p *profile, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: %v", ErrProfileInvalid, r)
		}
	}()
	signed := false
	if data[0] == 0x30 { // DER: a CMS envelope
		p7, err := pkcs7.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%w: CMS: %v", ErrProfileInvalid, err)
		}
		if len(p7.Signers) == 0 {
			return nil, ErrProfileEncryption
		}
		// The signature must hold; whom it chains to does not matter
		// (an untrusted signer still installs, shown as unverified), so
		// no trust store and no clock is involved.
		if err := p7.VerifyWithChainAtTime(nil, time.Time{}); err != nil {
			return nil, fmt.Errorf("%w: signature: %v", ErrProfileInvalid, err)
		}
		data, signed = p7.Content, true
	}
	var doc struct {
		PayloadType              string           `plist:"PayloadType"`
		PayloadIdentifier        string           `plist:"PayloadIdentifier"`
		PayloadUUID              string           `plist:"PayloadUUID"`
		PayloadVersion           int              `plist:"PayloadVersion"`
		PayloadDisplayName       string           `plist:"PayloadDisplayName"`
		PayloadOrganization      string           `plist:"PayloadOrganization"`
		PayloadDescription       string           `plist:"PayloadDescription"`
		PayloadRemovalDisallowed bool             `plist:"PayloadRemovalDisallowed"`
		PayloadContent           []map[string]any `plist:"PayloadContent"`
		EncryptedPayloadContent  []byte           `plist:"EncryptedPayloadContent"`
	}
	if err := unmarshalPlist(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProfileInvalid, err)
	}
	switch {
	case len(doc.EncryptedPayloadContent) > 0:
		return nil, ErrProfileEncryption
	case doc.PayloadType != "Configuration":
		return nil, fmt.Errorf("%w: PayloadType %q, want Configuration", ErrProfileInvalid, doc.PayloadType)
	case doc.PayloadIdentifier == "" || doc.PayloadUUID == "":
		return nil, fmt.Errorf("%w: PayloadIdentifier and PayloadUUID are required", ErrProfileInvalid)
	case doc.PayloadVersion != 1:
		return nil, fmt.Errorf("%w: PayloadVersion %d, want 1", ErrProfileInvalid, doc.PayloadVersion)
	}
	p = &profile{identifier: doc.PayloadIdentifier, uuid: doc.PayloadUUID, displayName: doc.PayloadDisplayName,
		organization: doc.PayloadOrganization, description: doc.PayloadDescription,
		removalDisallowed: doc.PayloadRemovalDisallowed, signed: signed}
	for i, pl := range doc.PayloadContent {
		typ, _ := pl["PayloadType"].(string)
		id, _ := pl["PayloadIdentifier"].(string)
		uuid, _ := pl["PayloadUUID"].(string)
		name, _ := pl["PayloadDisplayName"].(string)
		if typ == "" || id == "" || uuid == "" {
			return nil, fmt.Errorf("%w: PayloadContent[%d] needs PayloadType, PayloadIdentifier and PayloadUUID", ErrProfileInvalid, i)
		}
		p.payloads = append(p.payloads, profilePayload{typ: typ, identifier: id, uuid: uuid, displayName: name})
		if typ == PayloadTypeRestrictions {
			r, err := readRestrictions(pl)
			if err != nil {
				return nil, fmt.Errorf("%w: PayloadContent[%d]: %v", ErrProfileInvalid, i, err)
			}
			p.restrictions = p.restrictions.merge(r)
		}
	}
	return p, nil
}

// readRestrictions reads the software-update keys of a restrictions
// payload, checking their types and ranges (com.apple.applicationaccess:
// booleans, and integers from 1 to 90).
func readRestrictions(pl map[string]any) (profileRestrictions, error) {
	var r profileRestrictions
	flags := []struct {
		key string
		v   *bool
	}{{"forceDelayedSoftwareUpdates", &r.forceDelayed}, {"forceDelayedMajorSoftwareUpdates", &r.forceDelayedMajor},
		{"forceDelayedAppSoftwareUpdates", &r.forceDelayedApp}}
	for _, f := range flags {
		if v, ok := pl[f.key]; ok {
			b, ok := v.(bool)
			if !ok {
				return r, fmt.Errorf("%s is %T, want a boolean", f.key, v)
			}
			*f.v = b
		}
	}
	days := []struct {
		key string
		v   *int
	}{{"enforcedSoftwareUpdateDelay", &r.delay}, {"enforcedSoftwareUpdateMajorOSDeferredInstallDelay", &r.majorDelay},
		{"enforcedSoftwareUpdateMinorOSDeferredInstallDelay", &r.minorDelay}, {"enforcedSoftwareUpdateNonOSDeferredInstallDelay", &r.nonOSDelay}}
	for _, f := range days {
		v, ok := pl[f.key]
		if !ok {
			continue
		}
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case uint64:
			n = int64(min(x, 1<<31))
		default:
			return r, fmt.Errorf("%s is %T, want an integer", f.key, v)
		}
		if n < 1 || n > 90 {
			return r, fmt.Errorf("%s is %d, want 1 to 90", f.key, n)
		}
		*f.v = int(n)
	}
	return r, nil
}

// merge combines two restriction sets the most restrictive way: a delay
// forced by either, the longer period (U: Apple documents no rule for
// several restrictions payloads).
func (r profileRestrictions) merge(o profileRestrictions) profileRestrictions {
	return profileRestrictions{
		forceDelayed: r.forceDelayed || o.forceDelayed, forceDelayedMajor: r.forceDelayedMajor || o.forceDelayedMajor,
		forceDelayedApp: r.forceDelayedApp || o.forceDelayedApp,
		delay:           max(r.delay, o.delay), majorDelay: max(r.majorDelay, o.majorDelay),
		minorDelay: max(r.minorDelay, o.minorDelay), nonOSDelay: max(r.nonOSDelay, o.nonOSDelay),
	}
}

// profileDeferrals are the deferral periods the installed restriction
// profiles give, in days.
type profileDeferrals struct{ minor, major, nonOS int }

func (p profileDeferrals) any() bool { return p.minor > 0 || p.major > 0 || p.nonOS > 0 }

// profileRestrictionsLocked combines the restriction payloads of the
// installed profiles into deferral periods. forceDelayedSoftwareUpdates
// delays OS updates by enforcedSoftwareUpdateDelay (30 days unless set),
// on macOS 11.3+ by enforcedSoftwareUpdateMinorOSDeferredInstallDelay when
// set; forceDelayedMajorSoftwareUpdates delays major upgrades by
// enforcedSoftwareUpdateMajorOSDeferredInstallDelay (30);
// forceDelayedAppSoftwareUpdates non-OS updates
// (com.apple.applicationaccess.yaml).
func (d *Device) profileRestrictionsLocked() profileDeferrals {
	if d.sw.more == nil || len(d.sw.more.profiles) == 0 {
		return profileDeferrals{}
	}
	var r profileRestrictions
	for _, p := range d.sw.more.profiles {
		r = r.merge(p.restrictions)
	}
	orDefault := func(vs ...int) int {
		for _, v := range vs {
			if v > 0 {
				return v
			}
		}
		return DefaultProfileDeferralDays
	}
	var out profileDeferrals
	if r.forceDelayed {
		out.minor = orDefault(r.delay)
		if d.id.IsMac() {
			out.minor = orDefault(r.minorDelay, r.delay)
		}
	}
	if r.forceDelayedMajor && d.id.IsMac() {
		out.major = orDefault(r.majorDelay)
	}
	if !d.id.IsMac() {
		out.major = out.minor // iOS: one period for every OS update
	}
	if r.forceDelayedApp && d.id.IsMac() {
		out.nonOS = orDefault(r.nonOSDelay, r.delay)
	}
	return out
}

// InstallProfile installs a profile (the body of InstallProfile's
// Payload), replacing an installed one with the same identifier.
func (d *Device) InstallProfile(payload []byte) error {
	p, err := parseProfile(payload)
	if err != nil {
		return err
	}
	d.withLock(func() {
		if d.enr != nil && p.identifier == d.enr.profileID {
			err = fmt.Errorf("%w: %s", ErrProfileProtected, p.identifier)
			return
		}
		m := d.sw.grow()
		if i := slices.IndexFunc(m.profiles, func(q *profile) bool { return q.identifier == p.identifier }); i >= 0 {
			m.profiles[i] = p
		} else if len(m.profiles) >= MaxProfiles {
			err = fmt.Errorf("%w: the device holds %d", ErrProfileLimit, MaxProfiles)
			return
		} else {
			m.profiles = append(m.profiles, p)
		}
		d.autoUpdateLocked()
	})
	return err
}

// RemoveProfile removes the installed profile with the identifier.
func (d *Device) RemoveProfile(identifier string) error {
	var err error
	d.withLock(func() {
		if d.enr != nil && identifier == d.enr.profileID {
			err = fmt.Errorf("%w: %s", ErrProfileProtected, identifier)
			return
		}
		var i int = -1
		if d.sw.more != nil {
			i = slices.IndexFunc(d.sw.more.profiles, func(q *profile) bool { return q.identifier == identifier })
		}
		if i < 0 {
			err = fmt.Errorf("%w: %q", ErrProfileNotFound, identifier)
			return
		}
		d.sw.more.profiles = slices.Delete(d.sw.more.profiles, i, i+1)
		// A deferral may have gone with it: automatic actions act now,
		// as after InstallProfile.
		d.autoUpdateLocked()
	})
	return err
}

// Profiles lists the profiles the device holds installed (the enrollment
// profile aside), in the order they were first installed.
func (d *Device) Profiles() []ProfileInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sw.more == nil {
		return nil
	}
	var out []ProfileInfo
	for _, p := range d.sw.more.profiles {
		info := ProfileInfo{Identifier: p.identifier, UUID: p.uuid, DisplayName: p.displayName}
		for _, pl := range p.payloads {
			info.PayloadTypes = append(info.PayloadTypes, pl.typ)
		}
		out = append(out, info)
	}
	return out
}

// profileListItems are the ProfileList entries of the installed profiles.
func (d *Device) profileListItems() []any {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sw.more == nil {
		return nil
	}
	out := make([]any, 0, len(d.sw.more.profiles))
	for _, p := range d.sw.more.profiles {
		content := make([]any, 0, len(p.payloads))
		for _, pl := range p.payloads {
			c := map[string]any{"PayloadType": pl.typ, "PayloadIdentifier": pl.identifier, "PayloadUUID": pl.uuid, "PayloadVersion": 1}
			if pl.displayName != "" {
				c["PayloadDisplayName"] = pl.displayName
			}
			content = append(content, c)
		}
		item := map[string]any{
			"PayloadIdentifier": p.identifier, "PayloadUUID": p.uuid, "PayloadVersion": 1,
			"IsEncrypted": false, "HasRemovalPasscode": false, "PayloadRemovalDisallowed": p.removalDisallowed,
			"PayloadContent": content,
		}
		if p.displayName != "" {
			item["PayloadDisplayName"] = p.displayName
		}
		if p.organization != "" {
			item["PayloadOrganization"] = p.organization
		}
		if p.description != "" {
			item["PayloadDescription"] = p.description
		}
		if !d.id.IsMac() {
			item["IsManaged"] = true
		}
		out = append(out, item)
	}
	return out
}

// Error chains of the profile commands. A malformed profile gets what
// profiled logs for one (MCInstallationErrorDomain 4000 over
// MCProfileErrorDomain 1000 "Invalid Profile", seen in the field); a
// refused installation 4001 "Profile Installation Failed" (seen); an
// unknown identifier in RemoveProfile macOS's "MDMClientError (89):
// Profile with identifier '…' not found." (Fleet #21713). The sentences
// under them, and the use of these codes for the limits, are the
// simulator's (U).
func profileErrorChain(err error, identifier string) []protocol.ErrorChainItem {
	item := func(code int, domain, msg string) protocol.ErrorChainItem {
		return protocol.ErrorChainItem{ErrorCode: code, ErrorDomain: domain, LocalizedDescription: msg, USEnglishDescription: msg}
	}
	switch {
	case errors.Is(err, ErrProfileNotFound):
		return []protocol.ErrorChainItem{item(89, "MDMClientError", fmt.Sprintf("Profile with identifier '%s' not found.", identifier))}
	case errors.Is(err, ErrProfileLimit), errors.Is(err, ErrProfileProtected), errors.Is(err, ErrProfileEncryption):
		return []protocol.ErrorChainItem{
			item(4001, "MCInstallationErrorDomain", "Profile Installation Failed"),
			item(4001, "MCInstallationErrorDomain", err.Error()),
		}
	}
	return []protocol.ErrorChainItem{
		item(4000, "MCInstallationErrorDomain", "Invalid Profile"),
		item(1000, "MCProfileErrorDomain", err.Error()),
	}
}

func handleInstallProfile(_ context.Context, d *Device, cmd *protocol.Command) *protocol.Result {
	p, err := protocol.DecodePayload[struct {
		Payload []byte `plist:"Payload"`
	}](cmd)
	if err != nil {
		return FormatError(cmd.CommandUUID, err)
	}
	if err := d.InstallProfile(p.Payload); err != nil {
		return ErrorResult(profileErrorChain(err, "")...)
	}
	return nil
}

func handleRemoveProfile(_ context.Context, d *Device, cmd *protocol.Command) *protocol.Result {
	p, err := protocol.DecodePayload[struct {
		Identifier string `plist:"Identifier"`
	}](cmd)
	if err != nil {
		return FormatError(cmd.CommandUUID, err)
	}
	if p.Identifier == "" {
		return FormatError(cmd.CommandUUID, errors.New("RemoveProfile without an Identifier"))
	}
	if err := d.RemoveProfile(p.Identifier); err != nil {
		return ErrorResult(profileErrorChain(err, p.Identifier)...)
	}
	return nil
}

// RegisterProfileHandlers registers InstallProfile and RemoveProfile.
// DefaultHandlers calls it.
func RegisterProfileHandlers(h *Handlers) {
	h.Handle(RequestTypeInstallProfile, Handler{Handle: handleInstallProfile, AccessRight: AccessProfileInstall})
	h.Handle(RequestTypeRemoveProfile, Handler{Handle: handleRemoveProfile, AccessRight: AccessProfileInstall})
}

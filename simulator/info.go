package simulator

import (
	"context"
	"crypto/x509"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// deviceInformation returns the device's answers to queries (every query
// it answers when queries is empty), with values that agree with its
// identity and current state, keeping only the queries its platform and OS
// version answer and rights allow (queryAnswered, from Apple's schema).
func (d *Device) deviceInformation(rights int, queries []string) map[string]any {
	d.mu.Lock()
	id := d.id
	var token []byte
	if d.enr != nil {
		token = d.enr.token[:]
	}
	dnd := d.sw.user.DoNotDisturb
	d.mu.Unlock()
	major := identity.Major(id.OSVersion)
	mac := id.IsMac()
	v := map[string]any{
		"UDID":                          id.UDID,
		"DeviceName":                    id.DeviceName,
		"OSVersion":                     id.OSVersion,
		"BuildVersion":                  id.BuildVersion,
		"ModelName":                     id.Model.ModelName,
		"Model":                         id.Model.Identifier,
		"ModelNumber":                   id.Model.ModelNumber,
		"ProductName":                   id.Model.Identifier,
		"SerialNumber":                  id.SerialNumber,
		"DeviceCapacity":                id.DeviceCapacity,
		"AvailableDeviceCapacity":       id.AvailableDeviceCapacity,
		"BatteryLevel":                  id.BatteryLevel,
		"IsSupervised":                  id.IsSupervised,
		"IsDeviceLocatorServiceEnabled": false,
		"IsActivationLockEnabled":       false,
		"IsCloudBackupEnabled":          false,
		"IsDoNotDisturbInEffect":        dnd,
		"IsMDMLostModeEnabled":          false,
		"TimeZone":                      id.TimeZone,
		"AwaitingConfiguration":         false,
		"WiFiMAC":                       id.WiFiMAC,
		"BluetoothMAC":                  id.BluetoothMAC,
		// Supplemental: without a security response installed, devices
		// report the base build (the key's schema description).
		"SupplementalBuildVersion": id.BuildVersion,
		"SoftwareUpdateDeviceID":   id.Model.SoftwareUpdateDeviceID,
	}
	if token != nil {
		v["PushToken"] = token
	}
	if id.SupplementalBuildVersion != "" {
		v["SupplementalBuildVersion"] = id.SupplementalBuildVersion
		v["SupplementalOSVersionExtra"] = id.SupplementalOSVersionExtra
	}
	if mac {
		v["IsAppleSilicon"] = id.Model.AppleSilicon
		v["ProvisioningUDID"] = id.ProvisioningUDID
		v["SystemIntegrityProtectionEnabled"] = true
		// Activation Lock needs a T2 chip or Apple silicon.
		v["IsActivationLockSupported"] = id.Model.AppleSilicon || id.Model.T2
		hasBattery := strings.HasPrefix(id.Model.ModelName, "MacBook")
		v["HasBattery"] = hasBattery
		if !hasBattery {
			v["BatteryLevel"] = -1.0
		}
		host := hostNamer.Replace(id.DeviceName)
		v["LocalHostName"] = host
		v["HostName"] = host + ".local"
		v["EthernetMAC"] = id.EthernetMAC
		v["OSUpdateSettings"] = osUpdateSettings(major)
	} else {
		v["IsMultiUser"] = false
		v["iTunesStoreAccountIsActive"] = false
		if id.IMEI != "" {
			v["IMEI"] = id.IMEI
			v["ModemFirmwareVersion"] = "2.0" + strconv.Itoa(major%10) + ".01"
		}
	}
	// Keys asked for (all of them when queries is empty) that the device
	// knows and may tell; a value the device does not have (an address
	// the caller's identity leaves empty) is not reported.
	keep := func(q string, x any) bool {
		s, ok := x.(string)
		return (!ok || s != "") && queryAnswered(q, &id, rights)
	}
	if len(queries) == 0 {
		for q, x := range v {
			if !keep(q, x) {
				delete(v, q)
			}
		}
		return v
	}
	resp := make(map[string]any, len(queries))
	for _, q := range queries {
		if x, ok := v[q]; ok && keep(q, x) {
			resp[q] = x
		}
	}
	return resp
}

// hostNamer makes a Mac's local host name of its device name.
var hostNamer = strings.NewReplacer("’", "", "'", "", " ", "-")

func osUpdateSettings(major int) map[string]any {
	return map[string]any{
		"CatalogURL":                      "https://swscan.apple.com/content/catalogs/others/index-" + strconv.Itoa(major) + ".merged-1.sucatalog",
		"IsDefaultCatalog":                true,
		"PerformPeriodicCheck":            true,
		"AutoCheckEnabled":                true,
		"BackgroundDownloadEnabled":       true,
		"AutomaticAppInstallationEnabled": false,
		"AutomaticOSInstallationEnabled":  false,
		"AutomaticSecurityUpdatesEnabled": true,
	}
}

func handleDeviceInformation(_ context.Context, d *Device, cmd *protocol.Command) *protocol.Result {
	p, err := protocol.DecodePayload[struct {
		Queries []string `plist:"Queries"`
	}](cmd)
	if err != nil {
		return FormatError(cmd.CommandUUID, err)
	}
	// A device without an enrollment is one a test drives directly: it
	// answers as if every right were granted.
	d.mu.Lock()
	rights := AccessAll
	if d.enr != nil {
		rights = d.enr.accessRights
	}
	d.mu.Unlock()
	return Acknowledged(map[string]any{"QueryResponses": d.deviceInformation(rights, p.Queries)})
}

func handleSecurityInfo(_ context.Context, d *Device, _ *protocol.Command) *protocol.Result {
	d.mu.Lock()
	id := d.id
	passcode := d.sw.user.Passcode
	d.mu.Unlock()
	// ManagementStatus: EnrolledViaDEP, UserApprovedEnrollment and
	// IsActivationLockManageable are macOS keys; iOS reports only
	// IsUserEnrollment (information.security.yaml).
	mgmt := map[string]any{"IsUserEnrollment": false}
	if id.IsMac() {
		mgmt["EnrolledViaDEP"] = id.ViaADE()
		mgmt["UserApprovedEnrollment"] = true
		mgmt["IsActivationLockManageable"] = id.IsSupervised
	}
	var info map[string]any
	if id.IsMac() {
		info = map[string]any{
			"FDE_Enabled":                      true,
			"FDE_HasPersonalRecoveryKey":       true,
			"FDE_HasInstitutionalRecoveryKey":  false,
			"SystemIntegrityProtectionEnabled": true,
			"FirewallSettings": map[string]any{
				"FirewallEnabled": true, "BlockAllIncoming": false, "StealthMode": false,
			},
			"ManagementStatus":               mgmt,
			"AuthenticatedRootVolumeEnabled": true,
			"RemoteDesktopEnabled":           false,
			"IsRecoveryLockEnabled":          false,
		}
		if id.Model.AppleSilicon || id.Model.T2 {
			info["SecureBoot"] = map[string]any{"SecureBootLevel": "full", "ExternalBootLevel": "disallowed"}
		} else {
			info["SecureBoot"] = map[string]any{"SecureBootLevel": "not supported", "ExternalBootLevel": "not supported"}
		}
		info["BootstrapTokenAllowedForAuthentication"] = "not supported"
		info["BootstrapTokenRequiredForSoftwareUpdate"] = false
		info["BootstrapTokenRequiredForKernelExtensionApproval"] = false
		if id.Model.AppleSilicon {
			// Set automatically for Macs enrolled through Automated Device
			// Enrollment (the supervised ones here); others must allow it in
			// recoveryOS.
			info["BootstrapTokenAllowedForAuthentication"] = "disallowed"
			if id.IsSupervised {
				info["BootstrapTokenAllowedForAuthentication"] = "allowed"
			}
			info["BootstrapTokenRequiredForSoftwareUpdate"] = true
			info["BootstrapTokenRequiredForKernelExtensionApproval"] = true
		}
	} else {
		// The passcode is the user's (update.UserProfile.Passcode). No
		// passcode policy is installed, so any passcode, or none, complies.
		info = map[string]any{
			"HardwareEncryptionCaps":        3,
			"PasscodePresent":               passcode,
			"PasscodeCompliant":             true,
			"PasscodeCompliantWithProfiles": true,
			// 0: the passcode, if any, is asked for at once.
			"PasscodeLockGracePeriodEnforced": 0,
			"ManagementStatus":                mgmt,
		}
	}
	return Acknowledged(map[string]any{"SecurityInfo": info})
}

func handleProfileList(_ context.Context, d *Device, _ *protocol.Command) *protocol.Result {
	d.mu.Lock()
	enr := d.enr
	d.mu.Unlock()
	list := []any{}
	if enr != nil {
		item := map[string]any{
			"PayloadIdentifier":        enr.profileID,
			"PayloadUUID":              enr.profileUUID,
			"PayloadDisplayName":       "MDM enrollment",
			"PayloadVersion":           1,
			"IsEncrypted":              false,
			"HasRemovalPasscode":       false,
			"PayloadRemovalDisallowed": false,
			"PayloadContent": []any{
				map[string]any{"PayloadType": protocol.PayloadTypeMDM, "PayloadIdentifier": enr.profileID + ".mdm",
					"PayloadUUID": enr.mdmUUID, "PayloadVersion": 1},
			},
		}
		if !d.id.IsMac() {
			// IsManaged is not a macOS key (profile.list.yaml).
			item["IsManaged"] = true
		}
		list = append(list, item)
	}
	list = append(list, d.profileListItems()...)
	return Acknowledged(map[string]any{"ProfileList": list})
}

type app struct {
	id, name, version string
	size              int
}

var macApps = []app{
	{"com.apple.Safari", "Safari", "19.1", 140_000_000},
	{"com.google.Chrome", "Google Chrome", "131.0.6778.86", 1_100_000_000},
	{"com.microsoft.Word", "Microsoft Word", "16.91", 2_300_000_000},
	{"com.microsoft.teams2", "Microsoft Teams", "24295.606.3238", 600_000_000},
	{"com.tinyspeck.slackmacgap", "Slack", "4.41.105", 450_000_000},
	{"us.zoom.xos", "zoom.us", "6.2.11", 310_000_000},
	{"com.apple.dt.Xcode", "Xcode", "16.1", 11_000_000_000},
	{"com.microsoft.VSCode", "Visual Studio Code", "1.95.3", 560_000_000},
}

var iosApps = []app{
	{"com.microsoft.Office.Outlook", "Outlook", "4.2446.0", 420_000_000},
	{"com.microsoft.skype.teams", "Microsoft Teams", "6.24.1", 350_000_000},
	{"com.tinyspeck.chatlyio", "Slack", "24.11.10", 260_000_000},
	{"us.zoom.videomeetings", "Zoom", "6.2.10", 180_000_000},
	{"com.google.chrome.ios", "Chrome", "131.0.6778.73", 280_000_000},
}

func handleInstalledApplicationList(_ context.Context, d *Device, cmd *protocol.Command) *protocol.Result {
	p, err := protocol.DecodePayload[struct {
		Identifiers     []string `plist:"Identifiers"`
		ManagedAppsOnly bool     `plist:"ManagedAppsOnly"`
	}](cmd)
	if err != nil {
		return FormatError(cmd.CommandUUID, err)
	}
	id := d.Identity()
	apps := iosApps
	if id.IsMac() {
		apps = macApps
	}
	// The same device always has the same apps.
	r := rand.New(rand.NewPCG(uint64(id.Seed), 0xa99))
	want := map[string]bool{}
	for _, i := range p.Identifiers {
		want[i] = true
	}
	list := []any{}
	for i, a := range apps {
		if i > 0 && r.IntN(3) == 0 {
			continue
		}
		if len(want) > 0 && !want[a.id] {
			continue
		}
		if p.ManagedAppsOnly {
			continue
		}
		list = append(list, map[string]any{
			"Identifier": a.id, "Name": a.name, "ShortVersion": a.version, "Version": a.version,
			"BundleSize": a.size, "Installing": false,
		})
	}
	return Acknowledged(map[string]any{"InstalledApplicationList": list})
}

func handleCertificateList(_ context.Context, d *Device, _ *protocol.Command) *protocol.Result {
	d.mu.Lock()
	enr := d.enr
	d.mu.Unlock()
	list := []any{}
	if enr != nil {
		if c, err := enr.identity.Certificate(); err == nil {
			list = append(list, map[string]any{"CommonName": c.Subject.CommonName, "Data": c.Raw, "IsIdentity": true})
		}
		for _, der := range enr.anchors {
			if c, err := x509.ParseCertificate(der); err == nil {
				list = append(list, map[string]any{"CommonName": c.Subject.CommonName, "Data": c.Raw, "IsIdentity": false})
			}
		}
	}
	return Acknowledged(map[string]any{"CertificateList": list})
}

package catalog

import (
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AssetSet names a top-level set of the GDMF answer.
type AssetSet string

// The sets of /v2/pmv. PublicRapidSecurityResponses is the name Apple used
// for the security-improvement set until late October 2025.
const (
	PublicAssetSets                      AssetSet = "PublicAssetSets"
	AssetSets                            AssetSet = "AssetSets"
	PublicBackgroundSecurityImprovements AssetSet = "PublicBackgroundSecurityImprovements"
	PublicRapidSecurityResponses         AssetSet = "PublicRapidSecurityResponses"
)

// DefaultExpiration is how long after posting Apple usually lets an asset
// expire; Post uses it when a release has no ExpirationDate.
const DefaultExpiration = 180 * 24 * time.Hour

// Release is one entry of the GDMF answer: an OS version and build offered to
// a list of devices.
//
// Releases returned by a Catalog share their SupportedDevices slice with the
// catalog: treat it as read-only.
type Release struct {
	Platform       Platform
	ProductVersion string
	Build          string
	PostingDate    time.Time // UTC midnight
	ExpirationDate time.Time // UTC midnight; from then on the release is gone (zero: never)
	// SupportedDevices lists SoftwareUpdateDeviceIDs (see Model).
	SupportedDevices []string
	// ProductVersionExtra ("(a)") and PrerequisiteBuild (the base build the
	// update applies to) are set for security improvements only.
	ProductVersionExtra string
	PrerequisiteBuild   string
	// Public reports that the release is listed in PublicAssetSets. Every
	// public release is also in AssetSets.
	Public bool
	// SecurityImprovement marks a Background Security Improvement (formerly
	// Rapid Security Response): listed in PublicBackgroundSecurityImprovements,
	// never in the asset sets.
	SecurityImprovement bool

	// publicOnly marks a loaded entry that Apple listed in PublicAssetSets
	// without an identical AssetSets entry (Apple then covers its devices
	// with another AssetSets entry of the same build). The zero value, the
	// right one for a Release built in code, lists a public release in both.
	publicOnly bool
	// inferPublic marks a loaded AssetSets entry that no snapshot listed as
	// public: it may well have been public between two snapshots (see
	// Catalog.Document). Releases built in code say what they are.
	inferPublic bool
}

// Version parses ProductVersion; it is the zero Version if that is malformed.
func (r Release) Version() Version {
	v, _ := ParseVersion(r.ProductVersion)
	return v
}

// Supports reports whether a device with this SoftwareUpdateDeviceID may
// install the release.
func (r Release) Supports(softwareUpdateDeviceID string) bool {
	return softwareUpdateDeviceID != "" && slices.Contains(r.SupportedDevices, softwareUpdateDeviceID)
}

// In reports whether the release belongs in the given set of the GDMF
// answer as far as its own flags tell; Catalog.Document decides which public
// releases are current at a given time.
func (r Release) In(set AssetSet) bool {
	switch set {
	case PublicAssetSets:
		return r.Public && !r.SecurityImprovement
	case AssetSets:
		return !r.SecurityImprovement && !r.publicOnly
	case PublicBackgroundSecurityImprovements, PublicRapidSecurityResponses:
		return r.SecurityImprovement
	}
	return false
}

// IsMajorFrom reports whether installing r from installed crosses a major
// version ("15.7.9" → "26.1").
func (r Release) IsMajorFrom(installed Version) bool {
	return r.Version().Major > installed.Major
}

// ProductKey is the AvailableOSUpdates ProductKey a device running installed
// (build installedBuild) shows for r.
//
// macOS: "MSU_UPDATE_<build>_patch_<version>_minor" within a major,
// "…_major" across majors, "…_rsr" for a security improvement (its own
// build, the base version, e.g. MSU_UPDATE_25D771280a_patch_26.3.1_rsr).
// A Mac still on macOS 13 or older is offered a major upgrade as a full
// installer, "_MACOS_<version>"; from macOS 14 Apple lists only OTA updates.
// Other platforms: "iOSUpdate<build>".
func (r Release) ProductKey(installed Version, installedBuild string) string {
	if r.Platform != MacOS {
		return "iOSUpdate" + r.Build
	}
	v := r.Version().String()
	switch {
	case r.SecurityImprovement:
		return "MSU_UPDATE_" + r.Build + "_patch_" + v + "_rsr"
	case r.IsMajorFrom(installed) && installed.Major < 14:
		return "_MACOS_" + v
	case r.IsMajorFrom(installed):
		return "MSU_UPDATE_" + r.Build + "_patch_" + v + "_major"
	}
	return "MSU_UPDATE_" + r.Build + "_patch_" + v + "_minor"
}

// HumanReadableName is the AvailableOSUpdates HumanReadableName of r on m:
// "macOS Tahoe 26.1", "iOS 26.1", "iPadOS 26.1", "macOS Tahoe 26.3.1 (a)".
func (r Release) HumanReadableName(m Model) string {
	v := r.Version()
	var name string
	switch {
	case r.Platform == MacOS:
		name = "macOS "
		if n := macOSNames[v.Major]; n != "" {
			name += n + " "
		}
	case r.Platform == VisionOS:
		name = "visionOS "
	case m.Family == "iPad":
		name = "iPadOS "
	default:
		name = "iOS "
	}
	name += v.String()
	if r.ProductVersionExtra != "" {
		name += " " + r.ProductVersionExtra
	}
	return name
}

// MacOSName is the marketing name of a macOS major version ("Tahoe" for
// 26), or "" for one the catalog does not name. Release names and the
// device's device.operating-system.marketing-name status item both use it.
func MacOSName(major int) string { return macOSNames[major] }

var macOSNames = map[int]string{
	11: "Big Sur", 12: "Monterey", 13: "Ventura", 14: "Sonoma", 15: "Sequoia", 26: "Tahoe",
}

const (
	mb = 1 << 20
	gb = 1 << 30
)

// DownloadSize is the update's download size in bytes for m coming from
// installed: deterministic for (release, model, installed), in the ranges real
// devices report (macOS patch ~0.9–1.8 GB, minor ~1.6–3 GB, major ~12–17 GB;
// iOS patch ~0.5–0.9 GB, minor ~0.9–1.5 GB, major ~6–8 GB; security
// improvements tens to a few hundred MB).
func (r Release) DownloadSize(m Model, installed Version) int64 {
	lo, hi := r.sizeRange(m, installed)
	return lo + int64(r.fraction(m, installed, "download")*float64(hi-lo))
}

// InstallSize is the space the update needs to install, in bytes: a few
// percent over the download on iOS (real devices report ~1%), about twice the
// download on macOS, where preparing the update unpacks it.
func (r Release) InstallSize(m Model, installed Version) int64 {
	d := r.DownloadSize(m, installed)
	f := r.fraction(m, installed, "install")
	if r.Platform == MacOS {
		return d + int64(float64(d)*(0.8+0.4*f))
	}
	return d + int64(float64(d)*(0.005+0.03*f))
}

func (r Release) sizeRange(m Model, installed Version) (lo, hi int64) {
	v := r.Version()
	mac := r.Platform == MacOS
	switch {
	case r.SecurityImprovement && mac:
		return 60 * mb, 240 * mb
	case r.SecurityImprovement:
		return 40 * mb, 160 * mb
	case r.IsMajorFrom(installed) && mac:
		return 12 * gb, 17 * gb
	case r.IsMajorFrom(installed):
		return 6 * gb, 8 * gb
	case v.Minor != installed.Minor && mac:
		return 1600 * mb, 3 * gb
	case mac:
		return 900 * mb, 1800 * mb
	case v.Minor != installed.Minor:
		return 900 * mb, 1500 * mb
	}
	return 500 * mb, 900 * mb
}

// fraction is a stable pseudo-random number in [0,1) for the release, the
// model and the installed version: sizes differ between models and starting
// points but never between runs.
func (r Release) fraction(m Model, installed Version, what string) float64 {
	h := fnv.New64a()
	for _, s := range []string{string(r.Platform), r.Build, r.ProductVersion, m.Identifier, installed.String(), what} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return float64(h.Sum64()>>11) / float64(1<<53)
}

// key identifies an entry of the GDMF answer: Apple lists the same build
// several times with different device lists.
func (r Release) key() string {
	var b strings.Builder
	b.WriteString(string(r.Platform))
	b.WriteByte(0)
	b.WriteString(r.Build)
	b.WriteByte(0)
	b.WriteString(strconv.FormatBool(r.SecurityImprovement))
	for _, d := range r.SupportedDevices {
		b.WriteByte(0)
		b.WriteString(d)
	}
	return b.String()
}

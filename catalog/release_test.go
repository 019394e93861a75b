package catalog

import (
	"strings"
	"testing"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func TestProductKey(t *testing.T) {
	t.Parallel()
	mac := Release{Platform: MacOS, ProductVersion: "26.1", Build: "25B78"}
	bsi := Release{Platform: MacOS, ProductVersion: "26.3.1", Build: "25D771280a", ProductVersionExtra: "(a)",
		PrerequisiteBuild: "25D2128", SecurityImprovement: true}
	ios := Release{Platform: IOS, ProductVersion: "26.1", Build: "23B85"}
	tests := []struct {
		name      string
		r         Release
		installed string
		want      string
		major     bool
	}{
		{"mac minor", mac, "26.0.1", "MSU_UPDATE_25B78_patch_26.1_minor", false},
		{"mac major from 15", mac, "15.7.9", "MSU_UPDATE_25B78_patch_26.1_major", true},
		{"mac major from 14", mac, "14.8.1", "MSU_UPDATE_25B78_patch_26.1_major", true},
		{"mac major from 13 is a full installer", mac, "13.7.8", "_MACOS_26.1", true},
		{"mac bsi", bsi, "26.3.1", "MSU_UPDATE_25D771280a_patch_26.3.1_rsr", false},
		{"ios minor", ios, "26.0.1", "iOSUpdate23B85", false},
		{"ios major", ios, "18.7.1", "iOSUpdate23B85", true},
		{"mac x.0 keeps .0", Release{Platform: MacOS, ProductVersion: "26.0", Build: "25A354"}, "15.6", "MSU_UPDATE_25A354_patch_26.0_major", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := MustParseVersion(tt.installed)
			if got := tt.r.ProductKey(v, "X"); got != tt.want {
				t.Errorf("ProductKey = %q, want %q", got, tt.want)
			}
			if got := tt.r.IsMajorFrom(v); got != tt.major {
				t.Errorf("IsMajorFrom = %v, want %v", got, tt.major)
			}
		})
	}
}

func TestHumanReadableName(t *testing.T) {
	t.Parallel()
	mac, phone, pad := mustModel(t, "Mac14,2"), mustModel(t, "iPhone15,2"), mustModel(t, "iPad13,18")
	tests := []struct {
		r    Release
		m    Model
		want string
	}{
		{Release{Platform: MacOS, ProductVersion: "26.1"}, mac, "macOS Tahoe 26.1"},
		{Release{Platform: MacOS, ProductVersion: "15.7.9"}, mac, "macOS Sequoia 15.7.9"},
		{Release{Platform: MacOS, ProductVersion: "27.0"}, mac, "macOS 27.0"},
		{Release{Platform: MacOS, ProductVersion: "26.3.1", ProductVersionExtra: "(a)", SecurityImprovement: true}, mac, "macOS Tahoe 26.3.1 (a)"},
		{Release{Platform: IOS, ProductVersion: "26.1"}, phone, "iOS 26.1"},
		{Release{Platform: IOS, ProductVersion: "26.0.1"}, pad, "iPadOS 26.0.1"},
		{Release{Platform: VisionOS, ProductVersion: "26.1"}, Model{}, "visionOS 26.1"},
	}
	for _, tt := range tests {
		if got := tt.r.HumanReadableName(tt.m); got != tt.want {
			t.Errorf("HumanReadableName(%s, %s) = %q, want %q", tt.r.ProductVersion, tt.m.Identifier, got, tt.want)
		}
	}
}

func TestSizes(t *testing.T) {
	t.Parallel()
	mac, phone := mustModel(t, "Mac14,2"), mustModel(t, "iPhone15,2")
	const MB, GB = int64(1 << 20), int64(1 << 30)
	tests := []struct {
		name      string
		r         Release
		m         Model
		installed string
		lo, hi    int64
	}{
		{"mac patch", Release{Platform: MacOS, ProductVersion: "26.1.1", Build: "25B90"}, mac, "26.1", 500 * MB, 3 * GB},
		{"mac minor", Release{Platform: MacOS, ProductVersion: "26.2", Build: "25C56"}, mac, "26.1", 1 * GB, 3 * GB},
		{"mac major", Release{Platform: MacOS, ProductVersion: "26.2", Build: "25C56"}, mac, "15.7.3", 12 * GB, 17 * GB},
		{"mac bsi", Release{Platform: MacOS, ProductVersion: "26.3.1", Build: "25D771280a", SecurityImprovement: true}, mac, "26.3.1", 10 * MB, 500 * MB},
		{"ios minor", Release{Platform: IOS, ProductVersion: "26.2", Build: "23C55"}, phone, "26.1", 500 * MB, 1536 * MB},
		{"ios patch", Release{Platform: IOS, ProductVersion: "26.2.1", Build: "23C71"}, phone, "26.2", 500 * MB, 1536 * MB},
		{"ios major", Release{Platform: IOS, ProductVersion: "26.2", Build: "23C55"}, phone, "18.7.3", 6 * GB, 8 * GB},
		{"ios bsi", Release{Platform: IOS, ProductVersion: "26.3.1", Build: "23D771330a", SecurityImprovement: true}, phone, "26.3.1", 10 * MB, 500 * MB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := MustParseVersion(tt.installed)
			d := tt.r.DownloadSize(tt.m, v)
			if d < tt.lo || d > tt.hi {
				t.Errorf("DownloadSize = %d, want in [%d, %d]", d, tt.lo, tt.hi)
			}
			if again := tt.r.DownloadSize(tt.m, v); again != d {
				t.Errorf("DownloadSize not deterministic: %d then %d", d, again)
			}
			in := tt.r.InstallSize(tt.m, v)
			if in <= d || in > 3*d {
				t.Errorf("InstallSize = %d for download %d", in, d)
			}
		})
	}
	// Different models and starting points get different sizes.
	r := Release{Platform: MacOS, ProductVersion: "26.2", Build: "25C56"}
	if r.DownloadSize(mac, MustParseVersion("26.1")) == r.DownloadSize(mustModel(t, "Mac15,3"), MustParseVersion("26.1")) {
		t.Error("two models got the same download size")
	}
}

func TestReleaseSupportsAndIn(t *testing.T) {
	t.Parallel()
	r := Release{Platform: MacOS, SupportedDevices: []string{"J274AP", "J413AP"}, Public: true}
	if !r.Supports("J413AP") || r.Supports("J999AP") || r.Supports("") {
		t.Error("Supports wrong")
	}
	if !r.In(PublicAssetSets) || !r.In(AssetSets) || r.In(PublicBackgroundSecurityImprovements) || r.In("Other") {
		t.Error("In wrong for a public release")
	}
	si := Release{SecurityImprovement: true}
	if si.In(PublicAssetSets) || si.In(AssetSets) || !si.In(PublicBackgroundSecurityImprovements) || !si.In(PublicRapidSecurityResponses) {
		t.Error("In wrong for a security improvement")
	}
	if (Release{ProductVersion: "junk"}).Version() != (Version{}) {
		t.Error("malformed ProductVersion should give the zero Version")
	}
}

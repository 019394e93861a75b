package simulator

import (
	"errors"
	"testing"
)

// TestParseUpdateRequired: a 403 body the device cannot use is an error,
// never a required update it would act on.
func TestParseUpdateRequired(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, ct, body string
		want           string // OSVersion, or "" for an error
	}{
		{"json", "application/json", `{"code":"com.apple.softwareupdate.required","details":{"OSVersion":"18.7.1","BuildVersion":"22H31"}}`, "18.7.1"},
		{"plist", "application/xml", `<plist><dict><key>code</key><string>com.apple.softwareupdate.required</string><key>details</key><dict><key>OSVersion</key><string>26.1</string></dict></dict></plist>`, "26.1"},
		{"other code", "application/json", `{"code":"com.example.nope","details":{"OSVersion":"18.7.1"}}`, ""},
		{"no OSVersion", "application/json", `{"code":"com.apple.softwareupdate.required","details":{}}`, ""},
		{"wrong types", "application/json", `{"code":"com.apple.softwareupdate.required","details":{"OSVersion":18}}`, ""},
		{"details an array", "application/xml", `<plist><dict><key>code</key><string>com.apple.softwareupdate.required</string><key>details</key><array/></dict></plist>`, ""},
		{"not json", "application/json", `{`, ""},
		{"empty", "", ``, ""},
	} {
		err := parseUpdateRequired(tt.ct, []byte(tt.body))
		var req *SoftwareUpdateRequired
		switch {
		case tt.want == "" && errors.As(err, &req):
			t.Errorf("%s: acted on %+v", tt.name, req)
		case tt.want != "" && (!errors.As(err, &req) || req.OSVersion != tt.want):
			t.Errorf("%s: %v, want OSVersion %s", tt.name, err, tt.want)
		}
	}
}

// FuzzParseUpdateRequired: any 403 body gives an error value, never a
// panic.
func FuzzParseUpdateRequired(f *testing.F) {
	f.Add("application/json", []byte(`{"code":"com.apple.softwareupdate.required","details":{"OSVersion":"18.7.1"}}`))
	f.Add("application/xml", []byte(`<plist><dict><key>code</key><string>x</string></dict></plist>`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		// Whatever the body, a 403 is an error; it names a required
		// update exactly when the body is Apple's softwareupdate.required
		// with an OSVersion.
		err := parseUpdateRequired(ct, body)
		if err == nil {
			t.Fatal("nil error")
		}
		var req *SoftwareUpdateRequired
		if errors.As(err, &req) && req.OSVersion == "" {
			t.Fatalf("a required update without an OS version: %v", err)
		}
	})
}

package simulator_test

import (
	"testing"

	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// TestSettingsBetaEnrollmentReported: two settings declarations combine
// (Beta.RequireProgram is "first", ProgramEnrollment "enum-last"), and the
// device reports the program it is enrolled in as
// softwareupdate.beta-enrollment; AlwaysOff takes it out again. Every
// report is checked against Apple's schema by the server.
func TestSettingsBetaEnrollmentReported(t *testing.T) {
	t.Parallel()
	r := newEnfRig(t, enfIPhone, update.UserProfile{Response: update.UserIgnores})
	subs := map[string]any{"StatusItems": []any{
		map[string]any{"Name": "softwareupdate.beta-enrollment"},
		map[string]any{"Name": "softwareupdate.install-state"},
	}}
	put := func(round string, decls map[string]map[string]any) {
		ids := []string{"subs"}
		r.srv.put(ddm.TypeStatusSubscriptions, "subs", "s2", subs)
		for id, p := range decls {
			r.srv.put(ddm.TypeSoftwareUpdateSettings, id, "t-"+id, p)
			ids = append(ids, id)
		}
		r.srv.put(ddm.TypeActivationSimple, "act", "a-"+round, activation(ids...))
		r.srv.enqueueDM(false)
		connect(t, r.d)
	}
	put("1", map[string]map[string]any{
		"beta-a": {"Beta": map[string]any{"ProgramEnrollment": "AlwaysOn", "RequireProgram": map[string]any{"Description": "iOS 26 Beta", "Token": "tok-a"}}},
		"beta-b": {"Beta": map[string]any{"ProgramEnrollment": "AlwaysOn", "RequireProgram": map[string]any{"Description": "iOS 26 Public Beta", "Token": "tok-b"}}},
	})
	if have := r.item("beta-enrollment"); have != "iOS 26 Beta" {
		t.Errorf("beta-enrollment %v, want the first declaration's program", have)
	}
	if s := r.d.UpdateSettings(); s.BetaEnrollment != "AlwaysOn" || s.BetaProgram != "iOS 26 Beta" {
		t.Errorf("settings %+v", s)
	}
	r.srv.remove("beta-b")
	put("2", map[string]map[string]any{
		"beta-a": {"Beta": map[string]any{"ProgramEnrollment": "AlwaysOn", "RequireProgram": map[string]any{"Description": "iOS 26 Beta", "Token": "tok-a"}}},
		"beta-z": {"Beta": map[string]any{"ProgramEnrollment": "AlwaysOff"}},
	})
	if have := r.item("beta-enrollment"); have != "" {
		t.Errorf("beta-enrollment %q after AlwaysOff, want none", have)
	}
}

package scenarios_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/scenarios"
)

// fakeTarget offers the channels that are set; it enrolls nobody.
type fakeTarget struct {
	name   string
	cmds   scenarios.Commands
	decls  scenarios.Declarations
	policy scenarios.UpdatePolicy
}

func (f *fakeTarget) Name() string { return f.name }
func (f *fakeTarget) Enrollment(context.Context) (scenarios.Enrollment, error) {
	return scenarios.Enrollment{}, errors.New("fake: no enrollment")
}
func (f *fakeTarget) Commands() scenarios.Commands         { return f.cmds }
func (f *fakeTarget) Declarations() scenarios.Declarations { return f.decls }
func (f *fakeTarget) UpdatePolicy() scenarios.UpdatePolicy { return f.policy }
func (f *fakeTarget) Close() error                         { return nil }

// viewTarget is a fakeTarget with a ServerView method, which may return nil.
type viewTarget struct {
	fakeTarget
	view scenarios.ServerView
}

func (v *viewTarget) ServerView() scenarios.ServerView { return v.view }

type fakeCommands struct{}

func (fakeCommands) Enqueue(context.Context, []string, scenarios.Command) error { return nil }
func (fakeCommands) Push(context.Context, []string) error                       { return nil }

type fakeDeclarations struct{}

func (fakeDeclarations) Put(context.Context, ...scenarios.Declaration) error { return nil }
func (fakeDeclarations) Assign(context.Context, string, []string, ...string) error {
	return nil
}

type fakePolicy struct{}

func (fakePolicy) EnforceUpdate(context.Context, scenarios.UpdateRequest) error { return nil }

type fakeView struct{}

func (fakeView) CommandStatus(string, string) (string, bool) { return "", false }
func (fakeView) Seen() int                                   { return 0 }

func TestCapabilities(t *testing.T) {
	t.Parallel()
	all := []scenarios.Capability{scenarios.CapCommands, scenarios.CapDeclarations, scenarios.CapUpdatePolicy, scenarios.CapServerView}
	tests := []struct {
		name   string
		target scenarios.Target
		want   []scenarios.Capability
	}{
		{"none", &fakeTarget{name: "none"}, nil},
		{"commands", &fakeTarget{name: "c", cmds: fakeCommands{}}, []scenarios.Capability{scenarios.CapCommands}},
		{"declarations", &fakeTarget{name: "d", decls: fakeDeclarations{}}, []scenarios.Capability{scenarios.CapDeclarations}},
		{"policy", &fakeTarget{name: "p", policy: fakePolicy{}}, []scenarios.Capability{scenarios.CapUpdatePolicy}},
		{"nil server view", &viewTarget{fakeTarget: fakeTarget{name: "v", cmds: fakeCommands{}}},
			[]scenarios.Capability{scenarios.CapCommands}},
		{"all", &viewTarget{fakeTarget: fakeTarget{name: "all", cmds: fakeCommands{}, decls: fakeDeclarations{}, policy: fakePolicy{}},
			view: fakeView{}}, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if have := scenarios.Capabilities(tt.target); !reflect.DeepEqual(have, tt.want) {
				t.Errorf("Capabilities: have %v, want %v", have, tt.want)
			}
			for _, c := range all {
				want := false
				for _, w := range tt.want {
					want = want || w == c
				}
				if have := scenarios.Has(tt.target, c); have != want {
					t.Errorf("Has(%s): have %v, want %v", c, have, want)
				}
			}
			if scenarios.Has(tt.target, "teleport") {
				t.Error(`Has("teleport"): have true, want false`)
			}
		})
	}
}

func TestRequire(t *testing.T) {
	t.Parallel()
	tg := &fakeTarget{name: "half", cmds: fakeCommands{}}
	tests := []struct {
		name        string
		caps        []scenarios.Capability
		wantMissing []scenarios.Capability
		wantMsg     string
	}{
		{"nothing asked", nil, nil, ""},
		{"offered", []scenarios.Capability{scenarios.CapCommands}, nil, ""},
		{"one missing", []scenarios.Capability{scenarios.CapCommands, scenarios.CapDeclarations},
			[]scenarios.Capability{scenarios.CapDeclarations}, "target half has no declarations channel"},
		{"two missing", []scenarios.Capability{scenarios.CapUpdatePolicy, scenarios.CapCommands, scenarios.CapServerView},
			[]scenarios.Capability{scenarios.CapUpdatePolicy, scenarios.CapServerView}, "target half has no update-policy, server-view channel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := scenarios.Require(tg, tt.caps...)
			if tt.wantMissing == nil {
				if err != nil {
					t.Fatalf("Require(%v): have %v, want nil", tt.caps, err)
				}
				return
			}
			var me *scenarios.MissingError
			if !errors.As(err, &me) {
				t.Fatalf("Require(%v): have %T %v, want a *MissingError", tt.caps, err, err)
			}
			if me.Target != "half" || !reflect.DeepEqual(me.Missing, tt.wantMissing) {
				t.Errorf("MissingError: have %+v, want target half missing %v", me, tt.wantMissing)
			}
			if have := err.Error(); have != tt.wantMsg {
				t.Errorf("Error(): have %q, want %q", have, tt.wantMsg)
			}
		})
	}
}

func TestCommandPlist(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cmd     scenarios.Command
		wantErr bool
		want    map[string]any // the Command dictionary
	}{
		{"no payload", scenarios.Command{UUID: "u-1", RequestType: "DeviceInformation"}, false,
			map[string]any{"RequestType": "DeviceInformation"}},
		{"payload", scenarios.Command{UUID: "u-2", RequestType: "DeviceInformation",
			Payload: map[string]any{"Queries": []string{"OSVersion", "UDID"}}}, false,
			map[string]any{"RequestType": "DeviceInformation", "Queries": []any{"OSVersion", "UDID"}}},
		{"nested payload", scenarios.Command{UUID: "u-3", RequestType: "ScheduleOSUpdate",
			Payload: map[string]any{"Updates": []map[string]any{{"InstallAction": "InstallASAP", "ProductKey": "MacOS14.5"}}}}, false,
			map[string]any{"RequestType": "ScheduleOSUpdate",
				"Updates": []any{map[string]any{"InstallAction": "InstallASAP", "ProductKey": "MacOS14.5"}}}},
		{"RequestType in payload cannot override", scenarios.Command{UUID: "u-4", RequestType: "DeviceLock",
			Payload: map[string]any{"RequestType": "EraseDevice", "PIN": "123456"}}, false,
			map[string]any{"RequestType": "DeviceLock", "PIN": "123456"}},
		{"no UUID", scenarios.Command{RequestType: "DeviceInformation"}, true, nil},
		{"no RequestType", scenarios.Command{UUID: "u-5"}, true, nil},
		{"nothing", scenarios.Command{}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := tt.cmd.Plist()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Plist: have %s, want an error", data)
				}
				if !strings.Contains(err.Error(), "UUID") || !strings.Contains(err.Error(), "RequestType") {
					t.Errorf("error %q: want it to name UUID and RequestType", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Plist: %v", err)
			}
			var have struct {
				CommandUUID string         `plist:"CommandUUID"`
				Command     map[string]any `plist:"Command"`
			}
			if err := plist.Unmarshal(data, &have); err != nil {
				t.Fatalf("the plist does not decode: %v\n%s", err, data)
			}
			if have.CommandUUID != tt.cmd.UUID {
				t.Errorf("CommandUUID: have %q, want %q", have.CommandUUID, tt.cmd.UUID)
			}
			if !reflect.DeepEqual(have.Command, tt.want) {
				t.Errorf("Command: have %#v, want %#v", have.Command, tt.want)
			}
		})
	}
}

// TestCommandPlistLeavesPayload: encoding does not change the caller's
// payload (the RequestType key it skips stays there).
func TestCommandPlistLeavesPayload(t *testing.T) {
	t.Parallel()
	p := map[string]any{"RequestType": "EraseDevice", "PIN": "1"}
	if _, err := (scenarios.Command{UUID: "u", RequestType: "DeviceLock", Payload: p}).Plist(); err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"RequestType": "EraseDevice", "PIN": "1"}; !reflect.DeepEqual(p, want) {
		t.Errorf("payload after Plist: have %v, want %v", p, want)
	}
}

package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// Status items every DDM client reports whether or not the server
// subscribes to them (Apple: "an implicit status subscription for this
// status item is always present").
var implicitStatusItems = []string{"management.client-capabilities", "management.declarations"}

// DDMProtocolVersion is the declarative management protocol version the
// device supports.
const DDMProtocolVersion = "1.0.0"

// osFamily is device.operating-system.family.
func osFamily(id identity.Identity) string {
	switch id.Model.Family {
	case "Mac":
		return "macOS"
	case "iPad":
		return "iPadOS"
	}
	return "iOS"
}

// osMarketingName is device.operating-system.marketing-name: the macOS
// release's name, as Apple's example does ("Catalina").
func osMarketingName(id identity.Identity) string {
	if id.IsMac() {
		if n := catalog.MacOSName(identity.Major(id.OSVersion)); n != "" {
			return n
		}
		return "macOS"
	}
	return osFamily(id)
}

// batteryHealth follows the schema's note: iPhones and Apple-silicon Mac
// laptops report their battery; iPads, desktops and Intel Macs
// "unsupported".
func batteryHealth(id identity.Identity) string {
	switch {
	case id.Model.Family == "iPhone":
		return "normal"
	case id.IsMac() && id.Model.AppleSilicon && strings.HasPrefix(id.Model.ModelName, "MacBook"):
		return "normal"
	}
	return "unsupported"
}

func identityItem(name string, value func(identity.Identity) any) StatusItem {
	return StatusItem{Name: name, Value: func(d *Device) any { return value(d.Identity()) }}
}

// defaultStatusItems are the status items of a simulated device. The
// software-update ones report a device with nothing pending until the
// update engine registers its own.
func defaultStatusItems() []StatusItem {
	always := func(identity.Identity) bool { return true }
	return []StatusItem{
		identityItem("device.identifier.serial-number", func(id identity.Identity) any { return id.SerialNumber }),
		identityItem("device.identifier.udid", func(id identity.Identity) any { return id.UDID }),
		identityItem("device.model.family", func(id identity.Identity) any { return id.Model.Family }),
		identityItem("device.model.identifier", func(id identity.Identity) any { return id.Model.Identifier }),
		identityItem("device.model.marketing-name", func(id identity.Identity) any { return id.Model.MarketingName }),
		identityItem("device.model.number", func(id identity.Identity) any { return id.Model.ModelNumber }),
		identityItem("device.operating-system.family", func(id identity.Identity) any { return osFamily(id) }),
		identityItem("device.operating-system.marketing-name", func(id identity.Identity) any { return osMarketingName(id) }),
		identityItem("device.operating-system.version", func(id identity.Identity) any { return id.OSVersion }),
		identityItem("device.operating-system.build-version", func(id identity.Identity) any { return id.BuildVersion }),
		identityItem("device.operating-system.supplemental.build-version", func(id identity.Identity) any {
			if id.SupplementalBuildVersion != "" {
				return id.SupplementalBuildVersion
			}
			return id.BuildVersion
		}),
		identityItem("device.operating-system.supplemental.extra-version", func(id identity.Identity) any {
			// DeviceInformation says "(a)"; the status item says "a".
			return strings.Trim(id.SupplementalOSVersionExtra, "() ")
		}),
		identityItem("device.power.battery-health", func(id identity.Identity) any { return batteryHealth(id) }),
		identityItem("softwareupdate.device-id", func(id identity.Identity) any { return id.Model.SoftwareUpdateDeviceID }),
		identityItem("softwareupdate.beta-enrollment", func(identity.Identity) any { return "" }),
		identityItem("softwareupdate.install-state", func(identity.Identity) any { return "none" }),
		identityItem("softwareupdate.pending-version", func(identity.Identity) any {
			return map[string]any{"os-version": "", "build-version": ""}
		}),
		identityItem("softwareupdate.failure-reason", func(identity.Identity) any { return map[string]any{"count": 0} }),
		identityItem("softwareupdate.install-reason", func(identity.Identity) any { return map[string]any{"reason": []string{}} }),
		{Name: "management.client-capabilities", Supported: always, Value: clientCapabilities},
		{Name: "management.declarations", Supported: always, Value: declarationsStatus},
	}
}

// clientCapabilities is management.client-capabilities: what the device's
// client supports, which changes as its OS does.
func clientCapabilities(d *Device) any {
	id := d.Identity()
	types := d.ddmTypes()
	decls := map[string]any{}
	items := []string{}
	if types != nil {
		byKind := types.supportedTypes(id)
		for _, k := range []struct{ kind, key string }{
			{ddm.KindActivation, "activations"}, {ddm.KindAsset, "assets"}, {ddm.KindConfiguration, "configurations"}, {ddm.KindManagement, "management"},
		} {
			decls[k.key] = append([]string{}, byKind[k.kind]...)
		}
		items = types.supportedItems(id)
	}
	return map[string]any{
		"supported-versions": []string{DDMProtocolVersion},
		"supported-features": map[string]any{},
		"supported-payloads": map[string]any{"declarations": decls, "status-items": items},
	}
}

// declarationsStatus is management.declarations: every declaration the
// device holds, by kind, sorted by identifier.
func declarationsStatus(d *Device) any {
	out := map[string]any{"activations": []any{}, "configurations": []any{}, "assets": []any{}, "management": []any{}}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.ddm
	if st == nil {
		return out
	}
	for _, dd := range st.sortedDecls() {
		key := map[string]string{ddm.KindActivation: "activations", ddm.KindConfiguration: "configurations",
			ddm.KindAsset: "assets", ddm.KindManagement: "management"}[dd.kind]
		e := map[string]any{"identifier": dd.decl.Identifier, "server-token": dd.decl.ServerToken,
			"active": dd.active, "valid": dd.valid}
		if len(dd.reasons) > 0 {
			rs := make([]any, len(dd.reasons))
			for i, r := range dd.reasons {
				rs[i] = r.DeclarationJSON()
			}
			e["reasons"] = rs
		}
		out[key] = append(out[key].([]any), e)
	}
	return out
}

// nestStatusItems turns dotted item names into the nested dictionaries of
// a report: softwareupdate.install-state → {"softwareupdate":
// {"install-state": …}}.
func nestStatusItems(values map[string]any) map[string]any {
	root := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		parts := strings.Split(name, ".")
		m := root
		ok := true
		for _, p := range parts[:len(parts)-1] {
			child, isMap := m[p].(map[string]any)
			if !isMap {
				if _, taken := m[p]; taken {
					ok = false // an item is a prefix of another: keep the first
					break
				}
				child = map[string]any{}
				m[p] = child
			}
			m = child
		}
		if ok {
			m[parts[len(parts)-1]] = values[name]
		}
	}
	return root
}

// fullReportSupported: FullReport exists from iOS 17 and macOS 14.
func fullReportSupported(id identity.Identity) bool {
	if id.IsMac() {
		return identity.Major(id.OSVersion) >= 14
	}
	return identity.Major(id.OSVersion) >= 17
}

// ddmReport sends the status items whose values changed since they were
// last reported (all of them when full), and errors for subscribed items
// the device cannot report. Nothing changed, nothing sent. The caller
// holds st.op.
func (d *Device) ddmReport(ctx context.Context, st *ddmState, enr *enrollment, full bool) error {
	id := d.Identity()
	d.mu.Lock()
	names := map[string]bool{}
	for _, n := range implicitStatusItems {
		names[n] = true
	}
	for _, n := range st.subscribed {
		names[n] = true
	}
	// An item no longer subscribed is forgotten, so it is reported again
	// if a subscription brings it back.
	maps.DeleteFunc(st.reported, func(name string, _ uint64) bool { return !names[name] })
	maps.DeleteFunc(st.reportedErrors, func(name string, _ bool) bool { return !names[name] })
	reported := maps.Clone(st.reported)
	reportedErrors := maps.Clone(st.reportedErrors)
	d.mu.Unlock()

	values := map[string]any{}
	encoded := map[string]uint64{}
	errs := []any{}
	var errNames []string
	for _, name := range slices.Sorted(maps.Keys(names)) {
		si, known := st.types.StatusItem(name)
		if !known || !si.supported(id) {
			if full || !reportedErrors[name] {
				reason := ddm.StatusReason{Code: ddm.ReasonStatusItemNotSupported, Description: "The status item is not supported on this device."}
				if !known {
					reason = ddm.StatusReason{Code: ddm.ReasonUnknownStatusItem, Description: "The status item is unknown."}
				}
				errs = append(errs, map[string]any{"StatusItem": name, "Reasons": []any{reason.ErrorJSON()}})
				errNames = append(errNames, name)
			}
			continue
		}
		v := si.Value(d)
		b, err := json.Marshal(v)
		if err != nil {
			d.env.logger.Error("DDM: status item value does not encode", "item", name, "err", err)
			continue
		}
		// A hash, not the JSON, is kept per item: a fleet of devices
		// each remembering its client capabilities adds up.
		h := fnv.New64a()
		h.Write(b)
		if prev, ok := reported[name]; full || !ok || prev != h.Sum64() {
			values[name] = v
			encoded[name] = h.Sum64()
		}
	}
	if !full && len(values) == 0 && len(errs) == 0 {
		return nil
	}
	report := map[string]any{"StatusItems": nestStatusItems(values), "Errors": errs}
	if fullReportSupported(id) {
		report["FullReport"] = full
	}
	data, err := json.Marshal(report)
	if err != nil {
		return fmt.Errorf("simulator: DDM status report: %w", err)
	}
	if _, err := d.ddmCheckin(ctx, enr, "status", data); err != nil {
		d.mu.Lock()
		st.stats.ReportErrors++
		d.mu.Unlock()
		return fmt.Errorf("simulator: DDM status report: %w", err)
	}
	d.env.emit(Event{Kind: EventStatusReport, UDID: id.UDID, Data: data})
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, sum := range encoded {
		st.reported[name] = sum
		delete(st.reportedErrors, name)
	}
	for _, n := range errNames {
		st.reportedErrors[n] = true
	}
	st.stats.Reports++
	if full {
		st.stats.FullReports++
	}
	return nil
}

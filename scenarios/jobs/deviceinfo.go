package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// DeviceInfoSummary is what the DeviceInformation job found.
type DeviceInfoSummary struct {
	ShardOf
	Devices      int `json:"devices"`
	Enrolled     int `json:"enrolled"`
	CommandsSent int `json:"commands_sent"`
	Acknowledged int `json:"acknowledged"`
	Errors       int `json:"errors"`
	NotNow       int `json:"not_now"`
	// Polling is set when devices checked in on their own.
	Polling bool `json:"polling,omitempty"`
	// Partial is set when the run was stopped (Ctrl-C, a timeout) before
	// every answer came: the counts are those until then.
	Partial bool `json:"partial,omitempty"`
}

// OK reports whether every device enrolled and acknowledged.
func (s DeviceInfoSummary) OK() bool {
	return s.Enrolled == s.Devices && s.Acknowledged == s.CommandsSent
}

// DeviceInfoCommandUUID is the UUID of the job's command; NanoMDM stores
// a command once, so every device gets the same one.
func DeviceInfoCommandUUID(seed int64) string {
	return DeviceInfoShardCommandUUID(seed, fleet.Shard{})
}

// DeviceInfoShardCommandUUID is DeviceInfoCommandUUID for one shard of a
// fleet: the shards of a run against one server each send their own
// command (a server keeps a command's UUID once), the unsharded one
// DeviceInfoCommandUUID's. It tells up to 4095 shards apart.
func DeviceInfoShardCommandUUID(seed int64, s fleet.Shard) string {
	return fmt.Sprintf("6D646D73-696D-4000-8%03X-%012X", s.Tag(), uint64(seed)&0xffffffffffff)
}

// DeviceInformation sends DeviceInformation to every enrolled device
// through the target's command channel, with a push, and waits (up to
// wait on the world's clock) for every answer, as the devices saw it.
func DeviceInformation(ctx context.Context, r *Run, wait time.Duration) (DeviceInfoSummary, error) {
	sum := DeviceInfoSummary{ShardOf: r.shardOf(JobDeviceInformation), Devices: r.Devices(), Enrolled: r.Fleet.Enrolled, Polling: r.Fleet.Polling}
	if err := scenarios.Require(r.Target, scenarios.CapCommands); err != nil {
		return sum, err
	}
	udids := r.Fleet.EnrolledUDIDs()
	uuid := DeviceInfoShardCommandUUID(r.Config.Seed, r.Config.Shard)
	obs := r.World.Observer
	obs.Expect(uuid)
	defer obs.Forget(uuid)
	cmd := scenarios.Command{UUID: uuid, RequestType: "DeviceInformation", Payload: map[string]any{
		"Queries": []string{"UDID", "DeviceName", "OSVersion", "BuildVersion", "ProductName", "SerialNumber", "SoftwareUpdateDeviceID"}}}
	base, _ := obs.Counts()
	if err := r.Target.Commands().Enqueue(ctx, udids, cmd); err != nil {
		return sum, fmt.Errorf("enqueue DeviceInformation: %w", err)
	}
	sum.CommandsSent = len(udids)
	r.Config.phase(Phase{Name: PhaseCommand, Total: len(udids), Done: func() int { n, _ := obs.Counts(); return n - base }})
	_, err := obs.Await(ctx, uuid, len(udids), nil, r.World.Clock, wait)
	seen := map[string]bool{}
	for _, a := range obs.Answers(uuid) {
		if seen[a.UDID] {
			continue // a NotNow answered again later counts once, last
		}
		seen[a.UDID] = true
		switch a.Status {
		case protocol.StatusAcknowledged:
			sum.Acknowledged++
		case protocol.StatusNotNow:
			sum.NotNow++
		default:
			sum.Errors++
		}
	}
	if err != nil {
		sum.Partial = ctx.Err() != nil
		return sum, err
	}
	if got := len(seen); got < len(udids) {
		st := r.World.APNs.Stats()
		return sum, fmt.Errorf("%d of %d devices answered within %s (APNs accepted %d pushes, delivered %d; device sessions failed %d)",
			got, len(udids), wait, st.Accepted, st.Delivered(), r.Fleet.Counters().SessionErrors.Load())
	}
	return sum, nil
}

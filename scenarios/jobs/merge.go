package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/internal/lastjson"
)

// The jobs, as a summary's "job" names them.
const (
	JobDeviceInformation = "device-information"
	JobLegacyUpdate      = "legacy-update"
	JobDDMDeadline       = "ddm-deadline"
)

// ShardOf says which run a job's summary is of: the job, the seed, the
// whole fleet's size and, for one shard of it, which. MergeSummaries reads
// it to add the shards of one run up, and to refuse anything else.
type ShardOf struct {
	Job          string       `json:"job"`
	Seed         int64        `json:"seed"`
	FleetDevices int          `json:"fleet_devices"`
	Shard        *fleet.Shard `json:"shard,omitempty"`
	// Shards is how many shard summaries a merged one was made from.
	Shards int `json:"shards,omitempty"`
}

func (r *Run) shardOf(job string) ShardOf {
	s := ShardOf{Job: job, Seed: r.Config.Seed, FleetDevices: r.Config.Devices}
	if r.Config.Shard.Sharded() {
		sh := r.Config.Shard
		s.Shard = &sh
	}
	return s
}

// ErrMerge is wrapped by every reason MergeSummaries refuses its
// summaries.
var ErrMerge = errors.New("jobs: merge")

// MaxSummarySize bounds a summary MergeSummaries reads.
const MaxSummarySize = 16 << 20

// lastJSON is the JSON object of a job's output: `mdmsim run --json`
// prints it as its last line; a file of it alone is accepted too.
func lastJSON(r io.Reader) ([]byte, error) {
	text, err := lastjson.Read(r, MaxSummarySize)
	if errors.Is(err, lastjson.ErrTooLarge) {
		return nil, fmt.Errorf("a summary is at most %d bytes; this one is larger", MaxSummarySize)
	}
	return text, err
}

// MergeSummaries reads the JSON summaries the shards of one run of a job
// printed (`mdmsim run --json`, each shard's last line or a file of it)
// and adds them up into the summary one process would print for the
// whole fleet: a DeviceInfoSummary, LegacySummary or DDMSummary, as their
// "job" says. Counts, reasons, the fleet's mix and OS majors are summed, time zones
// united; a DDM run's local deadline is the earliest of the shards' (on
// the discrete-event clock they are the same). What a process adds to
// the job's summary (its wall time, clock) is not carried.
//
// It refuses, wrapping ErrMerge: summaries of different jobs, seeds or
// fleet sizes, an unsharded summary, a shard twice, missing shards, and
// what is not a job's summary.
func MergeSummaries(inputs []io.Reader) (any, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("%w: no summaries", ErrMerge)
	}
	docs := make([][]byte, len(inputs))
	heads := make([]ShardOf, len(inputs))
	for i, in := range inputs {
		doc, err := lastJSON(in)
		if err != nil {
			return nil, fmt.Errorf("%w: summary %d: %w", ErrMerge, i, err)
		}
		if err := json.Unmarshal(doc, &heads[i]); err != nil {
			return nil, fmt.Errorf("%w: summary %d is not a job's summary: %w", ErrMerge, i, err)
		}
		docs[i] = doc
	}
	if err := checkShards(heads); err != nil {
		return nil, err
	}
	switch job := heads[0].Job; job {
	case JobDeviceInformation:
		return mergeAs(docs, mergeDeviceInfo)
	case JobLegacyUpdate:
		return mergeAs(docs, mergeLegacy)
	case JobDDMDeadline:
		return mergeAs(docs, mergeDDM)
	default:
		return nil, fmt.Errorf("%w: unknown job %q (want %s, %s or %s)", ErrMerge, job, JobDeviceInformation, JobLegacyUpdate, JobDDMDeadline)
	}
}

func mergeAs[S any](docs [][]byte, merge func([]S) (S, error)) (any, error) {
	sums := make([]S, len(docs))
	for i, d := range docs {
		if err := json.Unmarshal(d, &sums[i]); err != nil {
			return nil, fmt.Errorf("%w: summary %d: %w", ErrMerge, i, err)
		}
	}
	return merge(sums)
}

func checkShards(heads []ShardOf) error {
	shards := make([]*fleet.Shard, len(heads))
	for i, h := range heads {
		shards[i] = h.Shard
	}
	if err := fleet.CheckSet(shards); err != nil {
		return fmt.Errorf("%w: %w", ErrMerge, err)
	}
	first := heads[0]
	for _, h := range heads {
		switch {
		case h.Job != first.Job:
			return fmt.Errorf("%w: shard %s is of job %q, shard %s of %q", ErrMerge, h.Shard, h.Job, first.Shard, first.Job)
		case h.Seed != first.Seed:
			return fmt.Errorf("%w: shard %s has seed %d, shard %s seed %d", ErrMerge, h.Shard, h.Seed, first.Shard, first.Seed)
		case h.FleetDevices != first.FleetDevices:
			return fmt.Errorf("%w: shard %s is of a fleet of %d devices, shard %s of %d", ErrMerge, h.Shard, h.FleetDevices, first.Shard, first.FleetDevices)
		}
	}
	return nil
}

// merged is the ShardOf of n merged shards.
func merged(s ShardOf, n int) ShardOf {
	s.Shard, s.Shards = nil, n
	return s
}

func mergeDeviceInfo(sums []DeviceInfoSummary) (DeviceInfoSummary, error) {
	out := DeviceInfoSummary{ShardOf: merged(sums[0].ShardOf, len(sums))}
	for _, s := range sums {
		out.Devices += s.Devices
		out.Enrolled += s.Enrolled
		out.CommandsSent += s.CommandsSent
		out.Acknowledged += s.Acknowledged
		out.Errors += s.Errors
		out.NotNow += s.NotNow
		out.Polling = out.Polling || s.Polling
	}
	return out, checkDevices(out.ShardOf, out.Devices)
}

// checkDevices checks the shards' devices add up to the fleet.
func checkDevices(s ShardOf, devices int) error {
	if devices != s.FleetDevices {
		return fmt.Errorf("%w: the shards hold %d devices together, the fleet %d", ErrMerge, devices, s.FleetDevices)
	}
	return nil
}

func mergeRollout(out *Rollout, s Rollout) {
	out.Devices += s.Devices
	out.Compliant += s.Compliant
	out.Noncompliant += s.Noncompliant
	out.Enrolled += s.Enrolled
	out.Polling = out.Polling || s.Polling
	out.Partial = out.Partial || s.Partial
	if out.Reasons == nil {
		out.Reasons = map[string]int{}
	}
	for k, n := range s.Reasons {
		out.Reasons[k] += n
	}
	if out.Mix == nil {
		out.Mix = map[string]int{}
	}
	for k, n := range s.Mix {
		out.Mix[k] += n
	}
	for platform, majors := range s.OSMajors {
		if out.OSMajors == nil {
			out.OSMajors = map[catalog.Platform]map[int]int{}
		}
		if out.OSMajors[platform] == nil {
			out.OSMajors[platform] = map[int]int{}
		}
		for major, n := range majors {
			out.OSMajors[platform][major] += n
		}
	}
}

func mergeLegacy(sums []LegacySummary) (LegacySummary, error) {
	out := LegacySummary{Rollout: Rollout{ShardOf: merged(sums[0].ShardOf, len(sums))}}
	for _, s := range sums {
		mergeRollout(&out.Rollout, s.Rollout)
		out.Commands += s.Commands
		out.NotNow += s.NotNow
		out.Updated += s.Updated
	}
	return out, checkDevices(out.ShardOf, out.Devices)
}

func mergeDDM(sums []DDMSummary) (DDMSummary, error) {
	out := DDMSummary{Rollout: Rollout{ShardOf: merged(sums[0].ShardOf, len(sums))}}
	zones := map[string]bool{}
	for _, s := range sums {
		mergeRollout(&out.Rollout, s.Rollout)
		out.Late += s.Late
		out.DDMCapable += s.DDMCapable
		out.SwitchedOff += s.SwitchedOff
		for _, z := range s.Zones {
			zones[z] = true
		}
		if t := s.TargetLocalDateTime; t != "" && (out.TargetLocalDateTime == "" || t < out.TargetLocalDateTime) {
			out.TargetLocalDateTime = t
		}
	}
	out.Zones = slices.Sorted(maps.Keys(zones))
	out.TimeZones = len(out.Zones)
	return out, checkDevices(out.ShardOf, out.Devices)
}

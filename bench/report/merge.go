package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/internal/lastjson"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
)

// Merged is the one report of a run's shards: a benchmark's Result
// (`mdmsim bench`), or a job's summary (`mdmsim run --json`).
type Merged struct {
	// Bench is set when the shards' files were benchmark results.
	Bench *bench.Result
	// Job is set when they were job summaries: a jobs.DeviceInfoSummary,
	// LegacySummary or DDMSummary.
	Job any
}

// ErrMixed is the error of shard files of both kinds.
var ErrMixed = errors.New("report: merge: benchmark results and job summaries mixed")

// maxShardFile bounds what MergeFiles reads of a file.
const maxShardFile = bench.MaxResultSize

// MergeFiles reads the files the shards of one run wrote — each a
// benchmark Result (`mdmsim bench --json` output or `--out` file) or a
// job's summary (`mdmsim run --json` output), all of the same kind — and
// merges them (bench.MergeResults, jobs.MergeSummaries). Errors name the
// file or say why the shards do not make one run.
func MergeFiles(paths []string) (Merged, error) {
	if len(paths) == 0 {
		return Merged{}, errors.New("report: merge: no files")
	}
	var (
		results []*bench.Result
		docs    []io.Reader
	)
	for _, p := range paths {
		data, err := readShardFile(p)
		if err != nil {
			return Merged{}, err
		}
		var head struct {
			Schema   int    `json:"schema"`
			Workload string `json:"workload"`
			Job      string `json:"job"`
		}
		doc := data
		if err := json.Unmarshal(doc, &head); err != nil {
			return Merged{}, fmt.Errorf("%s: neither a benchmark result nor a job summary: %w", p, err)
		}
		switch {
		case head.Job != "":
			docs = append(docs, bytes.NewReader(doc))
		case head.Schema > 0 || head.Workload != "":
			r, err := bench.ReadResult(bytes.NewReader(doc))
			if err != nil {
				return Merged{}, fmt.Errorf("%s: %w", p, err)
			}
			results = append(results, r)
		default:
			return Merged{}, fmt.Errorf("%s: neither a benchmark result (no schema) nor a job summary (no job)", p)
		}
		if len(results) > 0 && len(docs) > 0 {
			return Merged{}, fmt.Errorf("%w: %s", ErrMixed, p)
		}
	}
	if len(results) > 0 {
		r, err := bench.MergeResults(results)
		return Merged{Bench: r}, err
	}
	j, err := jobs.MergeSummaries(docs)
	return Merged{Job: j}, err
}

// readShardFile reads a shard's output and returns its JSON document
// (lastjson).
func readShardFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := lastjson.Read(f, maxShardFile)
	if errors.Is(err, lastjson.ErrTooLarge) {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a shard's result", path, maxShardFile)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc, nil
}

// JSON is the merged report as the shards' files were: a Result or a
// summary, one line.
func (m Merged) JSON() ([]byte, error) {
	if m.Bench != nil {
		return json.Marshal(m.Bench)
	}
	return json.Marshal(m.Job)
}

// WriteHTML writes the merged benchmark's HTML page (WriteHTML); a job
// summary has none.
func (m Merged) WriteHTML(w io.Writer) error {
	if m.Bench == nil {
		return errors.New("report: merge: job summaries have no HTML page; benchmark results do")
	}
	return WriteHTML(w, m.Bench)
}

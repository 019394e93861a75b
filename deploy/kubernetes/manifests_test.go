package kubernetes_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/deploy/kubernetes"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

// quantity reads a Kubernetes memory quantity in Ki, Mi or Gi (what these
// manifests use), in bytes.
func quantity(t *testing.T, q string) int64 {
	t.Helper()
	for suffix, mult := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err == nil {
				return v * mult
			}
		}
	}
	t.Fatalf("memory quantity %q: want a number of Ki, Mi or Gi", q)
	return 0
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// TestManifests parses every manifest and checks the Indexed Job: one
// pod per shard, all at once, each told which shard it is in a form
// fleet.ParseShard and fleet.ShardFromEnv read, passing exactly
// kubernetes.JobFlags, with a target file the harness reads and memory for
// its share of the fleet.
func TestManifests(t *testing.T) {
	all, err := kubernetes.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 3 {
		t.Fatalf("parsed %d manifests, want the Job, the ConfigMap and the rest", len(all))
	}
	configMaps := map[string]map[string]string{}
	var jobs []kubernetes.Object
	for file, objs := range all {
		if len(objs) == 0 {
			t.Errorf("%s: no object", file)
		}
		for _, o := range objs {
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: an object without apiVersion, kind or name: %+v", file, o)
			}
			if o.Kind != "Namespace" && o.Metadata.Namespace != "mdmsim" {
				t.Errorf("%s: %s %s in namespace %q, want mdmsim", file, o.Kind, o.Metadata.Name, o.Metadata.Namespace)
			}
			switch o.Kind {
			case "ConfigMap":
				configMaps[o.Metadata.Name] = o.Data
			case "Job":
				jobs = append(jobs, o)
			}
		}
	}
	if len(jobs) == 0 {
		t.Fatal("no Job")
	}
	for _, j := range jobs {
		t.Run(j.Metadata.Name, func(t *testing.T) {
			sp := j.Spec
			if sp.CompletionMode != "Indexed" {
				t.Errorf("completionMode %q, want Indexed", sp.CompletionMode)
			}
			if sp.Completions == nil || sp.Parallelism == nil || *sp.Completions < 1 || *sp.Completions != *sp.Parallelism {
				t.Fatalf("completions %v, parallelism %v: want them set and equal", sp.Completions, sp.Parallelism)
			}
			n := *sp.Completions
			if sp.Template.Spec.RestartPolicy != "Never" {
				t.Errorf("restartPolicy %q, want Never: a shard run twice enrolls its devices twice", sp.Template.Spec.RestartPolicy)
			}
			var c *kubernetes.Container
			for i := range sp.Template.Spec.Containers {
				if sp.Template.Spec.Containers[i].Name == "mdmsim" {
					c = &sp.Template.Spec.Containers[i]
				}
			}
			if c == nil {
				t.Fatal("no container named mdmsim")
			}
			if have := c.EnvValue(fleet.EnvJobCompletions); have != strconv.Itoa(n) {
				t.Errorf("%s=%q, want the completions, %d", fleet.EnvJobCompletions, have, n)
			}
			want, ok := kubernetes.JobFlags[j.Metadata.Name]
			if !ok {
				t.Fatalf("no kubernetes.JobFlags entry for job %s", j.Metadata.Name)
			}
			if len(c.Args) == 0 || c.Args[0] != "bench" {
				t.Fatalf("args %q: want mdmsim bench", c.Args)
			}
			if have := kubernetes.FlagNames(c.Args[1:]); !slices.Equal(have, want) {
				t.Errorf("flags %q, want kubernetes.JobFlags %q", have, want)
			}
			// Every pod's arguments, as the kubelet expands them.
			for i := range n {
				env := map[string]string{fleet.EnvJobCompletionIndex: strconv.Itoa(i), fleet.EnvJobCompletions: c.EnvValue(fleet.EnvJobCompletions)}
				args := kubernetes.Expand(c.Args, env)
				s, err := fleet.ParseShard(flagValue(args, "shard"))
				if err != nil || s != (fleet.Shard{Index: i, Count: n}) {
					t.Errorf("pod %d: --shard %q gives %v, %v", i, flagValue(args, "shard"), s, err)
				}
				if s, ok, err := fleet.ShardFromEnv(func(k string) string { return env[k] }); !ok || err != nil || s.Index != i {
					t.Errorf("pod %d: its environment gives shard %v, %v, %v", i, s, ok, err)
				}
			}
			// The target file is a mounted ConfigMap's, and reads.
			target := flagValue(c.Args, "target")
			var mountedFrom string
			for _, m := range c.VolumeMounts {
				if strings.HasPrefix(target, m.MountPath+"/") {
					for _, v := range sp.Template.Spec.Volumes {
						if v.Name == m.Name && v.ConfigMap != nil {
							mountedFrom = v.ConfigMap.Name
						}
					}
				}
			}
			data, ok := configMaps[mountedFrom][filepath.Base(target)]
			if !ok {
				t.Fatalf("--target %s is not a key of a ConfigMap of these manifests mounted there", target)
			}
			file := filepath.Join(t.TempDir(), "target.yaml")
			if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("NANOMDM_API_KEY", "from-the-secret")
			if err := targets.Validate(file); err != nil {
				t.Errorf("the ConfigMap's target file: %v", err)
			}
			// Memory for the shard's devices.
			devices, err := strconv.Atoi(flagValue(c.Args, "devices"))
			if err != nil || devices < n {
				t.Fatalf("--devices %q: want a fleet of at least one device per shard", flagValue(c.Args, "devices"))
			}
			// What mdmsim itself estimates, and refuses to run without.
			need := bench.EstimateRun(target, flagValue(c.Args, "workload"), (devices+n-1)/n)
			req, lim := quantity(t, c.Resources.Requests["memory"]), quantity(t, c.Resources.Limits["memory"])
			if req < need || lim < req {
				t.Errorf("memory request %s, limit %s: a shard of %d devices needs about %d MiB", c.Resources.Requests["memory"],
					c.Resources.Limits["memory"], (devices+n-1)/n, need>>20)
			}
			if gl := c.EnvValue("GOMEMLIMIT"); gl != "" && quantity(t, gl) >= lim {
				t.Errorf("GOMEMLIMIT %s is not below the limit %s", gl, c.Resources.Limits["memory"])
			}
		})
	}
}

func TestExpand(t *testing.T) {
	have := kubernetes.Expand([]string{"--shard=$(JOB_COMPLETION_INDEX)/$(JOB_COMPLETIONS)", "$(UNSET)", "x"},
		map[string]string{"JOB_COMPLETION_INDEX": "3", "JOB_COMPLETIONS": "10"})
	if want := []string{"--shard=3/10", "$(UNSET)", "x"}; !slices.Equal(have, want) {
		t.Errorf("have %q, want %q", have, want)
	}
	if have := kubernetes.FlagNames([]string{"--a=1", "-b", "2", "--c"}); fmt.Sprint(have) != "[a b c]" {
		t.Errorf("FlagNames: %v", have)
	}
}

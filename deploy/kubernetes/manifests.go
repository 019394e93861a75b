// Package kubernetes holds the manifests that run a sharded fleet as a
// Kubernetes Indexed Job (README.md here), and what a test needs to check
// them: the manifests themselves, embedded, and the container arguments
// of their Jobs, so that the CLI's tests can parse them with the flags
// `mdmsim` accepts.
package kubernetes

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed *.yaml
var manifests embed.FS

// Manifests are the manifests of this folder.
func Manifests() fs.FS { return manifests }

// Object is the part of a Kubernetes object the checks read.
type Object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec JobSpec           `yaml:"spec"`
	Data map[string]string `yaml:"data"`
}

// JobSpec is the part of a Job's spec the checks read.
type JobSpec struct {
	CompletionMode string `yaml:"completionMode"`
	Completions    *int   `yaml:"completions"`
	Parallelism    *int   `yaml:"parallelism"`
	Template       struct {
		Spec struct {
			RestartPolicy string      `yaml:"restartPolicy"`
			Containers    []Container `yaml:"containers"`
			Volumes       []struct {
				Name      string `yaml:"name"`
				ConfigMap *struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

// Container is the part of a container the checks read.
type Container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

// EnvValue is the value of a container's env entry given as a value ("" when
// absent or from a reference).
func (c Container) EnvValue(name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// Parse reads every document of a manifest; unknown fields are allowed
// (a manifest has many this package does not read).
func Parse(data []byte) ([]Object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Object
	for {
		var o Object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if o.Kind == "" {
			continue // an empty document
		}
		out = append(out, o)
	}
}

// All parses every manifest of the folder, by file name.
func All() (map[string][]Object, error) {
	out := map[string][]Object{}
	err := fs.WalkDir(manifests, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(manifests, path)
		if err != nil {
			return err
		}
		objs, err := Parse(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		out[path] = objs
		return nil
	})
	return out, err
}

// JobArgs returns the arguments of the mdmsim container of every Job of
// the folder's manifests, by Job name: what the CLI must accept.
func JobArgs() (map[string][]string, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, objs := range all {
		for _, o := range objs {
			if o.Kind != "Job" {
				continue
			}
			for _, c := range o.Spec.Template.Spec.Containers {
				if c.Name == "mdmsim" {
					out[o.Metadata.Name] = c.Args
				}
			}
		}
	}
	return out, nil
}

var kubeVar = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// Expand replaces $(VAR) in args as the kubelet does, from env (a value
// env does not have stays as written, as the kubelet leaves it).
func Expand(args []string, env map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = kubeVar.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := env[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		})
	}
	return out
}

// FlagNames are the flag names of args ("--shard=0/4" and "--shard" "0/4"
// both give "shard"), in order.
func FlagNames(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		out = append(out, name)
	}
	return out
}

// JobFlags are the flags each Job's mdmsim container passes, by Job name,
// in order: the CLI's tests check `mdmsim bench` accepts them, and this
// package's test that the manifests pass exactly these.
var JobFlags = map[string][]string{
	"mdmsim-shards": {"shard", "workload", "target", "devices", "seed", "rate", "ramp", "duration", "timeout", "json"},
}

// Package targets opens a scenarios.Target by name: "embedded" for the
// in-process reference stack, or a target file (YAML) whose kind is
// "nanomdm" (a NanoMDM, NanoHUB or KMFDDM server through its APIs) or
// "hooks" (any server, through shell commands or HTTP requests).
package targets

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mdmsim/mdmsim/internal/pki"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/scenarios/targets/embedded"
	"github.com/mdmsim/mdmsim/scenarios/targets/hooks"
	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
	"github.com/mdmsim/mdmsim/scenarios/targets/null"
)

// Embedded names the in-process reference stack.
const Embedded = "embedded"

// Null names the in-process null server (scenarios/targets/null), which
// answers at the cost of a map look-up: benchmarks against it measure the
// simulator alone.
const Null = "null"

// InProcess reports whether spec names a server that runs in this
// process (the embedded stack, the null server): its world needs no proxy
// or CA for a server outside, and may run on the discrete-event clock.
func InProcess(spec string) bool { return spec == "" || spec == Embedded || spec == Null }

// Options are what the CLI can set on any target.
type Options struct {
	Logger *slog.Logger
	// Mint, MutualTLS and Mutant apply to the embedded stack only.
	Mint      bool
	MutualTLS bool
	// Mutant makes the embedded stack a broken server, for the
	// conformance suite's self-test.
	Mutant reference.Mutant
}

// Open opens the target spec names in the world.
func Open(ctx context.Context, spec string, w *scenarios.World, o Options) (scenarios.Target, error) {
	if spec == "" || spec == Embedded {
		var opts []embedded.Option
		if o.Logger != nil {
			opts = append(opts, embedded.WithLogger(o.Logger))
		}
		if o.Mint {
			opts = append(opts, embedded.WithMintedIdentities())
		}
		if o.MutualTLS {
			opts = append(opts, embedded.WithMutualTLS())
		}
		if o.Mutant != reference.MutantNone {
			opts = append(opts, embedded.WithMutant(o.Mutant))
		}
		t, err := embedded.New(ctx, w, opts...)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	if spec == Null {
		return null.New(ctx, w)
	}
	open, err := load(spec)
	if err != nil {
		return nil, err
	}
	return open(ctx, w)
}

// load reads and checks the target file spec, and returns what opens it.
func load(spec string) (func(context.Context, *scenarios.World) (scenarios.Target, error), error) {
	data, err := os.ReadFile(spec)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	var head struct {
		Kind string `yaml:"kind"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s: %s", spec, yamlError(err))
	}
	switch head.Kind {
	case "nanomdm":
		f, err := parseNanoMDM(spec, data)
		if err != nil {
			return nil, err
		}
		return f.open, nil
	case "hooks":
		f, err := hooks.Load(spec)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, w *scenarios.World) (scenarios.Target, error) { return f.Open(ctx, w) }, nil
	case "":
		return nil, fmt.Errorf("%s: no kind: (nanomdm or hooks)", spec)
	}
	return nil, fmt.Errorf("%s: unknown kind %q (nanomdm or hooks)", spec, head.Kind)
}

// nanomdmFile is a target file of kind nanomdm.
type nanomdmFile struct {
	path       string
	Kind       string `yaml:"kind"`
	Name       string `yaml:"name"`
	Enrollment struct {
		ProfileURL   string        `yaml:"profile_url"`
		ProfileFile  string        `yaml:"profile_file"`
		CAFile       string        `yaml:"ca_file"`
		PollInterval time.Duration `yaml:"poll_interval"`
	} `yaml:"enrollment"`
	NanoMDM struct {
		APIURL         string `yaml:"api_url"`
		APIKey         string `yaml:"api_key"`
		DDMURL         string `yaml:"ddm_url"`
		DDMKey         string `yaml:"ddm_key"`
		UploadPushCert *bool  `yaml:"upload_push_cert"`
		// WebhookListen is where the harness listens for the server's
		// -webhook-url (e.g. 127.0.0.1:9100; the URL path is free).
		WebhookListen string `yaml:"webhook_listen"`
	} `yaml:"nanomdm"`
}

// nanomdmFields are the keys a nanomdm target file may have, by section.
var nanomdmFields = map[string][]string{
	"":           {"kind", "name", "enrollment", "nanomdm"},
	"enrollment": {"profile_url", "profile_file", "ca_file", "poll_interval"},
	"nanomdm":    {"api_url", "api_key", "ddm_url", "ddm_key", "upload_push_cert", "webhook_listen"},
}

// checkFields reports, with its line, the first key a mapping of the file
// may not have.
func checkFields(path string, doc *yaml.Node) error {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: a target file is a mapping (kind: …, name: …)", path, doc.Line)
	}
	var walk func(section string, m *yaml.Node) error
	walk = func(section string, m *yaml.Node) error {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if !slices.Contains(nanomdmFields[section], k.Value) {
				where := "the top level"
				if section != "" {
					where = section
				}
				return fmt.Errorf("%s:%d: unknown field %q in %s (known: %s)", path, k.Line, k.Value, where, strings.Join(nanomdmFields[section], ", "))
			}
			if section == "" && (k.Value == "enrollment" || k.Value == "nanomdm") {
				if v.Kind != yaml.MappingNode {
					return fmt.Errorf("%s:%d: %s must be a mapping", path, v.Line, k.Value)
				}
				if err := walk(k.Value, v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk("", doc)
}

func parseNanoMDM(path string, data []byte) (*nanomdmFile, error) {
	f := &nanomdmFile{path: path}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(os.ExpandEnv(string(data))), &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", path, yamlError(err))
	}
	if err := checkFields(path, &doc); err != nil {
		return nil, err
	}
	if err := doc.Decode(f); err != nil {
		return nil, fmt.Errorf("%s: %s", path, yamlError(err))
	}
	switch {
	case f.NanoMDM.APIURL == "":
		return nil, fmt.Errorf("%s: nanomdm.api_url is required", path)
	case f.NanoMDM.APIKey == "":
		return nil, fmt.Errorf("%s: nanomdm.api_key is required", path)
	case f.Enrollment.ProfileURL == "" && f.Enrollment.ProfileFile == "":
		return nil, fmt.Errorf("%s: enrollment.profile_url or enrollment.profile_file is required", path)
	case f.Enrollment.PollInterval < 0:
		return nil, fmt.Errorf("%s: enrollment.poll_interval must not be negative", path)
	}
	return f, nil
}

// yamlError drops yaml.v3's "yaml: unmarshal errors:" preamble, leaving
// "line N: …".
func yamlError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	return strings.TrimSpace(msg)
}

// rel resolves a path of the file relative to the file's folder.
func (f *nanomdmFile) rel(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(f.path), p)
}

func (f *nanomdmFile) open(ctx context.Context, w *scenarios.World) (scenarios.Target, error) {
	roots, err := ReadCerts(f.rel(f.Enrollment.CAFile))
	if err != nil {
		return nil, fmt.Errorf("%s: enrollment.ca_file: %w", f.path, err)
	}
	cfg := nanomdm.Config{Name: f.Name, APIURL: f.NanoMDM.APIURL, APIKey: f.NanoMDM.APIKey,
		DDMURL: f.NanoMDM.DDMURL, DDMKey: f.NanoMDM.DDMKey, ProfileURL: f.Enrollment.ProfileURL,
		ProfileFile: f.rel(f.Enrollment.ProfileFile), Roots: roots, UploadPushCert: true,
		PollInterval: f.Enrollment.PollInterval}
	if f.NanoMDM.UploadPushCert != nil {
		cfg.UploadPushCert = *f.NanoMDM.UploadPushCert
	}
	if f.NanoMDM.WebhookListen != "" {
		if cfg.Webhook, err = nanomdm.NewWebhook(nanomdm.WebhookOptions{Addr: f.NanoMDM.WebhookListen}); err != nil {
			return nil, fmt.Errorf("%s: nanomdm.webhook_listen: %w", f.path, err)
		}
	}
	t, err := nanomdm.New(ctx, w, cfg)
	if err != nil {
		if cfg.Webhook != nil {
			cfg.Webhook.Close()
		}
		return nil, err
	}
	return t, nil
}

// ReadCerts reads the PEM certificates of a file ("" reads none).
func ReadCerts(path string) ([]*x509.Certificate, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out, err := pki.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, errors.New(path + ": no PEM certificate")
	}
	return out, nil
}

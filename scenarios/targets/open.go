// Package targets opens a scenarios.Target by name: "embedded" for the
// in-process reference stack, or a target file (YAML) whose kind is
// "nanomdm" (a NanoMDM, NanoHUB or KMFDDM server through its APIs) or
// "hooks" (any server, through shell commands or HTTP requests).
package targets

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/targets/embedded"
	"github.com/mdmsim/mdmsim/scenarios/targets/hooks"
	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
)

// Embedded names the in-process reference stack.
const Embedded = "embedded"

// Options are what the CLI can set on any target.
type Options struct {
	Logger *slog.Logger
	// Mint and MutualTLS apply to the embedded stack only.
	Mint      bool
	MutualTLS bool
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
		t, err := embedded.New(ctx, w, opts...)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	data, err := os.ReadFile(spec)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	var head struct {
		Kind string `yaml:"kind"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s: %w", spec, err)
	}
	switch head.Kind {
	case "nanomdm":
		f, err := parseNanoMDM(spec, data)
		if err != nil {
			return nil, err
		}
		return f.open(ctx, w)
	case "hooks":
		f, err := hooks.Load(spec)
		if err != nil {
			return nil, err
		}
		t, err := f.Open(ctx, w)
		if err != nil {
			return nil, err
		}
		return t, nil
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

func parseNanoMDM(path string, data []byte) (*nanomdmFile, error) {
	f := &nanomdmFile{path: path}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(os.ExpandEnv(string(data)))))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
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
	var out []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New(path + ": no PEM certificate")
	}
	return out, nil
}

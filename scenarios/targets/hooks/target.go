package hooks

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mdmsim/mdmsim/internal/pki"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Target is a server driven by a target file's operations. It implements
// scenarios.Target; a channel exists only when its operations are given.
type Target struct {
	f       *File
	r       *runner
	roots   []*x509.Certificate
	profile []byte // nil with profile_url
}

var _ scenarios.Target = (*Target)(nil)

// Open makes the file's target: reads the CA file and the profile and, when
// the file has upload_push_cert, mints a push certificate for the topic
// with w's mock APNs and runs it. w may be nil without upload_push_cert.
func (f *File) Open(ctx context.Context, w *scenarios.World) (*Target, error) {
	t, err := f.newTarget()
	if err != nil {
		return nil, err
	}
	op := f.Operations[opUploadPushCert]
	if op == nil {
		return t, nil
	}
	if w == nil {
		return nil, fmt.Errorf("hooks: %s:%d: upload_push_cert needs a world to mint the certificate with", f.Path, op.Line)
	}
	topic := f.Enrollment.Topic
	if topic == "" {
		if topic, err = t.topic(ctx); err != nil {
			return nil, err
		}
	}
	certPEM, keyPEM, err := w.PushCertificate(topic)
	if err != nil {
		return nil, fmt.Errorf("hooks: %s: %w", f.Path, err)
	}
	data := PushCertData{Common: t.common(), PushCertPEM: string(certPEM), PushKeyPEM: string(keyPEM), Topic: topic}
	if err := t.r.run(ctx, op, nil, func(Devices) any { return data }); err != nil {
		return nil, err
	}
	return t, nil
}

func (f *File) newTarget() (*Target, error) {
	roots, err := f.roots()
	if err != nil {
		return nil, err
	}
	t := &Target{f: f, roots: roots, r: &runner{f: f, client: scenarios.TrustingClient(roots), env: shellEnv(f)}}
	if f.Enrollment.ProfileFile != "" {
		if t.profile, err = f.readProfile(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Capabilities lists the channels the file's operations make.
func (f *File) Capabilities() []scenarios.Capability {
	var out []scenarios.Capability
	if f.Has(opEnqueue) {
		out = append(out, scenarios.CapCommands)
	}
	if f.Has(opPutDeclaration) && f.Has(opAssign) {
		out = append(out, scenarios.CapDeclarations)
	}
	if f.Has(opEnforceUpdate) {
		out = append(out, scenarios.CapUpdatePolicy)
	}
	return out
}

// topic reads the push topic from the profile, fetching it when the file
// gives a URL.
func (t *Target) topic(ctx context.Context) (string, error) {
	profile := t.profile
	if profile == nil {
		var err error
		if profile, err = t.fetchProfile(ctx); err != nil {
			return "", err
		}
	}
	p, err := protocol.ParseProfile(profile)
	if err != nil {
		return "", fmt.Errorf("hooks: %s: enrollment profile: %w", t.f.Path, err)
	}
	if p.MDM.Topic == "" {
		return "", fmt.Errorf("hooks: %s: enrollment profile has no push topic", t.f.Path)
	}
	return p.MDM.Topic, nil
}

func (t *Target) fetchProfile(ctx context.Context) ([]byte, error) {
	b, err := protocol.FetchProfile(ctx, t.r.client, t.f.Enrollment.ProfileURL)
	if err != nil {
		return nil, fmt.Errorf("hooks: %s: profile_url: %w", t.f.Path, err)
	}
	return b, nil
}

func (f *File) readProfile() ([]byte, error) {
	b, err := readBounded(f.Enrollment.ProfileFile, protocol.MaxProfileSize)
	if err != nil {
		return nil, fmt.Errorf("hooks: %s: profile_file: %w", f.Path, err)
	}
	if _, err := protocol.ParseProfile(b); err != nil {
		return nil, fmt.Errorf("hooks: %s: profile_file %s: %w", f.Path, f.Enrollment.ProfileFile, err)
	}
	return b, nil
}

// roots reads the CA file's certificates (none without a CA file).
func (f *File) roots() ([]*x509.Certificate, error) {
	if f.Enrollment.CAFile == "" {
		return nil, nil
	}
	rest, err := readBounded(f.Enrollment.CAFile, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("hooks: %s: ca_file: %w", f.Path, err)
	}
	out, err := pki.ParseCertificates(rest)
	if err != nil {
		return nil, fmt.Errorf("hooks: %s: ca_file %s: %w", f.Path, f.Enrollment.CAFile, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("hooks: %s: ca_file %s: no PEM certificate", f.Path, f.Enrollment.CAFile)
	}
	return out, nil
}

func (t *Target) common() Common { return Common{Env: t.f.Env, Name: t.f.Name} }

// File is the target's file.
func (t *Target) File() *File { return t.f }

// Name implements scenarios.Target.
func (t *Target) Name() string { return t.f.Name }

// Enrollment implements scenarios.Target: the profile file's bytes, or the
// profile URL, the CA file's roots and the poll interval.
func (t *Target) Enrollment(context.Context) (scenarios.Enrollment, error) {
	e := scenarios.Enrollment{Roots: t.roots, PollInterval: t.f.Enrollment.PollInterval}
	if t.profile != nil {
		e.Profile = append([]byte(nil), t.profile...)
	} else {
		e.ProfileURL = t.f.Enrollment.ProfileURL
	}
	return e, nil
}

// Commands implements scenarios.Target: enqueue (and push), or nil.
func (t *Target) Commands() scenarios.Commands {
	if !t.f.Has(opEnqueue) {
		return nil
	}
	return commands{t}
}

// Declarations implements scenarios.Target: put_declaration and assign, or nil.
func (t *Target) Declarations() scenarios.Declarations {
	if !t.f.Has(opPutDeclaration) || !t.f.Has(opAssign) {
		return nil
	}
	return declarations{t}
}

// UpdatePolicy implements scenarios.Target: enforce_update, or nil.
func (t *Target) UpdatePolicy() scenarios.UpdatePolicy {
	if !t.f.Has(opEnforceUpdate) {
		return nil
	}
	return updatePolicy{t}
}

// Close implements scenarios.Target; the server keeps running.
func (t *Target) Close() error {
	if tr, ok := t.r.client.Transport.(interface{ CloseIdleConnections() }); ok {
		tr.CloseIdleConnections()
	}
	return nil
}

type commands struct{ t *Target }

// Enqueue runs enqueue; no devices, no run. The operation is expected to
// push too (NanoMDM's enqueue does); push is not run after it.
func (c commands) Enqueue(ctx context.Context, udids []string, cmd scenarios.Command) error {
	if len(udids) == 0 {
		return nil
	}
	body, err := cmd.Plist()
	if err != nil {
		return fmt.Errorf("hooks: enqueue: %w", err)
	}
	common := c.t.common()
	return c.t.r.run(ctx, c.t.f.Operations[opEnqueue], udids, func(d Devices) any {
		return EnqueueData{Common: common, Devices: d, Command: cmd,
			CommandPlist: string(body), CommandPlistBase64: base64.StdEncoding.EncodeToString(body)}
	})
}

// Push runs push, or returns scenarios.ErrUnsupported without it.
func (c commands) Push(ctx context.Context, udids []string) error {
	op := c.t.f.Operations[opPush]
	if op == nil {
		return fmt.Errorf("hooks: %s has no push operation: %w", c.t.f.Path, scenarios.ErrUnsupported)
	}
	if len(udids) == 0 {
		return nil
	}
	common := c.t.common()
	return c.t.r.run(ctx, op, udids, func(d Devices) any { return PushData{Common: common, Devices: d} })
}

type declarations struct{ t *Target }

// Put runs put_declaration once per declaration, in order.
func (d declarations) Put(ctx context.Context, decls ...scenarios.Declaration) error {
	op := d.t.f.Operations[opPutDeclaration]
	common := d.t.common()
	for _, x := range decls {
		raw, err := json.Marshal(x)
		if err != nil {
			return fmt.Errorf("hooks: put_declaration %s: %w", x.Identifier, err)
		}
		data := DeclarationData{Common: common, Declaration: x, DeclarationJSON: string(raw)}
		if err := d.t.r.run(ctx, op, nil, func(Devices) any { return data }); err != nil {
			return err
		}
	}
	return nil
}

// Assign runs assign (batched over udids when the step says so).
func (d declarations) Assign(ctx context.Context, group string, udids []string, ids ...string) error {
	if group == "" {
		return errors.New("hooks: assign: empty group name")
	}
	common := d.t.common()
	return d.t.r.run(ctx, d.t.f.Operations[opAssign], udids, func(dev Devices) any {
		return AssignData{Common: common, Devices: dev, Group: group, DeclarationIDs: ids, DeclarationIDsCSV: strings.Join(ids, ",")}
	})
}

type updatePolicy struct{ t *Target }

// EnforceUpdate runs enforce_update; no devices, no run.
func (u updatePolicy) EnforceUpdate(ctx context.Context, req scenarios.UpdateRequest) error {
	if len(req.UDIDs) == 0 {
		return nil
	}
	common := u.t.common()
	return u.t.r.run(ctx, u.t.f.Operations[opEnforceUpdate], req.UDIDs, func(dev Devices) any {
		return updateData(common, dev, req)
	})
}

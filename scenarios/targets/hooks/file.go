package hooks

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"
)

// Operation names, as keys of operations.
const (
	opUploadPushCert = "upload_push_cert"
	opEnqueue        = "enqueue"
	opPush           = "push"
	opPutDeclaration = "put_declaration"
	opAssign         = "assign"
	opEnforceUpdate  = "enforce_update"
)

// opOrder lists the operations; those acting on devices take batch.
var opOrder = []string{opUploadPushCert, opEnqueue, opPush, opPutDeclaration, opAssign, opEnforceUpdate}

func takesDevices(op string) bool { return op != opUploadPushCert && op != opPutDeclaration }

// DefaultTimeout bounds one operation (every step and batch of it) when
// the file sets no timeout.
const DefaultTimeout = 30 * time.Second

// maxFile bounds a target file.
const maxFile = 1 << 20

// File is a parsed, validated target file.
type File struct {
	// Path is the file's name as given; Dir the directory relative paths
	// (profile_file, ca_file, shell working directory) start from.
	Path, Dir  string
	Name       string
	Enrollment EnrollmentConfig
	// Env is the file's env with ${VAR} expanded from the environment at
	// parse time.
	Env     map[string]string
	Timeout time.Duration
	// Operations by name; absent ones are missing.
	Operations map[string]*Operation
}

// EnrollmentConfig is the enrollment section.
type EnrollmentConfig struct {
	ProfileURL  string
	ProfileFile string // absolute, or relative to the process
	CAFile      string
	// Topic, when set, is the push topic upload_push_cert uses instead of
	// the profile's (for a profile URL that needs credentials).
	Topic        string
	PollInterval time.Duration
}

// Operation is one operation: steps run in order, each over every batch.
type Operation struct {
	Name  string
	Line  int
	Steps []*Step
}

// Step is one shell command or HTTP request.
type Step struct {
	Line    int
	Shell   *template.Template
	Stdin   *template.Template // optional
	HTTP    *HTTPStep
	Timeout time.Duration // 0: the file's
	Batch   int           // 0: all devices at once
}

// HTTPStep is an HTTP request; every string is a template.
type HTTPStep struct {
	Method       string
	URL          *template.Template
	Headers      map[string]*template.Template
	User, Pass   *template.Template // basic_auth; nil without
	Body         *template.Template // nil: no body
	ExpectStatus []int              // empty: any 2xx
}

// Has reports whether the file gives operation op.
func (f *File) Has(op string) bool { return f.Operations[op] != nil }

// Load reads and parses a target file, and checks that the files it names
// exist and read well (the CA file's certificates, the profile).
func Load(path string) (*File, error) {
	data, err := readBounded(path, maxFile)
	if err != nil {
		return nil, fmt.Errorf("hooks: %w", err)
	}
	f, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if _, err := f.roots(); err != nil {
		return nil, err
	}
	if f.Enrollment.ProfileFile != "" {
		if _, err := f.readProfile(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Parse parses a target file's contents; name is the file's path, for
// messages and for relative paths. It reads no other file.
func Parse(name string, data []byte) (*File, error) {
	d := &decoder{file: name}
	if len(data) > maxFile {
		return nil, d.errf(nil, "", "larger than %d bytes", maxFile)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(name, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, d.errf(nil, "", "empty file: want kind: hooks")
	}
	f := &File{Path: name, Dir: filepath.Dir(name), Timeout: DefaultTimeout, Env: map[string]string{}, Operations: map[string]*Operation{}}
	top := doc.Content[0]
	var kind, ops, enroll *yaml.Node
	err := d.fields(top, "", func(key string, k, v *yaml.Node) (bool, error) {
		var err error
		switch key {
		case "kind":
			kind = v
			var s string
			if s, err = d.str(v, key); err == nil && s != "hooks" {
				err = d.errf(v, key, `want "hooks", have %q`, s)
			}
		case "name":
			f.Name, err = d.nonEmpty(v, key)
		case "enrollment":
			enroll = v
		case "env":
			f.Env, err = d.env(v)
		case "timeout":
			if f.Timeout, err = d.duration(v, key); err == nil && f.Timeout == 0 {
				err = d.errf(v, key, "must be positive")
			}
		case "operations":
			ops = v
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	if kind == nil {
		return nil, d.errf(top, "", "missing field kind (want kind: hooks)")
	}
	if f.Name == "" {
		return nil, d.errf(top, "", "missing field name")
	}
	if enroll == nil {
		return nil, d.errf(top, "", "missing field enrollment")
	}
	if err := d.enrollment(f, enroll); err != nil {
		return nil, err
	}
	if ops != nil {
		if err := d.operations(f, ops); err != nil {
			return nil, err
		}
	}
	if f.Has(opPush) && !f.Has(opEnqueue) {
		return nil, d.errf(ops, "operations", "push needs enqueue: the command channel is enqueue (and push)")
	}
	if f.Has(opPutDeclaration) != f.Has(opAssign) {
		return nil, d.errf(ops, "operations", "put_declaration and assign go together: the declaration channel needs both")
	}
	return f, nil
}

// yamlError turns yaml.v3's "yaml: line 3: ..." into "file:3: ...".
func yamlError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if _, e := fmt.Sscanf(n, "%d", &line); e == nil {
				msg = tail
			}
		}
	}
	return &ParseError{File: name, Line: line, Msg: msg}
}

func (d *decoder) env(n *yaml.Node) (map[string]string, error) {
	out := map[string]string{}
	err := d.fields(n, "env", func(key string, k, v *yaml.Node) (bool, error) {
		if !validEnvName(key) {
			return true, d.errf(k, "env", "%q is not a variable name (letters, digits, _)", key)
		}
		s, err := d.str(v, "env."+key)
		if err != nil {
			return true, err
		}
		if out[key], err = expand(s, os.Getenv); err != nil {
			return true, d.errf(v, "env."+key, "%v", err)
		}
		return true, nil
	})
	return out, err
}

func (d *decoder) enrollment(f *File, n *yaml.Node) error {
	e := &f.Enrollment
	var urlNode *yaml.Node
	err := d.fields(n, "enrollment", func(key string, k, v *yaml.Node) (bool, error) {
		p := "enrollment." + key
		var err error
		switch key {
		case "profile_url":
			urlNode = v
			if e.ProfileURL, err = d.expanded(v, p); err == nil {
				err = checkURL(d, v, p, e.ProfileURL)
			}
		case "profile_file":
			e.ProfileFile, err = d.path(f, v, p)
		case "ca_file":
			e.CAFile, err = d.path(f, v, p)
		case "topic":
			e.Topic, err = d.expanded(v, p)
		case "poll_interval":
			e.PollInterval, err = d.duration(v, p)
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return err
	}
	switch {
	case e.ProfileURL == "" && e.ProfileFile == "":
		return d.errf(n, "enrollment", "missing profile_url or profile_file")
	case e.ProfileURL != "" && e.ProfileFile != "":
		return d.errf(urlNode, "enrollment", "give profile_url or profile_file, not both")
	}
	return nil
}

// expanded is a non-empty string after ${VAR} expansion.
func (d *decoder) expanded(v *yaml.Node, p string) (string, error) {
	s, err := d.nonEmpty(v, p)
	if err != nil {
		return "", err
	}
	if s, err = expand(s, os.Getenv); err != nil {
		return "", d.errf(v, p, "%v", err)
	}
	if strings.TrimSpace(s) == "" {
		return "", d.errf(v, p, "empty after expanding %q", v.Value)
	}
	return s, nil
}

func (d *decoder) path(f *File, v *yaml.Node, p string) (string, error) {
	s, err := d.expanded(v, p)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(f.Dir, s)
	}
	return s, nil
}

func checkURL(d *decoder, n *yaml.Node, p, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return d.errf(n, p, "want an http:// or https:// URL, have %q", s)
	}
	return nil
}

func (d *decoder) operations(f *File, n *yaml.Node) error {
	common := Common{Env: f.Env, Name: f.Name}
	return d.fields(n, "operations", func(key string, k, v *yaml.Node) (bool, error) {
		known := false
		for _, op := range opOrder {
			known = known || op == key
		}
		if !known {
			return false, nil
		}
		p := "operations." + key
		op := &Operation{Name: key, Line: k.Line}
		steps := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			if len(v.Content) == 0 {
				return true, d.errf(v, p, "no steps")
			}
			steps = v.Content
		}
		for i, sn := range steps {
			sp := p
			if v.Kind == yaml.SequenceNode {
				sp = fmt.Sprintf("%s[%d]", p, i)
			}
			s, err := d.step(sn, sp, key, sample(key, common))
			if err != nil {
				return true, err
			}
			op.Steps = append(op.Steps, s)
		}
		f.Operations[key] = op
		return true, nil
	})
}

func readBounded(path string, max int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(io.LimitReader(fh, max+1)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(b.Len()) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return b.Bytes(), nil
}

package hooks

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

// step reads one step of operation op; data is the sample its templates run over.
func (d *decoder) step(n *yaml.Node, p, op string, data any) (*Step, error) {
	s := &Step{Line: n.Line}
	var stdinNode *yaml.Node
	err := d.fields(n, p, func(key string, k, v *yaml.Node) (bool, error) {
		var err error
		switch key {
		case "shell":
			s.Shell, err = d.tmpl(v, p+".shell", data, false)
		case "stdin":
			stdinNode = k
			s.Stdin, err = d.tmpl(v, p+".stdin", data, true)
		case "http":
			s.HTTP, err = d.httpStep(v, p+".http", data)
		case "timeout":
			if s.Timeout, err = d.duration(v, p+".timeout"); err == nil && s.Timeout == 0 {
				err = d.errf(v, p+".timeout", "must be positive")
			}
		case "batch":
			if !takesDevices(op) {
				return true, d.errf(k, p, "batch: %s acts on no devices", op)
			}
			s.Batch, err = d.intval(v, p+".batch", 1, 1<<20)
		default:
			return false, nil
		}
		return true, err
	})
	switch {
	case err != nil:
		return nil, err
	case s.Shell == nil && s.HTTP == nil:
		return nil, d.errf(n, p, "want shell or http")
	case s.Shell != nil && s.HTTP != nil:
		return nil, d.errf(n, p, "give shell or http, not both")
	case stdinNode != nil && s.Shell == nil:
		return nil, d.errf(stdinNode, p, "stdin goes with shell (an HTTP request has a body)")
	}
	return s, nil
}

func (d *decoder) httpStep(n *yaml.Node, p string, data any) (*HTTPStep, error) {
	h := &HTTPStep{Headers: map[string]*template.Template{}}
	var urlNode *yaml.Node
	err := d.fields(n, p, func(key string, k, v *yaml.Node) (bool, error) {
		var err error
		switch key {
		case "method":
			if h.Method, err = d.nonEmpty(v, p+".method"); err == nil && !validMethod(h.Method) {
				err = d.errf(v, p+".method", "%q is not an HTTP method", h.Method)
			}
		case "url":
			urlNode = v
			h.URL, err = d.tmpl(v, p+".url", data, false)
		case "headers":
			err = d.fields(v, p+".headers", func(name string, _, hv *yaml.Node) (bool, error) {
				var err error
				h.Headers[http.CanonicalHeaderKey(name)], err = d.tmpl(hv, p+".headers."+name, data, true)
				return true, err
			})
		case "basic_auth":
			err = d.fields(v, p+".basic_auth", func(key string, _, av *yaml.Node) (bool, error) {
				var err error
				switch key {
				case "user":
					h.User, err = d.tmpl(av, p+".basic_auth.user", data, true)
				case "password":
					h.Pass, err = d.tmpl(av, p+".basic_auth.password", data, true)
				default:
					return false, nil
				}
				return true, err
			})
			if err == nil && h.User == nil {
				err = d.errf(v, p+".basic_auth", "missing field user")
			}
		case "body":
			h.Body, err = d.tmpl(v, p+".body", data, true)
		case "expect_status":
			h.ExpectStatus, err = d.statuses(v, p+".expect_status")
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	if h.URL == nil {
		return nil, d.errf(n, p, "missing field url")
	}
	if h.Method == "" {
		h.Method = http.MethodGet
		if h.Body != nil {
			h.Method = http.MethodPost
		}
	}
	var b bytes.Buffer
	if err := h.URL.Execute(&b, data); err == nil {
		if err := checkURL(d, urlNode, p+".url", b.String()); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func validMethod(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return s != ""
}

func (d *decoder) statuses(n *yaml.Node, p string) ([]int, error) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var out []int
	for _, it := range items {
		if err := d.plain(it, p); err != nil {
			return nil, err
		}
		c, err := d.intval(it, p, 100, 599)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, d.errf(n, p, "no status codes")
	}
	return out, nil
}

// tmpl parses a template and runs it once over sample data.
func (d *decoder) tmpl(n *yaml.Node, p string, data any, mayBeEmpty bool) (*template.Template, error) {
	var s string
	var err error
	if mayBeEmpty {
		s, err = d.str(n, p)
	} else {
		s, err = d.nonEmpty(n, p)
	}
	if err != nil {
		return nil, err
	}
	t, err := template.New(p[strings.LastIndex(p, ".")+1:]).Funcs(funcs).Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, d.errf(n, p, "%v", err)
	}
	if err := t.Execute(&discard{left: maxSampleOutput}, data); err != nil {
		return nil, d.errf(n, p, "%v", err)
	}
	return t, nil
}

// maxSampleOutput bounds what a template may write over sample data: a
// runaway loop is a mistake to report, not to wait out.
const maxSampleOutput = 1 << 20

type discard struct{ left int }

func (d *discard) Write(p []byte) (int, error) {
	if d.left -= len(p); d.left < 0 {
		return 0, fmt.Errorf("writes more than %d bytes over sample data", maxSampleOutput)
	}
	return len(p), nil
}

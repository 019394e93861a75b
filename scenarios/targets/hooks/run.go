package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"text/template"
	"time"
)

// MaxOutput is how much of a command's output or a response body an
// error quotes.
const MaxOutput = 4 << 10

// OpError is an operation that failed: which, where it is written, and
// what the command or server said.
type OpError struct {
	File string
	Line int // of the step
	Op   string
	// ExitCode is the shell's exit code (-1 when it did not exit, e.g.
	// killed on timeout); Status the HTTP status. Zero when not applicable.
	ExitCode int
	Status   int
	// Output is the start (MaxOutput bytes at most) of the command's
	// output, or of the response body.
	Output string
	Err    error
}

func (e *OpError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hooks: %s:%d: %s", e.File, e.Line, e.Op)
	switch {
	case e.Status != 0:
		fmt.Fprintf(&b, ": HTTP %d %s", e.Status, http.StatusText(e.Status))
	case e.ExitCode > 0:
		fmt.Fprintf(&b, ": exit code %d", e.ExitCode)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if out := strings.TrimSpace(e.Output); out != "" {
		fmt.Fprintf(&b, ": %s", out)
	}
	return b.String()
}

func (e *OpError) Unwrap() error { return e.Err }

// ErrTimeout is wrapped by an OpError whose step ran out of time.
var ErrTimeout = errors.New("timed out")

// errFailed says the OpError already tells what failed.
var errFailed = errors.New("failed")

// runner runs a file's steps.
type runner struct {
	f      *File
	client *http.Client
	env    []string // for shell steps
}

// run runs op's steps in order; a step with batch runs once per batch of
// udids. data builds one run's template data from its devices.
func (r *runner) run(ctx context.Context, op *Operation, udids []string, data func(Devices) any) error {
	for _, s := range op.Steps {
		size := len(udids)
		if s.Batch > 0 && s.Batch < size {
			size = s.Batch
		}
		for start := 0; start == 0 || start < len(udids); start += max(size, 1) {
			batch := udids[start:min(start+size, len(udids))]
			if err := r.step(ctx, op, s, data(devices(batch))); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *runner) step(ctx context.Context, op *Operation, s *Step, data any) error {
	timeout := r.f.Timeout
	if s.Timeout > 0 {
		timeout = s.Timeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%w after %v", ErrTimeout, timeout))
	defer cancel()
	oe := &OpError{File: r.f.Path, Line: s.Line, Op: op.Name}
	var err error
	if s.HTTP != nil {
		err = r.http(ctx, s.HTTP, data, oe)
	} else {
		err = r.shell(ctx, s, data, oe)
	}
	if err == nil {
		return nil
	}
	if err != errFailed {
		oe.Err = err
	}
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, ErrTimeout) {
		oe.Err = cause
	}
	return oe
}

func render(t *template.Template, data any) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (r *runner) http(ctx context.Context, h *HTTPStep, data any, oe *OpError) error {
	u, err := render(h.URL, data)
	if err != nil {
		return err
	}
	var body io.Reader
	if h.Body != nil {
		s, err := render(h.Body, data)
		if err != nil {
			return err
		}
		body = strings.NewReader(s)
	}
	req, err := http.NewRequestWithContext(ctx, h.Method, u, body)
	if err != nil {
		return err
	}
	for k, t := range h.Headers {
		v, err := render(t, data)
		if err != nil {
			return err
		}
		req.Header.Set(k, v)
	}
	if h.User != nil {
		user, err := render(h.User, data)
		if err != nil {
			return err
		}
		pass := ""
		if h.Pass != nil {
			if pass, err = render(h.Pass, data); err != nil {
				return err
			}
		}
		req.SetBasicAuth(user, pass)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, MaxOutput))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if okStatus(resp.StatusCode, h.ExpectStatus) {
		return nil
	}
	oe.Status, oe.Output = resp.StatusCode, string(head)
	oe.Err = fmt.Errorf("%s %s", h.Method, redact(req))
	return errFailed
}

// redact is the request's URL without its query's values' secrets: the
// path is what tells a mistake; a key in the query is not to be quoted.
func redact(req *http.Request) string {
	u := *req.URL
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

func okStatus(code int, want []int) bool {
	if len(want) == 0 {
		return code >= 200 && code < 300
	}
	for _, w := range want {
		if code == w {
			return true
		}
	}
	return false
}

func (r *runner) shell(ctx context.Context, s *Step, data any, oe *OpError) error {
	script, err := render(s.Shell, data)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Dir = r.f.Dir
	cmd.Env = r.env
	if s.Stdin != nil {
		in, err := render(s.Stdin, data)
		if err != nil {
			return err
		}
		cmd.Stdin = strings.NewReader(in)
	}
	out := &headBuffer{max: MaxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	killGroup(cmd)
	// A grandchild keeping the output open must not hold us past the kill.
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	oe.Output = out.String()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		oe.ExitCode = ee.ExitCode()
		if oe.ExitCode > 0 {
			return errFailed
		}
		return fmt.Errorf("killed: %v", ee)
	}
	return err
}

// headBuffer keeps the first max bytes written and counts the rest.
type headBuffer struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	extra int
}

func (b *headBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.buf)
	if room > len(p) {
		room = len(p)
	}
	b.buf = append(b.buf, p[:room]...)
	b.extra += len(p) - room
	return len(p), nil
}

func (b *headBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.extra > 0 {
		return fmt.Sprintf("%s… (%d more bytes)", b.buf, b.extra)
	}
	return string(b.buf)
}

// shellEnv is the process environment plus the file's env (which wins)
// and MDMSIM_CA_FILE when the file names a CA.
func shellEnv(f *File) []string {
	env := os.Environ()
	for k, v := range f.Env {
		env = append(env, k+"="+v)
	}
	if f.Enrollment.CAFile != "" {
		env = append(env, "MDMSIM_CA_FILE="+f.Enrollment.CAFile)
	}
	return env
}

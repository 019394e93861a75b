package stock

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/clock"
)

// stopGrace is how long a process has to exit after SIGTERM before it is
// killed.
const stopGrace = 5 * time.Second

// tailSize bounds the output kept per process for error messages.
const tailSize = 64 << 10

// process is one running stock server.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *tail         // its output's tail, when it comes through a pipe
	log  string        // the file its output goes to instead, if any
	done chan struct{} // closed once Wait has returned
	err  error         // Wait's result, valid after done

	stopOnce sync.Once
}

// startProcess starts bin with args; its output goes to a bounded tail and,
// line by line with a "[name] " prefix, to w when w is not nil. When
// logFile is set the output goes to that file instead, straight from the
// process: nothing of it passes through this one.
func startProcess(ctx context.Context, name, bin string, args, env []string, w io.Writer, logFile string) (*process, error) {
	p := &process{name: name, done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("stock: start %s: %w", name, err)
		}
		// The child has its own copy of the descriptor once started.
		defer f.Close()
		p.log = logFile
		cmd.Stdout, cmd.Stderr = f, f
	} else {
		p.out = &tail{}
		var sink io.Writer = p.out
		if w != nil {
			sink = io.MultiWriter(p.out, &prefixWriter{w: w, prefix: "[" + name + "] "})
		}
		cmd.Stdout, cmd.Stderr = sink, sink
	}
	cmd.SysProcAttr = sysProcAttr()
	// When ctx ends (t.Context() is cancelled as the test ends), stop the
	// process politely first, like Stop does.
	cmd.Cancel = func() error { return terminate(cmd.Process) }
	cmd.WaitDelay = stopGrace
	p.cmd = cmd
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("stock: start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// output returns the tail of the process's output.
func (p *process) output() string {
	if p.log == "" {
		return p.out.String()
	}
	f, err := os.Open(p.log)
	if err != nil {
		return fmt.Sprintf("(output in %s: %v)", p.log, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > tailSize {
		_, _ = f.Seek(-tailSize, io.SeekEnd)
	}
	b, _ := io.ReadAll(io.LimitReader(f, tailSize))
	return string(b)
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// diedError describes a process that exited when it should be serving.
func (p *process) diedError() error {
	return fmt.Errorf("stock: %s exited early (%v); its output:\n%s", p.name, p.err, p.output())
}

// stop sends SIGTERM, waits stopGrace, then kills; it returns once the
// process has been reaped.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		if !p.exited() {
			_ = terminate(p.cmd.Process)
			t := clock.Real().NewTimer(stopGrace)
			select {
			case <-p.done:
			case <-t.C():
				_ = kill(p.cmd.Process)
			}
			t.Stop()
		}
		<-p.done
	})
}

// waitHTTP polls url until it answers 200, the process exits or ctx ends.
func waitHTTP(ctx context.Context, p *process, url string) error {
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		if p.exited() {
			return p.diedError()
		}
		if err := clock.Real().Sleep(ctx, 25*time.Millisecond); err != nil {
			return fmt.Errorf("stock: %s not ready at %s: %w (last: %v); its output:\n%s",
				p.name, url, err, last, p.output())
		}
	}
}

// freeAddr returns a 127.0.0.1 address nothing listens on right now. Another
// process may take it before the server binds it: Start retries then.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("stock: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// addrInUse tells whether a dead process failed because its port was taken.
func addrInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}

// tail keeps the last tailSize bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - tailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// prefixWriter writes whole lines, each prefixed, to a writer shared by
// several processes; the shared mutex keeps their lines from interleaving.
type prefixWriter struct {
	w       io.Writer
	prefix  string
	pending []byte
}

var outputMu sync.Mutex

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.pending = append(p.pending, b...)
	var lines []byte
	for {
		i := bytes.IndexByte(p.pending, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, p.prefix...)
		lines = append(lines, p.pending[:i+1]...)
		p.pending = p.pending[i+1:]
	}
	if len(lines) == 0 {
		return len(b), nil
	}
	outputMu.Lock()
	defer outputMu.Unlock()
	// The caller's writer failing must not stop the copy into the tail
	// (nor the server, through a broken pipe): drop the error.
	_, _ = p.w.Write(lines)
	return len(b), nil
}

package jobs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Step is one step of a target check.
type Step struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Skipped bool   `json:"skipped,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Error   string `json:"error,omitempty"`
	Hint    string `json:"hint,omitempty"`
}

// CheckReport is what `mdmsim target check` found, step by step.
type CheckReport struct {
	Target string `json:"target"`
	Steps  []Step `json:"steps"`
}

// OK reports whether every step that ran passed.
func (r CheckReport) OK() bool {
	for _, s := range r.Steps {
		if !s.OK && !s.Skipped {
			return false
		}
	}
	return len(r.Steps) > 0
}

// DefaultCheckWait bounds each step of a check that waits for the server.
const DefaultCheckWait = 30 * time.Second

// Check opens the target, enrolls one device, sends it a command with a
// push, and reports each step; the first that fails ends the check, with
// a hint at the likely cause. wait bounds each step that waits (0:
// DefaultCheckWait). The world runs on the wall clock.
func Check(ctx context.Context, cfg Config, wait time.Duration) CheckReport {
	if wait <= 0 {
		wait = DefaultCheckWait
	}
	cfg.Devices = 1
	rep := CheckReport{Target: cfg.Target}
	add := func(name string, err error, detail string) bool {
		s := Step{Name: name, OK: err == nil, Detail: detail}
		if err != nil {
			s.Error, s.Hint = strings.TrimPrefix(err.Error(), ErrSetup.Error()+": "), Hint(err)
		}
		rep.Steps = append(rep.Steps, s)
		return err == nil
	}
	r, err := Start(ctx, cfg)
	if r != nil {
		defer r.Close()
	}
	switch {
	case r == nil || r.World == nil:
		add("start the mock Apple services", err, "")
		return rep
	case r.Target == nil:
		add("reach the server's API", err, "")
		return rep
	}
	proxy := ""
	if r.World.Proxy != nil {
		proxy = " (APNs proxy for the server: " + r.World.Proxy.URL + ")"
	}
	add("reach the server's API", nil, r.Target.Name()+proxy)
	if r.Fleet == nil || r.Fleet.Enrolled == 0 {
		if err == nil {
			err = errors.New("the device did not enroll")
		}
		add("fetch the profile and enroll one device", err, "")
		return rep
	}
	udid := r.Fleet.EnrolledUDIDs()[0]
	add("fetch the profile and enroll one device", nil, "enrolled "+udid)

	if err := scenarios.Require(r.Target, scenarios.CapCommands); err != nil {
		rep.Steps = append(rep.Steps, Step{Name: "send a command", Skipped: true, Detail: err.Error()})
		return rep
	}
	// A fresh UUID for every check: the server keeps the commands it saw.
	uuid := DeviceInfoCommandUUID(rand.Int64())
	obs := r.World.Observer
	obs.Expect(uuid)
	defer obs.Forget(uuid)
	pushed := r.World.APNs.Stats().Delivered()
	err = r.Target.Commands().Enqueue(ctx, []string{udid}, scenarios.Command{UUID: uuid, RequestType: "DeviceInformation",
		Payload: map[string]any{"Queries": []string{"OSVersion"}}})
	if !add("send a command", err, "DeviceInformation "+uuid) {
		return rep
	}
	answered, err := obs.Await(ctx, uuid, 1, nil, r.World.Clock, wait)
	if !r.Fleet.Polling {
		delivered := r.World.APNs.Stats().Delivered() > pushed
		var perr error
		if !delivered {
			perr = ErrPushNotDelivered
		}
		add("push the device", perr, "")
		if perr != nil {
			return rep
		}
	}
	if err == nil && !answered {
		err = fmt.Errorf("%w within %s", ErrNoAnswer, wait)
	}
	if !add("the device answers", err, "") {
		return rep
	}
	if scenarios.Has(r.Target, scenarios.CapServerView) {
		v := r.Target.(interface{ ServerView() scenarios.ServerView }).ServerView()
		// The server reports on its own time: poll it on the wall clock.
		wall := clock.Real()
		deadline := wall.Now().Add(wait)
		st, ok := v.CommandStatus(udid, uuid)
		for !ok && wall.Now().Before(deadline) && wall.Sleep(ctx, 100*time.Millisecond) == nil {
			st, ok = v.CommandStatus(udid, uuid)
		}
		var werr error
		if !ok {
			werr = ErrWebhookSilent
		}
		add("the server reports the answer", werr, st)
	}
	return rep
}

// Errors of a check, with hints.
var (
	ErrPushNotDelivered = errors.New("the server's push did not reach the mock APNs")
	ErrNoAnswer         = errors.New("no answer from the device")
	ErrWebhookSilent    = errors.New("the server's webhook never reported the answer")
)

// Hint says what to look at for an error a check met.
func Hint(err error) string {
	var (
		apiErr  *nanomdm.APIError
		httpErr *protocol.HTTPError
		unknown x509.UnknownAuthorityError
		verify  *tls.CertificateVerificationError
		host    x509.HostnameError
		dnsErr  *net.DNSError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &apiErr) && (apiErr.StatusCode == 401 || apiErr.StatusCode == 403):
		return "the server refused the API key: check api_key in the target file"
	case errors.As(err, &apiErr) && apiErr.StatusCode == 404:
		return "no API at that path: check the API URL (NanoMDM's is http://host:port/v1)"
	case errors.As(err, &unknown), errors.As(err, &verify), errors.As(err, &host), strings.Contains(msg, "certificate signed by unknown authority"):
		return "TLS: the server's certificate does not chain to a trusted root: give its CA in enrollment.ca_file"
	case errors.Is(err, fs.ErrNotExist):
		return "no such file: check the target file's path and the files it names (relative paths are read next to it)"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens there: is the server running, and is the URL right?"
	case errors.As(err, &dnsErr):
		return "the host name does not resolve: check the URL"
	case errors.As(err, &httpErr) && strings.Contains(msg, "Authenticate") && httpErr.StatusCode >= 400 && httpErr.StatusCode < 500:
		return "the server refused the device's identity or its signature: it must trust the CA that issued it (NanoMDM's -ca is the SCEP CA) and accept Mdm-Signature (or mutual TLS, as the profile's SignMessage says)"
	case strings.Contains(strings.ToLower(msg), "scep") && (strings.Contains(msg, "challenge") || strings.Contains(msg, "PKIOperation") || strings.Contains(msg, "failInfo")):
		return "the SCEP server refused the request: check the profile's SCEP Challenge"
	case errors.Is(err, ErrPushNotDelivered), errors.Is(err, scenarios.ErrPushFailed):
		return "start the server with HTTPS_PROXY set to the APNs proxy above and SSL_CERT_FILE to the mock APNs CA (mdmsim target check prints where it keeps it), or set enrollment.poll_interval"
	case errors.Is(err, ErrNoAnswer):
		return "the device was pushed but the server gave it nothing: check that the server queued the command for this UDID"
	case errors.Is(err, ErrWebhookSilent):
		return "start the server with -webhook-url pointing at nanomdm.webhook_listen"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out: the server is slow or unreachable"
	}
	return ""
}

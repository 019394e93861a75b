// Package owntarget shows a server developer's own Target in Go: the
// methods of scenarios.Target over the server's own API (here one shaped
// like NanoMDM's), and a test that enrolls devices in it and runs a job.
package owntarget

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
)

// myServer is the target: an API to queue commands and push devices.
type myServer struct {
	api, key string
	profile  []byte
	hc       *http.Client
}

func (s *myServer) Name() string                         { return "my-server" }
func (s *myServer) Declarations() scenarios.Declarations { return nil } // no DDM
func (s *myServer) UpdatePolicy() scenarios.UpdatePolicy { return nil }
func (s *myServer) Commands() scenarios.Commands         { return s }
func (s *myServer) Close() error                         { return nil }
func (s *myServer) Enrollment(context.Context) (scenarios.Enrollment, error) {
	return scenarios.Enrollment{Profile: s.profile}, nil
}

// Enqueue queues the command for the devices; the server pushes them.
func (s *myServer) Enqueue(ctx context.Context, udids []string, cmd scenarios.Command) error {
	body, err := cmd.Plist()
	if err != nil {
		return err
	}
	return s.call(ctx, http.MethodPut, "/enqueue/"+strings.Join(udids, ","), body)
}

func (s *myServer) Push(ctx context.Context, udids []string) error {
	return s.call(ctx, http.MethodPost, "/push/"+strings.Join(udids, ","), nil)
}

func (s *myServer) call(ctx context.Context, method, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, s.api+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth("nanomdm", s.key)
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return nil
}

func TestMyServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Apple's side: the mock APNs and GDMF, on the wall clock.
	w, err := scenarios.NewWorld(scenarios.WorldConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Your server goes here; the embedded stack stands in for it, pushing
	// to the world's mock APNs.
	stack, err := refmdm.Start(ctx, refmdm.WithAPNs(w.APNs))
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	target := &myServer{api: stack.URL + refmdm.PathAPI, key: stack.APIKey,
		profile: stack.EnrollmentProfile(), hc: stack.HTTPClient()}

	run, err := jobs.Attach(ctx, jobs.Config{Devices: 10, Seed: 1}, w, target)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := jobs.DeviceInformation(ctx, run, time.Minute)
	if err != nil || !sum.OK() {
		t.Fatalf("DeviceInformation: %+v, %v", sum, err)
	}
}

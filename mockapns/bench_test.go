package mockapns_test

import (
	"bytes"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sideshow/apns2"

	"github.com/mdmsim/mdmsim/mockapns"
)

// BenchmarkPush100k sends 100 000 pushes to 100 000 registered devices and
// reports how many pushes per second the mock accepted (all answered 200) and
// delivered (all deliver funcs called). Run with:
//
//	go test -run '^$' -bench Push100k -benchtime 3x ./mockapns/
func BenchmarkPush100k(b *testing.B) {
	const n = 100_000
	const workers = 512
	srv := mockapns.NewServer()
	defer srv.Close()
	var delivered atomic.Int64
	allDelivered := make(chan struct{}, 1)
	deliver := func() {
		if delivered.Add(1) == n {
			allDelivered <- struct{}{}
		}
	}
	tokens := make([][]byte, n)
	for i := range tokens {
		tokens[i] = newToken()
		srv.RegisterDevice(tokens[i], mdmTopic, "m", deliver)
	}
	payload := []byte(`{"mdm":"m"}`)
	cert := pushCert(b, mdmTopic)

	clients := map[string]func() func(tok []byte) bool{
		"net-http": func() func([]byte) bool {
			hc, err := srv.PushClient(&cert)
			if err != nil {
				b.Fatal(err)
			}
			return func(tok []byte) bool {
				resp, err := hc.Post("https://api.push.apple.com/3/device/"+hexOf(tok), "application/json", bytes.NewReader(payload))
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			}
		},
		"apns2": func() func([]byte) bool {
			c := certClient(srv, cert)
			return func(tok []byte) bool {
				res, err := c.Push(&apns2.Notification{DeviceToken: hexOf(tok), Payload: payload, PushType: apns2.PushTypeMDM})
				return err == nil && res.StatusCode == http.StatusOK
			}
		},
	}
	for _, name := range []string{"net-http", "apns2"} {
		b.Run(name, func(b *testing.B) {
			push := clients[name]()
			var acceptedFor, deliveredFor time.Duration
			for range b.N {
				delivered.Store(0)
				srv.Reset()
				work := make(chan []byte, workers)
				var wg sync.WaitGroup
				var failed atomic.Int64
				start := time.Now()
				for range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for tok := range work {
							if !push(tok) {
								failed.Add(1)
							}
						}
					}()
				}
				for _, tok := range tokens {
					work <- tok
				}
				close(work)
				wg.Wait()
				acceptedFor += time.Since(start)
				if failed.Load() > 0 {
					b.Fatalf("%d pushes failed", failed.Load())
				}
				select {
				case <-allDelivered:
				case <-time.After(30 * time.Second):
					b.Fatalf("%d of %d delivered", delivered.Load(), n)
				}
				deliveredFor += time.Since(start)
			}
			b.ReportMetric(float64(n*b.N)/acceptedFor.Seconds(), "accepted/s")
			b.ReportMetric(float64(n*b.N)/deliveredFor.Seconds(), "delivered/s")
		})
	}
}

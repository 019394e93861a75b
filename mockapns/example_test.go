package mockapns_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/mdmsim/mdmsim/mockapns"
)

func ExampleNewServer() {
	srv := mockapns.NewServer()
	defer srv.Close()

	// A simulated device registers its token, topic and PushMagic, and is
	// woken through deliver.
	const topic = "com.apple.mgmt.External.0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	token := make([]byte, 32)
	token[31] = 1
	woken := make(chan struct{}, 1)
	srv.RegisterDevice(token, topic, "magic-1", func() { woken <- struct{}{} })

	// The MDM server pushes with its push certificate. PushClient sends every
	// request to the mock, whatever host the URL names.
	cert, err := mockapns.NewPushCertificate(topic, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		panic(err)
	}
	hc, err := srv.PushClient(&cert)
	if err != nil {
		panic(err)
	}
	push := func() {
		resp, err := hc.Post(fmt.Sprintf("https://api.push.apple.com/3/device/%x", token),
			"application/json", strings.NewReader(`{"mdm":"magic-1"}`))
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Proto, resp.StatusCode, resp.Header.Get("apns-id") != "")
	}
	push()
	<-woken
	fmt.Println("device woken")

	// Inject a failure, as toxiproxy would.
	_ = srv.FailToken(token, mockapns.ReasonUnregistered)
	push()

	st := srv.Stats()
	fmt.Println("accepted:", st.Accepted, "delivered:", st.Delivered(), "refused:", st.Reasons)
	// Output:
	// HTTP/2.0 200 true
	// device woken
	// HTTP/2.0 410 true
	// accepted: 1 delivered: 1 refused: map[Unregistered:1]
}

package mockgdmf_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/mockgdmf"
)

func ExampleNewServer() {
	// A virtual clock's Now method would go here; the built-in catalog's
	// newest answer is from 2026-08-22.
	now := func() time.Time { return time.Date(2026, 8, 22, 0, 0, 0, 0, time.UTC) }
	s := mockgdmf.NewServer(mockgdmf.WithNow(now))
	defer s.Close()

	// Point the MDM server under test at s.URL + "/v2/pmv" and make it
	// trust s.CACertPEM(); here, s.Client() already does.
	resp, err := s.Client().Get(s.URL + mockgdmf.PMVPath)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var doc catalog.Document
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		fmt.Println(err)
		return
	}
	newest := doc.PublicAssetSets[catalog.MacOS][0]
	fmt.Println(resp.Status, newest.ProductVersion, newest.Build, newest.PostingDate)

	// Make the next request fail the way Apple's service sometimes does.
	_ = s.SetFault(mockgdmf.StatusFault(503, time.Minute).WithCount(1))
	resp2, err := s.Client().Get(s.URL + mockgdmf.PMVPath)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp2.Body.Close()
	fmt.Println(resp2.Status, "Retry-After:", resp2.Header.Get("Retry-After"))
	fmt.Println(len(s.Requests()), "requests recorded")
	// Output:
	// 200 OK 26.6.2 25G83 2026-08-17
	// 503 Service Unavailable Retry-After: 60
	// 2 requests recorded
}

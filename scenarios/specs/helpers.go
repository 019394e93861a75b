package specs

import (
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/mdmsim/mdmsim/scenarios"
)

// labels is the labels of a spec of area that needs caps.
func labels(area string, caps ...scenarios.Capability) Labels {
	l := Labels{area}
	for _, c := range caps {
		l = append(l, scenarios.CapLabel(c))
	}
	return l
}

// enforce asks the target's own update policy to bring the devices up to
// date within lead, by method.
func enforce(s *scenarios.Spec, method scenarios.Method, lead time.Duration, udids ...string) {
	GinkgoHelper()
	s.Require(scenarios.CapUpdatePolicy)
	err := s.Target.UpdatePolicy().EnforceUpdate(s.Ctx, scenarios.UpdateRequest{UDIDs: udids, Deadline: s.Now().Add(lead), Method: method})
	if err != nil {
		Fail("the target's update policy: " + err.Error())
	}
}

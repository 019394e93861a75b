package scenarios

import (
	"errors"
	"time"

	"github.com/mdmsim/mdmsim/simulator"
)

func pollOption(time.Duration) (simulator.Option, error) {
	return nil, errors.New("scenarios: polling devices are not available yet")
}

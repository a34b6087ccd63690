package userns

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Started is a child that package early started in its namespace while
// strata was initialising, with what the helpers that mapped it said.
type Started struct {
	Pid int
	// Released says the child has its go-ahead; if not, Sync is the
	// write end of its go-ahead pipe.
	Released bool
	Sync     int
	Helpers  []StartedHelper
}

// StartedHelper is a newuidmap or newgidmap that ran.
type StartedHelper struct {
	Name string
	// Failure is why it failed ("exit status 1: its output"), or "".
	Failure string
}

// adopt finishes what package early started: it lets the child go if
// early did not (saying why a helper failed, as writeMapping does),
// forwards signals and returns the child's exit code.
func (s *Started) adopt(ctx context.Context) (int, error) {
	p, err := os.FindProcess(s.Pid)
	if err != nil {
		return 0, err
	}
	if s.Released {
		return supervise(ctx, p, func() error { return nil })
	}
	syncW := os.NewFile(uintptr(s.Sync), "userns-sync")
	defer syncW.Close()
	return supervise(ctx, p, func() error {
		var errs []error
		for _, h := range s.Helpers {
			if h.Failure != "" {
				errs = append(errs, fmt.Errorf("mapping ids with %s: %s", h.Name, h.Failure))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		return goAhead(syncW)
	})
}

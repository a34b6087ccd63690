package userns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// Started is a pending child that package early started while strata was
// initialising, with the helpers mapping it: what Enter would have
// started, for it to finish.
type Started struct {
	Pid int
	// Sync is the write end of the child's go-ahead pipe.
	Sync    int
	Helpers []StartedHelper
}

// StartedHelper is a started newuidmap or newgidmap; Pid -1 if it could
// not be started.
type StartedHelper struct {
	Name string
	Pid  int
	// Output is the read end of its stdout and stderr.
	Output int
}

// adopt finishes what package early started: it waits for the helpers,
// lets the child go, forwards signals and returns its exit code.
func (s *Started) adopt(ctx context.Context) (int, error) {
	syncW := os.NewFile(uintptr(s.Sync), "userns-sync")
	defer syncW.Close()
	p, err := os.FindProcess(s.Pid)
	if err != nil {
		return 0, err
	}
	return supervise(ctx, p, syncW, s.waitHelpers, func() {})
}

// waitHelpers waits for both helpers: the mapping is written when both
// have succeeded.
func (s *Started) waitHelpers() error {
	var errs []error
	for _, h := range s.Helpers {
		errs = append(errs, h.wait())
	}
	return errors.Join(errs...)
}

// wait waits for the helper and says, as writeMapping does, why it failed.
func (h StartedHelper) wait() error {
	if h.Pid < 0 {
		return fmt.Errorf("mapping ids with %s: it could not be started", h.Name)
	}
	out := os.NewFile(uintptr(h.Output), h.Name)
	b, _ := io.ReadAll(out) // until it exits
	out.Close()
	var ws syscall.WaitStatus
	_, err := syscall.Wait4(h.Pid, &ws, 0, nil)
	for errors.Is(err, syscall.EINTR) {
		_, err = syscall.Wait4(h.Pid, &ws, 0, nil)
	}
	switch {
	case err != nil:
		return fmt.Errorf("mapping ids with %s: %w", h.Name, err)
	case ws.Signaled():
		return fmt.Errorf("mapping ids with %s: signal: %v: %s", h.Name, ws.Signal(), strings.TrimSpace(string(b)))
	case ws.ExitStatus() != 0:
		return fmt.Errorf("mapping ids with %s: exit status %d: %s", h.Name, ws.ExitStatus(), strings.TrimSpace(string(b)))
	}
	return nil
}

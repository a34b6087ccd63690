package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/sandbox"
)

func newPsCmd(g *globals) *cobra.Command {
	var all, quiet, noTrunc bool
	cmd := &cobra.Command{
		Use:   "ps [flags]",
		Short: "List detached containers (strata run -d)",
		Args:  argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := listContainers(g.root)
			if err != nil {
				return err
			}
			return printContainers(g.stdio.Out, cs, all, quiet, noTrunc, time.Now())
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default: running ones)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show container IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate IDs and commands")
	return cmd
}

// printContainers renders containers as docker ps does.
func printContainers(w io.Writer, cs []*container, all, quiet, noTrunc bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
	}
	for _, c := range cs {
		st := c.state()
		if !all && !st.Running {
			continue
		}
		id, cmdline := c.ID, strings.Join(c.Command, " ")
		if !noTrunc {
			id = id[:12]
			if r := []rune(cmdline); len(r) > 20 {
				cmdline = string(r[:19]) + "…"
			}
		}
		if quiet {
			fmt.Fprintln(tw, id)
			continue
		}
		var ports []string
		for _, p := range c.Ports {
			ports = append(ports, p.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, c.Image, strconv.Quote(cmdline),
			ago(c.Created, now), st.status(c.Created, now), strings.Join(ports, ", "), c.Name)
	}
	return tw.Flush()
}

// status renders a state as docker ps's STATUS column.
func (s containerState) status(created, now time.Time) string {
	switch {
	case s.Created:
		return "Created"
	case s.Running:
		return "Up " + units.HumanDuration(now.Sub(created))
	case s.Finished.IsZero():
		return fmt.Sprintf("Exited (%d)", s.ExitCode)
	}
	return fmt.Sprintf("Exited (%d) %s", s.ExitCode, ago(s.Finished, now))
}

func newStopCmd(g *globals) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "stop [flags] CONTAINER...",
		Short: "Stop detached containers: their stop signal (SIGTERM), then SIGKILL after the timeout",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, ref := range args {
				if err := stopContainer(g.root, ref, time.Duration(timeout)*time.Second); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(g.stdio.Out, ref)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait before killing the container")
	return cmd
}

// stopContainer sends the container's stop signal to its monitor (which
// forwards it), then kills it after timeout; it returns once it ended.
func stopContainer(root, ref string, timeout time.Duration) error {
	c, err := findContainer(root, ref)
	if err != nil {
		return err
	}
	st := c.state()
	if !st.Running || st.Pid == 0 {
		return nil
	}
	sig := unix.SIGTERM
	if c.StopSignal != "" {
		if n, err := strconv.Atoi(c.StopSignal); err == nil {
			sig = unix.Signal(n)
		} else if s := unix.SignalNum(strings.ToUpper(c.StopSignal)); s != 0 {
			sig = s
		} else if s := unix.SignalNum("SIG" + strings.ToUpper(c.StopSignal)); s != 0 {
			sig = s
		}
	}
	if err := unix.Kill(st.Pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("stopping %s: %w", ref, err)
	}
	if c.waitEnd(timeout) {
		return nil
	}
	// The monitor's child is the sandbox's init: killing it ends every
	// process of the container; the monitor records 137.
	killChildren(st.Pid)
	if !c.waitEnd(10 * time.Second) {
		return fmt.Errorf("stopping %s: still running", ref)
	}
	return nil
}

// waitEnd polls until c no longer runs, for up to d.
func (c *container) waitEnd(d time.Duration) bool {
	for end := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		if st := c.state(); !st.Running && !st.Created {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// killChildren sends SIGKILL to pid's children (those of every thread).
func killChildren(pid int) {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				_ = unix.Kill(n, unix.SIGKILL)
			}
		}
	}
}

func newLogsCmd(g *globals) *cobra.Command {
	var o logOptions
	cmd := &cobra.Command{
		Use:   "logs [flags] CONTAINER",
		Short: "Show a detached container's output (its stdout on stdout, its stderr on stderr)",
		Args:  argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := findContainer(g.root, args[0])
			if err != nil {
				return err
			}
			return c.copyLog(g.stdio.Out, g.stdio.Err, o)
		},
	}
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing output until the container ends")
	cmd.Flags().BoolVarP(&o.timestamps, "timestamps", "t", false, "prefix each line with its time (RFC 3339, nanoseconds)")
	cmd.Flags().IntVarP(&o.tail, "tail", "n", -1, "show only the last N lines (default: all)")
	return cmd
}

// logOptions are the flags of logs.
type logOptions struct {
	follow, timestamps bool
	tail               int // -1: all
}

// copyLog writes c's log, stdout to out and stderr to errw; with follow,
// until c has ended.
func (c *container) copyLog(out, errw io.Writer, o logOptions) error {
	f, err := os.Open(filepath.Join(c.dir, "log"))
	if err != nil {
		return fmt.Errorf("reading logs of %s: %w", c.Name, err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var line []byte
	var last [][]byte // the last o.tail lines of the first round
	for first := true; ; first = false {
		// Whether it ran before the copy: output written before it
		// ended is all there then.
		st := c.state()
		for {
			b, err := r.ReadBytes('\n')
			line = append(line, b...)
			if errors.Is(err, io.EOF) {
				break // a line being written is kept for the next round
			}
			if err != nil {
				return fmt.Errorf("reading logs of %s: %w", c.Name, err)
			}
			if first && o.tail >= 0 {
				last = append(last, slices.Clone(line))
				if len(last) > o.tail {
					last = last[1:]
				}
			} else if err := writeLogEntry(line, out, errw, o.timestamps); err != nil {
				return err
			}
			line = line[:0]
		}
		for _, l := range last {
			if err := writeLogEntry(l, out, errw, o.timestamps); err != nil {
				return err
			}
		}
		last = nil
		if !o.follow || !st.Running && !st.Created {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeLogEntry writes one JSON line of a log to its stream.
func writeLogEntry(line []byte, out, errw io.Writer, timestamps bool) error {
	var e sandbox.LogEntry
	if err := json.Unmarshal(line, &e); err != nil {
		return fmt.Errorf("reading logs: %w", err)
	}
	w := out
	if e.Stream == "stderr" {
		w = errw
	}
	if timestamps {
		if _, err := io.WriteString(w, e.Time.Format(time.RFC3339Nano)+" "); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, e.Log)
	return err
}

func newRmCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rm [flags] CONTAINER...",
		Short: "Remove detached containers (their record, log and files)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, ref := range args {
				if err := removeContainer(g.root, ref, force); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(g.stdio.Out, ref)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first")
	return cmd
}

func removeContainer(root, ref string, force bool) error {
	c, err := findContainer(root, ref)
	if err != nil {
		return err
	}
	if st := c.state(); st.Running {
		if !force {
			return fmt.Errorf("cannot remove running container %s: stop it first or use rm -f", ref)
		}
		killChildren(st.Pid)
		if !c.waitEnd(10 * time.Second) {
			return fmt.Errorf("removing %s: still running", ref)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("removing %s: %w", ref, err)
	}
	return nil
}

package build

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

func dispatchEnv(st *state, c *instructions.EnvCommand, tm time.Time) {
	msg := "ENV"
	for _, e := range c.Env {
		msg += " " + e.String()
		st.env = setEnv(st.env, e.Key, e.Value)
		st.img.Config.Env = setEnv(st.img.Config.Env, e.Key, e.Value)
	}
	st.history(msg, false, tm)
}

func dispatchLabel(st *state, c *instructions.LabelCommand, tm time.Time) {
	msg := "LABEL"
	if st.img.Config.Labels == nil {
		st.img.Config.Labels = map[string]string{}
	}
	for _, l := range c.Labels {
		st.img.Config.Labels[l.Key] = l.Value
		msg += " " + l.String()
	}
	st.history(msg, false, tm)
}

// withShell turns a shell-form command line into argv with the stage's SHELL.
func withShell(st *state, args []string) []string {
	sh := slices.Clone(st.img.Config.Shell)
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(sh, strings.Join(args, " "))
}

func dispatchCmd(st *state, c *instructions.CmdCommand, tm time.Time) {
	args := slices.Clone(c.CmdLine)
	if c.PrependShell {
		args = withShell(st, args)
	}
	st.img.Config.Cmd = args
	st.img.Config.ArgsEscaped = true //nolint:staticcheck // Docker still writes it.
	st.cmdSet = true
	st.history(fmt.Sprintf("CMD %q", args), false, tm)
}

func dispatchEntrypoint(st *state, c *instructions.EntrypointCommand, tm time.Time) {
	args := slices.Clone(c.CmdLine)
	if c.PrependShell {
		args = withShell(st, args)
	}
	st.img.Config.Entrypoint = args
	if !st.cmdSet {
		st.img.Config.Cmd = nil
	}
	st.history(fmt.Sprintf("ENTRYPOINT %q", args), false, tm)
}

func dispatchVolume(st *state, c *instructions.VolumeCommand, tm time.Time) error {
	if st.img.Config.Volumes == nil {
		st.img.Config.Volumes = map[string]struct{}{}
	}
	for _, v := range c.Volumes {
		if v == "" {
			return errors.New("VOLUME specified can not be an empty string")
		}
		st.img.Config.Volumes[v] = struct{}{}
	}
	st.history(fmt.Sprintf("VOLUME %v", c.Volumes), false, tm)
	return nil
}

func dispatchStopSignal(st *state, c *instructions.StopSignalCommand, tm time.Time) error {
	if err := checkSignal(c.Signal); err != nil {
		return err
	}
	st.img.Config.StopSignal = c.Signal
	st.history("STOPSIGNAL "+c.Signal, false, tm)
	return nil
}

// checkSignal accepts a signal number or name (with or without SIG), as Docker does.
func checkSignal(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return fmt.Errorf("invalid signal: %s", s)
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if unix.SignalNum("SIG"+name) != 0 || strings.HasPrefix(name, "RTMIN") || strings.HasPrefix(name, "RTMAX") {
		return nil
	}
	return fmt.Errorf("invalid signal: %s", s)
}

func dispatchHealthcheck(st *state, c *instructions.HealthCheckCommand, tm time.Time) {
	h := *c.Health
	h.Test = slices.Clone(h.Test)
	st.img.Config.Healthcheck = &dockerspec.HealthcheckConfig{
		Test:          h.Test,
		Interval:      h.Interval,
		Timeout:       h.Timeout,
		StartPeriod:   h.StartPeriod,
		StartInterval: h.StartInterval,
		Retries:       h.Retries,
	}
	st.history(fmt.Sprintf("HEALTHCHECK %+v", *st.img.Config.Healthcheck), false, tm)
}

// dispatchExpose expands and parses EXPOSE ports ("80", "80/udp", "8000-8002").
func (r *run) dispatchExpose(st *state, c *instructions.ExposeCommand) (*state, error) {
	lex := shell.NewLex(st.escape)
	var ports []string
	for _, p := range c.Ports {
		ws, err := lex.ProcessWords(p, shell.EnvsFromSlice(st.env))
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			ps, err := parsePort(w)
			if err != nil {
				return nil, err
			}
			ports = append(ports, ps...)
		}
	}
	next := st.clone()
	if next.img.Config.ExposedPorts == nil {
		next.img.Config.ExposedPorts = map[string]struct{}{}
	}
	for _, p := range ports {
		next.img.Config.ExposedPorts[p] = struct{}{}
	}
	sort.Strings(ports)
	next.history(fmt.Sprintf("EXPOSE %v", ports), false, r.opts.Timestamp)
	return next, nil
}

// parsePort parses [[ip:]public:]private[-end][/proto] into "port/proto" entries.
func parsePort(spec string) ([]string, error) {
	rest, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		rest = rest[i+1:]
	}
	lo, hi, isRange := strings.Cut(rest, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", spec)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("invalid containerPort: %s", spec)
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

// dispatchArg declares ARGs in the stage: the --build-arg value wins, then
// the default (expanded), then the global value of the same name.
func (r *run) dispatchArg(st *state, c *instructions.ArgCommand) (*state, error) {
	next := st.clone()
	lex := shell.NewLex(st.escape)
	var parts []string
	for _, a := range c.Args {
		r.usedArgs.markDeclared(a.Key)
		value, has := r.opts.BuildArgs[a.Key]
		switch {
		case has:
		case a.Value != nil:
			v, _, err := lex.ProcessWord(*a.Value, shell.EnvsFromSlice(next.env))
			if err != nil {
				return nil, err
			}
			value, has = v, true
		default:
			value, has = r.plan.GlobalArgs[a.Key]
		}
		part := a.Key
		if has {
			next.env = setEnv(next.env, a.Key, value)
			part += "=" + value
		}
		next.args = append(next.args, a.Key)
		parts = append(parts, part)
	}
	next.history("ARG "+strings.Join(parts, " "), false, r.opts.Timestamp)
	return next, nil
}

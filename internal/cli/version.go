package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/sandbox"
)

// versionInfo is what `strata version` reports. The JSON names are what
// --format templates and --format json use.
type versionInfo struct {
	Version   string `json:"Version"`
	Commit    string `json:"Commit,omitempty"`
	Modified  bool   `json:"Modified,omitempty"`
	BuildTime string `json:"BuildTime,omitempty"`
	GoVersion string `json:"GoVersion"`
	Os        string `json:"Os"`
	Arch      string `json:"Arch"`
	// Frontend is the Dockerfile parser strata is built with: BuildKit's
	// dockerfile frontend packages, by module version.
	Frontend string `json:"Frontend"`
	// Sandboxes lists the RUN sandboxes and whether each works here.
	Sandboxes []sandboxInfo `json:"Sandboxes,omitempty"`
}

type sandboxInfo struct {
	Name      string `json:"Name"`
	Available bool   `json:"Available"`
	Detail    string `json:"Detail,omitempty"`
}

// buildKitModule is the module whose dockerfile parser and instructions
// strata uses.
const buildKitModule = "github.com/moby/buildkit"

// Set at link time by `make build` and the Dockerfile (-ldflags -X
// .../internal/cli.linkVersion=$(git describe --always --dirty)); never
// written at run time.
var linkVersion, linkCommit string

// readVersion reads strata's version: the one `make build` links in,
// else the module version and VCS stamp Go records in the build info.
func readVersion() versionInfo {
	v := versionInfo{Version: "dev", GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH, Frontend: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.fromBuildInfo(bi)
	}
	if linkVersion != "" {
		v.Version = linkVersion
	}
	if linkCommit != "" {
		v.Commit = strings.TrimSuffix(linkCommit, "-dirty")
		v.Modified = strings.HasSuffix(linkCommit, "-dirty")
	}
	return v
}

func (v *versionInfo) fromBuildInfo(bi *debug.BuildInfo) {
	if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
		v.Version = mv
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.BuildTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Path == buildKitModule {
			v.Frontend = "BuildKit dockerfile frontend " + d.Version
			if d.Replace != nil {
				v.Frontend += " (replaced by " + d.Replace.Path + " " + d.Replace.Version + ")"
			}
		}
	}
}

// short is the one line of --version, as `docker --version` prints it.
func (v versionInfo) short() string {
	s := "strata version " + v.Version
	if v.Commit != "" {
		s += ", build " + shortCommit(v.Commit)
		if v.Modified {
			s += "-dirty"
		}
	}
	return s
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// sandboxes says which RUN sandboxes this process can use: what
// --isolation auto would take, and the OCI runtimes on PATH.
func sandboxes(ctx context.Context) []sandboxInfo {
	d := sandbox.Detect(ctx, sandbox.Options{})
	var out []sandboxInfo
	switch d.Mode {
	case sandbox.ModeBuiltin:
		out = append(out, sandboxInfo{Name: "builtin", Available: true, Detail: "namespaces, overlayfs, seccomp (--isolation auto takes it)"},
			sandboxInfo{Name: "chroot", Available: true, Detail: "weaker; only with --isolation chroot"})
	case sandbox.ModeChroot:
		out = append(out, sandboxInfo{Name: "builtin", Detail: d.Reason},
			sandboxInfo{Name: "chroot", Available: true, Detail: d.Limits + " (--isolation auto takes it)"})
	default:
		out = append(out, sandboxInfo{Name: "builtin", Detail: d.Reason}, sandboxInfo{Name: "chroot", Detail: d.Reason})
	}
	for _, rt := range []string{"runc", "crun"} {
		out = append(out, ociRuntime(ctx, rt))
	}
	return out
}

// ociRuntime describes an OCI runtime for --isolation oci by its
// `--version` first line.
func ociRuntime(ctx context.Context, name string) sandboxInfo {
	info := sandboxInfo{Name: "oci (" + name + ")"}
	path, err := exec.LookPath(name)
	if err != nil {
		info.Detail = "not on PATH"
		return info
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		info.Detail = fmt.Sprintf("%s: %v", path, err)
		return info
	}
	line, _, _ := strings.Cut(string(out), "\n")
	info.Available, info.Detail = true, path+": "+strings.TrimSpace(line)
	return info
}

func newVersionCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show strata's version, its Go and Dockerfile frontend versions, and the sandboxes this host offers",
		Long: `Show strata's version and commit, the Go version it was built with, the
Dockerfile frontend (BuildKit's parser, by module version) and the RUN
sandboxes this process can use here. --format json prints it as JSON;
any other --format is a Go template over the same fields, as docker
version --format ("{{.Version}}", "{{json .Sandboxes}}").`,
		Args: argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := readVersion()
			v.Sandboxes = sandboxes(cmd.Context())
			return writeVersion(g.stdio.Out, v, format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "output format: json or a Go template")
	return cmd
}

// writeVersion prints v as a table, JSON or a template.
func writeVersion(w io.Writer, v versionInfo, format string) error {
	switch format {
	case "":
		return writeVersionTable(w, v)
	case "json", "{{json .}}":
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	tmpl, err := template.New("version").Funcs(templateFuncs()).Parse(format)
	if err != nil {
		return usageError{fmt.Errorf("invalid --format: %w", err)}
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, v); err != nil {
		return fmt.Errorf("formatting version: %w", err)
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

func writeVersionTable(w io.Writer, v versionInfo) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "strata:\n Version:    %s\n", v.Version)
	if v.Commit != "" {
		c := v.Commit
		if v.Modified {
			c += " (modified)"
		}
		fmt.Fprintf(bw, " Commit:     %s\n", c)
	}
	if v.BuildTime != "" {
		fmt.Fprintf(bw, " Built:      %s\n", v.BuildTime)
	}
	fmt.Fprintf(bw, " Go version: %s\n OS/Arch:    %s/%s\n Frontend:   %s\n", v.GoVersion, v.Os, v.Arch, v.Frontend)
	if len(v.Sandboxes) > 0 {
		fmt.Fprintln(bw, "Sandboxes:")
		for _, s := range v.Sandboxes {
			state := "no"
			if s.Available {
				state = "yes"
			}
			fmt.Fprintf(bw, " %-13s %-4s %s\n", s.Name, state, s.Detail)
		}
	}
	return bw.Flush()
}

// templateFuncs are the functions docker's --format templates have.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"join":  strings.Join,
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
		"title": func(s string) string {
			if s == "" {
				return s
			}
			return strings.ToUpper(s[:1]) + s[1:]
		},
		"split": strings.Split,
		"truncate": func(s string, n int) string {
			if len(s) > n {
				return s[:n]
			}
			return s
		},
		"pad": func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
	}
}

// Package main is the conformance driver. It runs the conformance corpus:
// every case is built by strata and by the reference (cached): BuildKit
// through buildctl by default, or Docker 20.10's docker build, compared, and
// printed as one line, then "N passed, M failed" (and ", K known" when cases
// with a known divergence did not pass, ", S skipped" when cases requiring a
// base image the registry lacks did not run). scripts/conformance.sh prepares
// what it needs.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/strata-build/strata/internal/conformance"
)

type options struct {
	corpus, strata, root, work, salt, run, show string
	reference, docker, buildctl, buildkitAddr   string
	mirrors                                     []string
	jobs, maxDiffs                              int
	timeout                                     time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var o options
	var mirrors string
	flag.StringVar(&o.corpus, "corpus", "test/conformance", "corpus directory")
	flag.StringVar(&o.strata, "strata", "bin/strata", "strata binary")
	flag.StringVar(&o.reference, "reference", "buildkit", "the builder strata is compared with: buildkit (buildctl) or docker (20.10)")
	flag.StringVar(&o.buildctl, "buildctl", "/var/tmp/strata-buildkit/v0.34.2/bin/buildctl", "buildctl, for -reference buildkit")
	flag.StringVar(&o.buildkitAddr, "buildkit-addr", "unix:///run/strata-buildkit/buildkitd.sock", "buildkitd's address, for -reference buildkit")
	flag.StringVar(&o.docker, "docker", "/usr/bin/docker", "docker 20.10 client, for -reference docker")
	flag.StringVar(&o.root, "root", "/var/tmp/strata-conformance/root", "strata store")
	flag.StringVar(&o.work, "work", "/var/tmp/strata-conformance", "logs, outputs and the reference's result cache")
	flag.StringVar(&mirrors, "registry-mirror", "127.0.0.1:5000", "strata's docker.io mirrors, comma-separated")
	flag.StringVar(&o.salt, "salt", "", "what else keys the reference's cache (its version, base image digests)")
	flag.StringVar(&o.run, "run", "", "only cases whose name matches this regexp")
	flag.IntVar(&o.jobs, "jobs", 2, "cases built at once")
	flag.IntVar(&o.maxDiffs, "max-diffs", 3, "differences shown per failing case")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "time limit per case")
	flag.StringVar(&o.show, "show", "", "only print the report of this image (OCI layout dir or docker save tar) as JSON")
	flag.Parse()
	if o.show != "" {
		if err := show(o.show, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
			os.Exit(2)
		}
		return
	}
	if mirrors != "" {
		o.mirrors = strings.Split(mirrors, ",")
	}
	failed, err := runCorpus(ctx, o, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		os.Exit(2)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

// runCorpus runs the cases and prints their lines in name order; it
// returns how many failed.
func runCorpus(ctx context.Context, o options, w io.Writer) (int, error) {
	cases, err := conformance.LoadCorpus(o.corpus)
	if err != nil {
		return 0, err
	}
	if o.run != "" {
		re, err := regexp.Compile(o.run)
		if err != nil {
			return 0, fmt.Errorf("parsing -run: %w", err)
		}
		var keep []conformance.Case
		for _, c := range cases {
			if re.MatchString(c.Name) {
				keep = append(keep, c)
			}
		}
		cases = keep
	}
	if o.run == "" { // a full run: drop results of cases that are gone
		if err := os.RemoveAll(filepath.Join(o.work, "results")); err != nil {
			return 0, fmt.Errorf("cleaning results: %w", err)
		}
	}
	for _, d := range []string{"logs", "out", "results"} {
		if err := os.MkdirAll(filepath.Join(o.work, d), 0o755); err != nil {
			return 0, fmt.Errorf("creating work directory: %w", err)
		}
	}
	strata := conformance.Strata{Bin: o.strata, Root: o.root, Mirrors: o.mirrors, Work: o.work}
	ref, err := reference(o)
	if err != nil {
		return 0, err
	}
	done := make([]chan conformance.Result, len(cases))
	for i := range done {
		done[i] = make(chan conformance.Result, 1)
	}
	var g errgroup.Group
	g.SetLimit(o.jobs)
	go func() { // owns the case goroutines; results go out through done
		for i, c := range cases {
			g.Go(func() error {
				cctx, cancel := context.WithTimeout(ctx, o.timeout)
				defer cancel()
				cref := ref
				if len(c.Spec.Requires) > 0 && len(o.mirrors) > 0 {
					salt, missing := requirements(cctx, o.mirrors[0], c)
					if missing != "" {
						done[i] <- conformance.Result{Case: c.Name, Skipped: missing}
						return nil
					}
					cref = withSalt(ref, salt)
				}
				done[i] <- conformance.RunCase(cctx, c, strata, cref)
				return nil
			})
		}
		_ = g.Wait()
	}()
	passed, failed, known, skipped := 0, 0, 0, 0
	for i := range cases {
		r := <-done[i]
		fmt.Fprintln(w, r.Line(o.maxDiffs))
		if err := writeResult(o.work, r); err != nil {
			return 0, err
		}
		switch {
		case r.Pass:
			passed++
		case r.Failed():
			failed++
		case r.Skipped != "":
			skipped++
		default:
			known++
		}
	}
	summary := fmt.Sprintf("%d passed, %d failed", passed, failed)
	if known > 0 {
		summary += fmt.Sprintf(", %d known", known)
	}
	if skipped > 0 {
		summary += fmt.Sprintf(", %d skipped", skipped)
	}
	fmt.Fprintln(w, summary)
	return failed, nil
}

// reference is the builder named by -reference, its results cached per
// reference under WORK/<name>-cache.
func reference(o options) (conformance.Reference, error) {
	var ref conformance.Reference
	switch o.reference {
	case "buildkit":
		ref = conformance.Reference{
			Name:    "buildkit",
			Builder: conformance.BuildKit{Bin: o.buildctl, Addr: o.buildkitAddr, Work: o.work},
			Known:   func(c conformance.Case) string { return c.Spec.Known },
		}
	case "docker":
		ref = conformance.Reference{
			Name:    "docker",
			Builder: conformance.Docker{Bin: o.docker, Work: o.work},
			// docker build makes one platform: multi-platform cases are
			// held to their expectations alone.
			Skip: func(c conformance.Case) bool { return c.Spec.Reference != "" || len(c.Spec.Platforms) > 1 },
		}
	default:
		return ref, fmt.Errorf("unknown -reference %q: buildkit or docker", o.reference)
	}
	ref.Builder = conformance.Cached{Builder: ref.Builder, Dir: filepath.Join(o.work, ref.Name+"-cache"), Salt: o.salt}
	return ref, nil
}

// writeResult keeps every difference of a case in WORK/results/CASE.txt.
func writeResult(work string, r conformance.Result) error {
	file := filepath.Join(work, "results", r.Case+".txt")
	body := "PASS\n"
	switch {
	case r.Skipped != "":
		body = "SKIP " + r.Skipped + "\n"
	case r.Known != "":
		body = "KNOWN " + r.Known + "\n" + strings.Join(r.Differences, "\n") + "\n"
	case !r.Pass:
		body = "FAIL\n" + strings.Join(r.Differences, "\n") + "\n"
	}
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		return fmt.Errorf("writing result: %w", err)
	}
	return nil
}

// show prints the report of the image at p.
func show(p string, w io.Writer) error {
	r, err := conformance.ReadReport(p)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(r)
}

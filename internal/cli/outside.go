package cli

// An ordinary user's build tried outside its user namespace first (issue
// 12). Whatever a no-op build does needs no namespace: the store under
// $XDG_DATA_HOME belongs to the user, as the namespace's root is the user
// on the host. So strata first builds as the user, from the store's
// cache alone, holding back everything it prints; if every step is
// cached it finishes there, with the same image, tags and output as in
// the namespace. At the first thing the namespace must do (a step to run,
// a base image to pull) or any error, it drops what it printed and runs
// the whole command again in the namespace, which reports any error once.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/dockerfile"
	"github.com/strata-build/strata/internal/gitsource"
	"github.com/strata-build/strata/internal/sandbox"
	"github.com/strata-build/strata/internal/store"
)

// errNeedsNamespace is a build the try outside the namespace leaves to
// the namespace from the start.
var errNeedsNamespace = errors.New("the build needs the user namespace")

// outsideTry is a command run outside the user namespace with its output
// held: written, in the order it came, only if the command succeeds.
type outsideTry struct {
	// stdout and stderr are where the held output goes: a display or a
	// colour decision takes a held stream for them (heldStream.Fd).
	stdout, stderr io.Writer

	mu     sync.Mutex
	chunks []heldChunk
}

// heldChunk is one write of held output: to stdout (err false) or stderr.
type heldChunk struct {
	err  bool
	data []byte
}

// heldStream is one of a try's two streams.
type heldStream struct {
	try *outsideTry
	err bool
}

// Fd is the file descriptor of the stream the held output goes to, so
// that isTerminal and terminalOf see that stream (^0 when it is no file).
func (s heldStream) Fd() uintptr {
	w := s.try.stdout
	if s.err {
		w = s.try.stderr
	}
	if f, ok := w.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}

func (s heldStream) Write(p []byte) (int, error) {
	s.try.mu.Lock()
	defer s.try.mu.Unlock()
	s.try.chunks = append(s.try.chunks, heldChunk{err: s.err, data: bytes.Clone(p)})
	return len(p), nil
}

// tryOutside runs a build command (args) as the user, outside its user
// namespace and from the store's cache alone: true when it built, the
// output written; false, nothing written, when the command must run in
// the namespace.
func tryOutside(ctx context.Context, args []string, stdio Stdio) bool {
	try := &outsideTry{stdout: stdio.Out, stderr: stdio.Err}
	g := &globals{stdio: Stdio{In: stdio.In, Out: heldStream{try, false}, Err: heldStream{try, true}}, outside: try}
	if err := execute(ctx, args, g); err != nil {
		return false
	}
	try.mu.Lock()
	defer try.mu.Unlock()
	for _, c := range try.chunks {
		w := stdio.Out
		if c.err {
			w = stdio.Err
		}
		_, _ = w.Write(c.data)
	}
	return true
}

// outsideRefusal says why the try cannot do the build from the start:
// what it would do twice (read stdin, fetch the context, pull, talk to a
// remote cache), what needs root of the namespace (files of any owner in
// an output), or nil.
func (f *buildFlags) outsideRefusal(contextArg string) error {
	why := ""
	_, git, _ := gitsource.Parse(contextArg)
	fi, err := os.Stat(contextArg)
	switch {
	case contextArg == "-" || f.file == "-":
		why = "reads stdin"
	case git || strings.Contains(contextArg, "://") || err != nil || !fi.IsDir():
		why = "has no local context directory"
	case len(f.outputs) > 0 || f.push || f.load:
		why = "has an output other than the store"
	case len(f.cacheFrom) > 0 || len(f.cacheTo) > 0 || len(f.contexts) > 0:
		why = "has an external cache or a named context"
	case f.pull || f.noCache || len(f.noCacheFilter) > 0:
		why = "pulls or runs its steps anyway"
	default:
		return nil
	}
	return fmt.Errorf("%w: it %s", errNeedsNamespace, why)
}

// outsideFetchRefusal says why the try would fetch something twice: ADD
// of a URL or a git repository (an ONBUILD one is left to the namespace's
// build by the try's HTTP client, namespaceTransport). Nil when no step
// fetches. (The steps that read the build context make their keys as the
// namespace sees its files' owners, Options.KeyOwners.)
func outsideFetchRefusal(file *dockerfile.File) error {
	for _, s := range file.Stages {
		for _, c := range s.Commands {
			add, ok := c.(*instructions.AddCommand)
			if !ok {
				continue
			}
			for _, src := range add.SourcePaths {
				if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") || strings.Contains(src, "$") {
					return fmt.Errorf("%w: %s may fetch %s", errNeedsNamespace, c.Name(), src)
				}
			}
		}
	}
	return nil
}

// builder is the build's Builder: outside the namespace one that runs no
// step and contacts no registry or server. The registry's warnings go to
// warn, the sandbox's notice (a mode weaker than the builtin) to notice.
func (g *globals) builder(ctx context.Context, st *store.Store, isolation, platform string, warn, notice func(string)) (*build.Builder, error) {
	if g.outside != nil {
		switch isolation {
		case "auto", "", "builtin", "oci", "chroot":
		default: // the namespace's build says so
			return nil, fmt.Errorf("%w: invalid --isolation %q", errNeedsNamespace, isolation)
		}
		return build.New(st, nil, namespaceRunner{}, &http.Client{Transport: namespaceTransport{}}), nil
	}
	runner, err := newBuildRunner(ctx, isolation, g.stdio.Err, notice)
	if err != nil {
		return nil, usageError{err}
	}
	return build.New(st, g.registryClientWarning(platform, warn), runner, nil), nil
}

// namespaceRunner runs no step: a step to run needs the namespace.
type namespaceRunner struct{}

var _ sandbox.Runner = namespaceRunner{}

func (namespaceRunner) Run(context.Context, *sandbox.Step) error {
	return fmt.Errorf("running a step: %w", build.ErrNeedsRun)
}

// namespaceTransport fetches nothing (ADD of a URL, in an ONBUILD): the
// namespace's build fetches it, once.
type namespaceTransport struct{}

var _ http.RoundTripper = namespaceTransport{}

func (namespaceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("fetching %s: %w", req.URL.Redacted(), errNeedsNamespace)
}

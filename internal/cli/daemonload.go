package cli

// --load: hand the built image to a running Docker (or podman, through its
// Docker-compatible API) as `docker load` would, without a file.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/build"
	"github.com/strata-build/strata/internal/export"
)

// daemon is a Docker Engine API endpoint.
type daemon struct {
	name   string // what to call it in messages: "unix:///var/run/docker.sock"
	client *http.Client
	base   string // URL prefix of API requests
}

// daemonCandidates are the endpoints --load tries, in order: DOCKER_HOST
// (then nothing else), else Docker's default socket, then podman's
// (CONTAINER_HOST, the user's, the system's).
func daemonCandidates(getenv func(string) string) []string {
	if h := getenv("DOCKER_HOST"); h != "" {
		return []string{h}
	}
	c := []string{"unix:///var/run/docker.sock"}
	if h := getenv("CONTAINER_HOST"); h != "" {
		c = append(c, h)
	}
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		c = append(c, "unix://"+filepath.Join(d, "podman", "podman.sock"))
	}
	return append(c, "unix:///run/podman/podman.sock")
}

// newDaemon makes a client of endpoint (unix:// or tcp:// or http://).
func newDaemon(endpoint string) (*daemon, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", endpoint, err)
	}
	tr := &http.Transport{ResponseHeaderTimeout: 10 * time.Minute}
	d := &daemon{name: endpoint, client: &http.Client{Transport: tr}}
	switch u.Scheme {
	case "unix":
		sock := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}
		d.base = "http://docker"
	case "tcp", "http":
		d.base = "http://" + u.Host
	default:
		return nil, fmt.Errorf("unsupported daemon address %q (unix://, tcp:// or http://)", endpoint)
	}
	return d, nil
}

// findDaemon returns the first endpoint that answers /_ping, or an error
// listing what was tried and why each failed.
func findDaemon(ctx context.Context, getenv func(string) string) (*daemon, error) {
	var why []string
	for _, ep := range daemonCandidates(getenv) {
		d, err := newDaemon(ep)
		if err == nil {
			err = d.ping(ctx)
		}
		if err == nil {
			return d, nil
		}
		why = append(why, fmt.Sprintf("%s: %v", ep, err))
	}
	return nil, fmt.Errorf("--load: no Docker or podman daemon reachable (%s); start one, set DOCKER_HOST, or write a file: -o type=docker,dest=image.tar",
		strings.Join(why, "; "))
}

func (d *daemon) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			return oe.Err
		}
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ping: %s", resp.Status)
	}
	return nil
}

// load streams img, tagged tags, to the daemon as a docker archive and
// returns what it says it loaded ("Loaded image: app:prod").
func (d *daemon) load(ctx context.Context, img v1.Image, tags []string) ([]string, error) {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(export.WriteDockerArchive(ctx, pw, img, tags))
	}()
	defer pr.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.base+"/images/load", pr)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loading into %s: %w", d.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("loading into %s: %s: %s", d.name, resp.Status, strings.TrimSpace(string(b)))
	}
	return loadMessages(resp.Body, d.name)
}

// loadMessages reads the daemon's JSON message stream.
func loadMessages(r io.Reader, name string) ([]string, error) {
	var loaded []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m.Error != "" {
			return loaded, fmt.Errorf("loading into %s: %s", name, m.Error)
		}
		if s := strings.TrimSpace(m.Stream); s != "" {
			loaded = append(loaded, s)
		}
	}
	return loaded, sc.Err()
}

// loadImage is --load: img into the first daemon found; what it loaded
// is said on w.
func loadImage(ctx context.Context, img v1.Image, tags []string, w io.Writer) error {
	d, err := findDaemon(ctx, os.Getenv)
	if err != nil {
		return err
	}
	msgs, err := d.load(ctx, img, tags)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		fmt.Fprintln(w, m)
	}
	return nil
}

// loadResult is build --load: the built image, tagged, into a daemon.
// A multi-platform result cannot be loaded into Docker's classic image
// store, as buildx says too; attestations are left behind.
func loadResult(ctx context.Context, res *build.Result, tags []string, w io.Writer) error {
	if len(res.Platforms) > 1 {
		return fmt.Errorf("--load: a multi-platform image (%d platforms) cannot be loaded into Docker; build one --platform, or push it", len(res.Platforms))
	}
	return loadImage(ctx, res.Image, tags, w)
}

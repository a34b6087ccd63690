package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-build/strata/internal/registry"
)

// authRegistry starts Debian's docker-registry on 127.0.0.1 with htpasswd
// auth for user/password and returns its host:port.
func authRegistry(t *testing.T, user, password string) string {
	t.Helper()
	for _, bin := range []string{"docker-registry", "htpasswd"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not installed (scripts/setup.sh installs it): %v", bin, err)
		}
	}
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	if out, err := exec.Command("htpasswd", "-Bbc", htpasswd, user, password).CombinedOutput(); err != nil {
		t.Fatalf("htpasswd: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conf := fmt.Sprintf(`version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: %s}}
http: {addr: %s}
auth:
  htpasswd: {realm: strata-test, path: %s}
`, filepath.Join(dir, "data"), addr, htpasswd)
	confPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", confPath)
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return addr
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("docker-registry on %s did not start: %v\n%s", addr, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLoginLogout logs in to a registry with htpasswd auth, as a CI job
// would, pushes and pulls with the stored credentials, and logs out.
func TestLoginLogout(t *testing.T) {
	reg := authRegistry(t, "ci", "s3cret")
	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	root := t.TempDir()
	importBusybox(t, root)
	ref := reg + "/team/busybox:1"
	mustStrata(t, root, nil, "tag", "busybox:test", ref)

	_, errs, code := strata(t, root, nil, "push", ref)
	if code == 0 || !strings.Contains(errs, "unauthorized") {
		t.Fatalf("push before login = exit %d, %q; want an unauthorized error", code, errs)
	}
	_, errs, code = strata(t, root, strings.NewReader("wrong\n"), "login", "-u", "ci", "--password-stdin", reg)
	if want := "logging in to " + reg + ": unauthorized: incorrect username or password"; code != 1 || !strings.Contains(errs, want) {
		t.Fatalf("login with a wrong password = exit %d, %q; want 1 and %q", code, errs, want)
	}
	if _, err := os.Stat(filepath.Join(cfgDir, "config.json")); err == nil {
		b, _ := os.ReadFile(filepath.Join(cfgDir, "config.json"))
		if strings.Contains(string(b), reg) {
			t.Fatalf("a failed login stored credentials:\n%s", b)
		}
	}

	out := mustStrata(t, root, strings.NewReader("s3cret\n"), "login", "--username", "ci", "--password-stdin", "http://"+reg+"/")
	if out != "Login Succeeded\n" {
		t.Fatalf("login = %q, want %q", out, "Login Succeeded\n")
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	b, err := os.ReadFile(filepath.Join(cfgDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Auths[reg].Auth, "Y2k6czNjcmV0"; got != want { // base64("ci:s3cret"), as docker login writes it
		t.Fatalf("config.json auths[%s].auth = %q, want %q\n%s", reg, got, want, b)
	}
	mustStrata(t, root, nil, "push", ref)
	other := t.TempDir()
	mustStrata(t, other, nil, "pull", ref)

	out = mustStrata(t, root, nil, "logout", reg)
	if want := "Removing login credentials for " + reg + "\n"; out != want {
		t.Fatalf("logout = %q, want %q", out, want)
	}
	if out = mustStrata(t, root, nil, "logout", reg); out != "Not logged in to "+reg+"\n" {
		t.Fatalf("second logout = %q", out)
	}
	if _, errs, code = strata(t, t.TempDir(), nil, "pull", ref); code == 0 || !strings.Contains(errs, "unauthorized") {
		t.Fatalf("pull after logout = exit %d, %q; want unauthorized", code, errs)
	}
}

func TestLoginUsage(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	root := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"login", "--password-stdin", "127.0.0.1:1"}, "--password-stdin needs --username"},
		{[]string{"login", "-u", "a", "-p", "b", "--password-stdin", "127.0.0.1:1"}, "mutually exclusive"},
		{[]string{"login", "-u", "a", "127.0.0.1:1"}, "stdin is not a terminal: use --username and --password-stdin"},
	}
	for _, c := range cases {
		_, errs, code := strata(t, root, nil, c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("strata %v = exit %d, %q; want %d and %q", c.args, code, errs, exitUsage, c.want)
		}
	}
	_, errs, code := strata(t, root, nil, "login", "-u", "a", "-p", "b", "127.0.0.1:1")
	if code != exitFailure || !strings.Contains(errs, "WARNING! Using --password via the CLI is insecure") || !strings.Contains(errs, "logging in to 127.0.0.1:1") {
		t.Errorf("login to a closed port = exit %d, %q", code, errs)
	}
}

func TestAuthKey(t *testing.T) {
	for in, want := range map[string]string{
		"": "https://index.docker.io/v1/", "docker.io": "https://index.docker.io/v1/",
		"https://index.docker.io/v1/": "https://index.docker.io/v1/", "registry-1.docker.io": "https://index.docker.io/v1/",
		"ghcr.io": "ghcr.io", "https://ghcr.io/": "ghcr.io", "http://127.0.0.1:5000/v2/": "127.0.0.1:5000",
	} {
		if got := registry.AuthKey(in); got != want {
			t.Errorf("AuthKey(%q) = %q, want %q", in, got, want)
		}
	}
}

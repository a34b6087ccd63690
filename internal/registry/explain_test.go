package registry

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestExplainUnauthorized(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	cfg := `{"auths": {"reg.example:5000": {"auth": "dTpw"}}, "credHelpers": {"ghcr.io": "pass"}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := &transport.Error{StatusCode: http.StatusUnauthorized}
	for host, want := range map[string]string{
		"reg.example:5000": "unauthorized by reg.example:5000 (credentials: auths in " + filepath.Join(dir, "config.json") + ")",
		"ghcr.io":          "unauthorized by ghcr.io (credentials: credential helper docker-credential-pass (credHelpers in ",
		"other.example":    "unauthorized by other.example (credentials: none, anonymous (strata login other.example))",
		"index.docker.io":  "(credentials: none, anonymous (strata login index.docker.io/v1/))",
	} {
		err := explain(classify(refused), host)
		if !strings.Contains(err.Error(), want) || !errors.Is(err, ErrUnauthorized) {
			t.Errorf("explain(401, %s) = %v, want %q and ErrUnauthorized", host, err, want)
		}
	}
	notFound := &transport.Error{StatusCode: http.StatusNotFound}
	err := lastError(notFound, "docker.io", []string{"127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused"})
	if want := "not found (after the mirrors failed: 127.0.0.1:1: dial tcp"; !strings.Contains(err.Error(), want) || !errors.Is(err, ErrNotFound) {
		t.Errorf("lastError = %v, want %q and ErrNotFound", err, want)
	}
}

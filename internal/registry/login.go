package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// DockerHubAuthKey is the key Docker's config.json keeps Docker Hub's
// credentials under.
const DockerHubAuthKey = "https://index.docker.io/v1/"

// AuthKey is the config.json key of a registry as docker login writes it:
// Docker Hub's by its historical URL, any other by host[:port] (a scheme
// and a path given are dropped).
func AuthKey(server string) string {
	s := strings.TrimSuffix(server, "/")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		return DockerHubAuthKey
	}
	return s
}

// Login checks username and password against the registry named by
// server (as AuthKey reads it), as docker login does: the registry's
// /v2/ endpoint with the credentials, through its token service when it
// has one. ErrUnauthorized (wrapped) when they are refused.
func (c *Client) Login(ctx context.Context, server, username, password string) error {
	if err := c.login(ctx, server, username, password); err != nil {
		return fmt.Errorf("logging in to %s: %w", AuthKey(server), err)
	}
	return nil
}

func (c *Client) login(ctx context.Context, server, username, password string) error {
	opts, err := c.options()
	if err != nil {
		return err
	}
	host := AuthKey(server)
	if host == DockerHubAuthKey {
		host = name.DefaultRegistry
	}
	var nopts []name.Option
	if isLoopback(host) || slices.Contains(opts.Insecure, host) || strings.HasPrefix(server, "http://") {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nopts...)
	if err != nil {
		return err
	}
	tr := opts.Transport
	if tr == nil {
		tr = remote.DefaultTransport
	}
	auth := &authn.Basic{Username: username, Password: password}
	rt, err := transport.NewWithContext(ctx, reg, auth, tr, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return loginError(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr()), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return classify(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return refused(resp.Status)
	}
	return fmt.Errorf("unexpected status from %s/v2/: %s", reg.RegistryStr(), resp.Status)
}

// loginError says that credentials were refused (ErrUnauthorized) when
// they were, and classifies anything else.
func loginError(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return refused(fmt.Sprint(te.StatusCode))
	}
	return classify(err)
}

func refused(status string) error {
	return &Error{Kind: ErrUnauthorized, Msg: "unauthorized: incorrect username or password (" + status + ")"}
}

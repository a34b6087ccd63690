package registry

import (
	"errors"
	"fmt"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/name"
)

// credentialSource says where credentials for the registry host come
// from, as Docker's CLI (and go-containerregistry's keychain) finds them:
// a credential helper, config.json, or none.
func credentialSource(host string) string {
	cf, err := config.Load(config.Dir())
	if err != nil {
		return "Docker's config.json cannot be read: " + err.Error()
	}
	key := host
	if host == name.DefaultRegistry || host == "index.docker.io" || host == "docker.io" {
		key = DockerHubAuthKey
	}
	if h := cf.CredentialHelpers[key]; h != "" {
		return "credential helper docker-credential-" + h + " (credHelpers in " + cf.Filename + ")"
	}
	if cf.CredentialsStore != "" {
		return "credential store docker-credential-" + cf.CredentialsStore + " (credsStore in " + cf.Filename + ")"
	}
	if a, ok := cf.AuthConfigs[key]; ok && (a.Auth != "" || a.Username != "" || a.IdentityToken != "" || a.RegistryToken != "") {
		return "auths in " + cf.Filename
	}
	return "none, anonymous (strata login " + strings.TrimPrefix(key, "https://") + ")"
}

// explain adds to a refused request which registry refused it and the
// credentials that were offered.
func explain(err error, host string) error {
	var e *Error
	if !errors.As(err, &e) || !errors.Is(e.Kind, ErrUnauthorized) {
		return err
	}
	return &Error{Kind: ErrUnauthorized, Msg: fmt.Sprintf("%s by %s (credentials: %s)", e.Msg, host, credentialSource(host)), Cause: e.Cause}
}

// lastError is the error of the last source tried, after the mirrors
// that failed before it.
func lastError(err error, host string, mirrorErrs []string) error {
	err = explain(classify(err), host)
	if len(mirrorErrs) == 0 {
		return err
	}
	return fmt.Errorf("%w (after the mirrors failed: %s)", err, strings.Join(mirrorErrs, "; "))
}

package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/strata-build/strata/internal/conformance"
)

// requirements resolves the base images c requires in registry (a
// docker.io mirror, "127.0.0.1:5000"): their digests, as "ref=digest"
// words that key the reference's cached results, or why one is missing.
func requirements(ctx context.Context, registry string, c conformance.Case) (salt, missing string) {
	for _, ref := range c.Spec.Requires {
		name, tag, ok := strings.Cut(ref, ":")
		if !ok {
			tag = "latest"
		}
		if !strings.Contains(name, "/") {
			name = "library/" + name
		}
		d, err := headManifest(ctx, fmt.Sprintf("http://%s/v2/%s/manifests/%s", registry, name, tag))
		if err != nil {
			return "", fmt.Sprintf("requires %s, not in %s (%v); scripts/conformance.sh pushes it when it can", ref, registry, err)
		}
		salt += " " + ref + "=" + d
	}
	return salt, ""
}

// headManifest returns the digest of the manifest or index at url.
func headManifest(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return "", err
	}
	for _, mt := range []string{
		"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
	} {
		req.Header.Add("Accept", mt)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %s", resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

// withSalt is ref with salt added to its cache key, when it is cached.
func withSalt(ref conformance.Reference, salt string) conformance.Reference {
	if cb, ok := ref.Builder.(conformance.Cached); ok && salt != "" {
		cb.Salt += salt
		ref.Builder = cb
	}
	return ref
}

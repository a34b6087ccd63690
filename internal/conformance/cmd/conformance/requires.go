package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/strata-build/strata/internal/conformance"
)

// missingRequirement says which base image c requires that registry (a
// docker.io mirror, "127.0.0.1:5000") lacks, "" when it has them all (or
// c requires none).
func missingRequirement(ctx context.Context, registry string, c conformance.Case) string {
	for _, ref := range c.Spec.Requires {
		name, tag, ok := strings.Cut(ref, ":")
		if !ok {
			tag = "latest"
		}
		if !strings.Contains(name, "/") {
			name = "library/" + name
		}
		if err := headManifest(ctx, fmt.Sprintf("http://%s/v2/%s/manifests/%s", registry, name, tag)); err != nil {
			return fmt.Sprintf("requires %s, not in %s (%v); scripts/conformance.sh pushes it when it can", ref, registry, err)
		}
	}
	return ""
}

// headManifest checks that a manifest or index answers at url.
func headManifest(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return err
	}
	for _, mt := range []string{
		"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
	} {
		req.Header.Add("Accept", mt)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return nil
}

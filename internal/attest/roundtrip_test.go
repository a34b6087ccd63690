package attest_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/export"
	"github.com/strata-build/strata/internal/registry"
	"github.com/strata-build/strata/internal/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// attested is a two-platform index whose images each have a provenance
// and an SPDX statement, and the images' digests.
func attested(t *testing.T, form attest.Form) (v1.ImageIndex, []v1.Hash) {
	t.Helper()
	prov, err := attest.Provenance(sampleInfo(t), attest.ModeMax)
	if err != nil {
		t.Fatal(err)
	}
	var entries []attest.Entry
	var hs []v1.Hash
	for _, p := range []v1.Platform{amd64, arm64} {
		img := formImage(t, p.Architecture, form)
		h, _ := img.Digest()
		hs = append(hs, h)
		entries = append(entries, attest.Entry{Image: img, Platform: p, Names: []string{"example.com/app:1.0"},
			Predicates: []attest.Predicate{{Type: attest.PredicateSLSA1, Data: prov}, spdx(p.Architecture)}})
	}
	idx, err := attest.Index(entries, form)
	if err != nil {
		t.Fatal(err)
	}
	return idx, hs
}

// checkStatements holds idx to giving each image its two statements.
func checkStatements(t *testing.T, where string, idx v1.ImageIndex, hs []v1.Hash) {
	t.Helper()
	for i, h := range hs {
		stmts, err := attest.Find(idx, h)
		if err != nil {
			t.Errorf("%s: Find(%s) error %v", where, h, err)
			continue
		}
		if len(stmts) != 2 || stmts[0].PredicateType != attest.PredicateSLSA1 || stmts[1].PredicateType != attest.PredicateSPDX {
			t.Errorf("%s: Find(%s) = %d statements, want provenance and SPDX", where, h, len(stmts))
			continue
		}
		if !strings.Contains(string(stmts[1].Predicate), []string{"amd64", "arm64"}[i]) {
			t.Errorf("%s: image %d has SPDX %s", where, i, stmts[1].Predicate)
		}
	}
	ds, err := attest.Images(idx)
	if err != nil || len(ds) != len(hs) {
		t.Errorf("%s: Images = %v, %v; want %d images", where, ds, err, len(hs))
	}
}

// TestRoundTrip stores an attested index, pushes it to a registry, pulls
// it into another store, saves it as an OCI layout and loads that: the
// statements survive every step, and the platform lookups of the store
// never pick an attestation manifest.
func TestRoundTrip(t *testing.T) {
	for _, form := range []attest.Form{attest.FormArtifact, attest.FormImage, attest.FormDocker} {
		ctx := context.Background()
		idx, hs := attested(t, form)
		s := openStore(t)
		h, err := s.WriteIndex(ctx, idx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Tag(ctx, "example.com/app:1.0", h); err != nil {
			t.Fatal(err)
		}
		stored, err := s.Index(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		checkStatements(t, "store", stored, hs)
		for i, p := range []string{"linux/amd64", "linux/arm64"} {
			img, err := s.ImageFor(ctx, h, p)
			if err != nil {
				t.Fatal(err)
			}
			if d, _ := img.Digest(); d != hs[i] {
				t.Errorf("ImageFor(%s) = %s, want %s", p, d, hs[i])
			}
		}
		if _, err := s.ImageFor(ctx, h, "linux/s390x"); err == nil || strings.Contains(err.Error(), "unknown") {
			t.Errorf("ImageFor(s390x) = %v, want an error listing only real platforms", err)
		}

		srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
		t.Cleanup(srv.Close)
		ref := strings.TrimPrefix(srv.URL, "http://") + "/app:1.0"
		if err := registry.New(registry.Options{}).PushIndex(ctx, ref, stored); err != nil {
			t.Fatal(err)
		}
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		pulled, err := remote.Index(r)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := pulled.Digest(); d != h {
			t.Errorf("pushed index digest %s, want %s", d, h)
		}
		checkStatements(t, "registry", pulled, hs)
		if form == attest.FormArtifact {
			checkReferrers(t, r.Context().Digest(hs[0].String()))
		}

		s2 := openStore(t)
		h2, err := s2.WriteIndex(ctx, pulled)
		if err != nil {
			t.Fatal(err)
		}
		again, err := s2.Index(ctx, h2)
		if err != nil {
			t.Fatal(err)
		}
		checkStatements(t, "pulled store", again, hs)

		dir := t.TempDir()
		if err := export.OCILayoutIndex(ctx, stored, dir, []string{"example.com/app:1.0"}); err != nil {
			t.Fatal(err)
		}
		lidx, d, err := export.ReadLayoutEntry(dir, "1.0")
		if err != nil {
			t.Fatal(err)
		}
		saved, err := lidx.ImageIndex(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkStatements(t, "saved layout", saved, hs)
		s3 := openStore(t)
		h3, err := s3.WriteIndex(ctx, saved)
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := s3.Index(ctx, h3)
		if err != nil {
			t.Fatal(err)
		}
		checkStatements(t, "loaded store", loaded, hs)
		if _, err := layout.FromPath(dir); err != nil {
			t.Fatal(err)
		}
	}
}

// checkReferrers holds the registry to listing the attestation manifest
// as a referrer of the image (OCI 1.1 referrers API).
func checkReferrers(t *testing.T, image name.Digest) {
	t.Helper()
	refs, err := remote.Referrers(image)
	if err != nil {
		t.Fatal(err)
	}
	m, err := refs.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].ArtifactType != attest.ArtifactType {
		t.Errorf("referrers of %s = %+v, want the attestation manifest", image, m.Manifests)
	}
}

// TestSplitReferrers pushes an attested index the referrers way: the index
// without attestation entries by tag, the attestation manifests by digest.
// The registry lists each as a referrer of its image, and the tag's index
// has no unknown/unknown entry.
func TestSplitReferrers(t *testing.T) {
	idx, hs := attested(t, attest.FormArtifact)
	plain, refs, err := attest.Split(idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 {
		t.Fatalf("Split = %d referrers, want 2", len(refs))
	}
	want, err := store.NewIndex([]store.IndexEntry{{Image: mustImage(t, idx, hs[0]), Platform: amd64}, {Image: mustImage(t, idx, hs[1]), Platform: arm64}})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := mustDigest(t, plain), mustDigest(t, want); g != w {
		t.Errorf("Split's index = %s, want the unattested index %s", g, w)
	}
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	r, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/app:1.0", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, plain); err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		if err := remote.Write(r.Context().Digest(mustDigest(t, ref).String()), ref); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range hs {
		checkReferrers(t, r.Context().Digest(h.String()))
	}
	pulled, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := pulled.IndexManifest()
	for _, d := range m.Manifests {
		if attest.IsAttestation(d) || d.Platform.OS == "unknown" {
			t.Errorf("the pushed index has an attestation entry %s", d.Digest)
		}
	}
	if _, _, err := attest.Split(mustIndex(t, attested, attest.FormImage)); err == nil {
		t.Errorf("Split(FormImage index) = nil error, want one: its manifests have no subject")
	}
}

func mustIndex(t *testing.T, f func(*testing.T, attest.Form) (v1.ImageIndex, []v1.Hash), form attest.Form) v1.ImageIndex {
	idx, _ := f(t, form)
	return idx
}

func mustImage(t *testing.T, idx v1.ImageIndex, h v1.Hash) v1.Image {
	t.Helper()
	img, err := idx.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func mustDigest(t *testing.T, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

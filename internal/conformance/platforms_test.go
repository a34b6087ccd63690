package conformance

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// platformImage is imageOf with the config's platform set.
func platformImage(t *testing.T, p v1.Platform, body string) v1.Image {
	t.Helper()
	img := imageOf(t, &v1.Config{Cmd: []string{"sh"}}, layerOf(t, file("arch", body)))
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

type platformed struct {
	p   v1.Platform
	img v1.Image
}

// writeIndexLayout writes an OCI layout whose index.json names one image
// index (as buildctl and strata write a multi-platform image) of imgs,
// plus an attestation-like entry for unknown/unknown.
func writeIndexLayout(t *testing.T, dir string, imgs ...platformed) {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, pi := range imgs {
		adds = append(adds, mutate.IndexAddendum{Add: pi.img, Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &pi.p}})
	}
	att := imageOf(t, nil)
	adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1,
		Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}})
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx); err != nil {
		t.Fatal(err)
	}
}

func TestReadReportPlatforms(t *testing.T) {
	amd, arm := v1.Platform{OS: "linux", Architecture: "amd64"}, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeIndexLayout(t, a, platformed{amd, platformImage(t, amd, "amd64\n")}, platformed{arm, platformImage(t, arm, "arm\n")})
	writeIndexLayout(t, b, platformed{amd, platformImage(t, amd, "amd64\n")}, platformed{arm, platformImage(t, arm, "armv7l\n")})
	ra, err := ReadReport(a)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range ra.Platforms {
			yield(k)
		}
	}); !reflect.DeepEqual(got, []string{"linux/amd64", "linux/arm/v7"}) {
		t.Fatalf("ReadReport(index).Platforms = %v, want linux/amd64 and linux/arm/v7", got)
	}
	if v := string(ra.Platforms["linux/arm/v7"].Config["variant"]); v != `"v7"` {
		t.Errorf("arm/v7 config variant = %s, want \"v7\"", v)
	}
	if _, ok := ra.Platforms["linux/amd64"].Config["variant"]; ok {
		t.Errorf("amd64 config has a variant: %s", ra.Platforms["linux/amd64"].Config["variant"])
	}
	rb, err := ReadReport(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(ra, ra, "buildkit", "strata"); len(d) != 0 {
		t.Errorf("Diff(same index) = %v, want none", d)
	}
	want := []Difference{{"linux/arm/v7 /arch", "size buildkit 4, strata 7"}}
	if d := Diff(ra, rb, "buildkit", "strata"); len(d) != 1 || d[0].Where != want[0].Where {
		t.Errorf("Diff(index, other arm content) = %v, want one difference at %s", d, want[0].Where)
	}
	single := reportOf(t, platformImage(t, amd, "amd64\n"))
	if d := Diff(ra, single, "buildkit", "strata"); len(d) != 1 || d[0].String() != "platforms: buildkit [linux/amd64 linux/arm/v7], strata a single image" {
		t.Errorf("Diff(index, single image) = %v", d)
	}
	content := "arm\n"
	got, err := Check(rb, Expectation{Files: map[string]ExpectedFile{"/arch": {Content: &content}}})
	if err != nil || len(got) != 2 || got[0].Where != "linux/amd64 /arch" || got[1].Where != "linux/arm/v7 /arch" {
		t.Errorf("Check(index) = %v, %v; want a difference per platform", got, err)
	}
	rt := filepath.Join(dir, "r.json")
	if err := ra.WriteFile(rt); err != nil {
		t.Fatal(err)
	}
	if back, err := ReadReportFile(rt); err != nil || len(Diff(ra, back, "a", "b")) != 0 || len(back.Platforms) != 2 {
		t.Errorf("ReadReportFile(WriteFile(index report)) = %+v, %v", back, err)
	}
}

func TestPlatformArgs(t *testing.T) {
	c := Case{Name: "c", Dir: "/corpus/c", Spec: Spec{Dockerfile: "Dockerfile", Platforms: []string{"linux/amd64", "linux/arm64"}}}
	got := BuildKit{Bin: "buildctl", Addr: "unix:///s"}.args(c, "/out")
	if i := slices.Index(got, "platform=linux/amd64,linux/arm64"); i < 1 || got[i-1] != "--opt" {
		t.Errorf("args() = %q, want --opt platform=linux/amd64,linux/arm64", got)
	}
}

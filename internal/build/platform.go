package build

// Target platforms: normalising --platform, the platform each stage runs
// on, resolving base images per platform and assembling the image index.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-build/strata/internal/attest"
	"github.com/strata-build/strata/internal/emulate"
	"github.com/strata-build/strata/internal/plan"
	"github.com/strata-build/strata/internal/store"
)

// BuildPlatform is the platform strata runs on, "linux/<GOARCH>".
func BuildPlatform() string { return "linux/" + runtime.GOARCH }

// Platforms checks and normalises --platform values as containerd does
// ("linux/arm64/v8" is "linux/arm64", "linux/arm" is "linux/arm/v7",
// "linux/x86_64" is "linux/amd64"); none means linux/amd64. Duplicates are
// dropped, order is kept.
func Platforms(in []string) ([]string, error) {
	var out []string
	for _, s := range in {
		p, err := NormalizePlatform(s)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = []string{"linux/amd64"}
	}
	return out, nil
}

// NormalizePlatform returns s ("os/arch[/variant]") in containerd's
// normal form, or an error for what strata cannot build.
func NormalizePlatform(s string) (string, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return "", fmt.Errorf("invalid platform %q: want os/arch[/variant], e.g. linux/arm64", s)
	}
	if parts[0] != "linux" {
		return "", fmt.Errorf("unsupported platform %q: strata builds linux images only", s)
	}
	arch, variant := parts[1], ""
	if len(parts) == 3 {
		variant = parts[2]
	}
	switch arch {
	case "x86_64", "x86-64":
		arch = "amd64"
	case "aarch64":
		arch = "arm64"
	case "i386", "i486", "i586", "i686":
		arch = "386"
	case "armhf":
		arch, variant = "arm", "v7"
	case "armel":
		arch, variant = "arm", "v6"
	}
	switch {
	case arch == "arm64" && (variant == "v8" || variant == "8"):
		variant = ""
	case arch == "arm" && variant == "":
		variant = "v7"
	case arch == "arm" && (variant == "7" || variant == "6" || variant == "5"):
		variant = "v" + variant
	}
	known := map[string]bool{"amd64": true, "arm64": true, "arm": true, "386": true, "riscv64": true, "ppc64le": true, "s390x": true}
	if !known[arch] {
		return "", fmt.Errorf("unsupported platform %q: strata builds linux/amd64, arm64, arm/v7, arm/v6, 386, riscv64, ppc64le and s390x", s)
	}
	if variant != "" {
		return "linux/" + arch + "/" + variant, nil
	}
	return "linux/" + arch, nil
}

// stagePlatform is the platform s runs on: its FROM --platform (expanded
// and normalised), else the target platform.
func (r *run) stagePlatform(s *plan.Stage) (string, error) {
	if s.Platform == "" {
		return r.platform, nil
	}
	p, err := NormalizePlatform(s.Platform)
	if err != nil {
		return "", r.posErr(s.Line, err)
	}
	return p, nil
}

// withTargetPlatform is the target stage's state with the image platform
// BuildKit gives it: with an explicit --platform, OS and architecture of
// that platform, its variant when it names one or the architecture
// changed; then containerd's normal form in every case (arm64/v8 is
// arm64, arm is arm/v7).
func (s *state) withTargetPlatform(platform string, explicit bool) *state {
	c := s.clone()
	if p, err := v1.ParsePlatform(platform); err == nil && explicit {
		same := p.OS == c.img.OS && p.Architecture == c.img.Architecture
		c.img.OS, c.img.Architecture = p.OS, p.Architecture
		if p.Variant != "" || !same {
			c.img.Variant = p.Variant
		}
		if p.OSVersion != "" || !same {
			c.img.OSVersion = p.OSVersion
		}
	}
	switch c.img.Architecture {
	case "arm64":
		if v := c.img.Variant; v == "8" || v == "v8" || v == "v8.0" {
			c.img.Variant = ""
		}
	case "arm":
		switch v := c.img.Variant; v {
		case "", "7":
			c.img.Variant = "v7"
		case "5", "6", "8":
			c.img.Variant = "v" + v
		}
	case "amd64":
		if c.img.Variant == "v1" {
			c.img.Variant = ""
		}
	}
	return c
}

// checkBasePlatform warns, as BuildKit's InvalidBaseImagePlatform check
// does, when the base image of s (a registry's single-platform image) is
// for another OS or architecture than the stage's platform.
func (r *run) checkBasePlatform(s *plan.Stage, platform string, st *state) {
	want, err := v1.ParsePlatform(platform)
	if err != nil || st.img.Architecture == "" {
		return
	}
	if st.img.OS == want.OS && st.img.Architecture == want.Architecture {
		return
	}
	have := store.FormatPlatform(v1.Platform{OS: st.img.OS, Architecture: st.img.Architecture, Variant: st.img.Variant})
	r.opts.Progress.Warn(fmt.Sprintf("InvalidBaseImagePlatform: Base image %s was pulled with platform %q, expected %q for current build (%s:%d)",
		s.Base.Ref, have, platform, r.plan.File.Name, s.Line))
}

// ensureEmulator makes sure the host can run the binaries of the stage's
// platform (its image config's): natively, or through QEMU registered with
// binfmt_misc (emulate.Ensure registers it when it may). A config naming no
// architecture is taken as native.
func ensureEmulator(ctx context.Context, st *state) error {
	p := v1.Platform{OS: st.img.OS, Architecture: st.img.Architecture, Variant: st.img.Variant}
	if p.Architecture == "" {
		return nil
	}
	if p.OS == "" {
		p.OS = "linux"
	}
	return emulate.Ensure(ctx, p)
}

// imagePlatform is the platform an image config declares ("" parts when
// it declares none).
func imagePlatform(cfg *v1.ConfigFile) v1.Platform {
	return v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
}

// servesPlatform reports whether an image of platform have can be used for
// want: an image that names no architecture serves any.
func servesPlatform(have v1.Platform, want string) bool {
	if have.Architecture == "" {
		return true
	}
	w, err := v1.ParsePlatform(want)
	if err != nil {
		return false
	}
	if have.OS == "" {
		have.OS = "linux"
	}
	if have.Architecture == "arm" && have.Variant == "" {
		have.Variant = "v7"
	}
	return store.PlatformMatches(have, *w)
}

// IndexOf is the OCI image index of the platforms' images, each entry
// with its platform, and their attestation manifests (of the predicates
// each carries, subjects named after names) in form.
func IndexOf(prs []PlatformResult, names []string, form attest.Form) (v1.ImageIndex, error) {
	entries := make([]attest.Entry, 0, len(prs))
	for _, pr := range prs {
		p, err := v1.ParsePlatform(pr.Platform)
		if err != nil {
			return nil, err
		}
		entries = append(entries, attest.Entry{Image: pr.Image, Platform: *p, Names: names, Predicates: pr.Predicates})
	}
	return attest.Index(entries, form)
}

// errWrongPlatform is matched by a wrongPlatform: the store has the image
// for other platforms only.
var errWrongPlatform = errors.New("wrong platform")

type wrongPlatform struct{ msg string }

func (e *wrongPlatform) Error() string        { return e.msg }
func (e *wrongPlatform) Is(target error) bool { return target == errWrongPlatform }

package conformance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// SpecFile is the file of a case directory that holds its Spec.
const SpecFile = "case.json"

// Case is one directory of the corpus: a Dockerfile, its context (the
// directory itself) and a case.json.
type Case struct {
	Name string
	Dir  string
	Spec Spec
}

// Spec is the content of case.json.
type Spec struct {
	// Note says what the case checks.
	Note string `json:"note,omitempty"`
	// Dockerfile is the Dockerfile's name in the case directory (default
	// "Dockerfile").
	Dockerfile string `json:"dockerfile,omitempty"`
	// Target is the stage to build (--target).
	Target string `json:"target,omitempty"`
	// Args are the --build-arg values.
	Args map[string]string `json:"args,omitempty"`
	// Platforms are the target platforms (--platform), e.g.
	// ["linux/amd64", "linux/arm64"]; several make a multi-platform image,
	// compared platform by platform.
	Platforms []string `json:"platforms,omitempty"`
	// Requires are base images ("busybox:multiarch") the case needs beyond
	// the corpus's usual ones; the driver skips the case when the registry
	// lacks one.
	Requires []string `json:"requires,omitempty"`
	// MustFail says the build must fail, with both builders.
	MustFail bool `json:"mustFail,omitempty"`
	// Reference, when set, says why Docker 20.10 cannot build the case; it
	// is then checked against Expect alone, from the Dockerfile reference.
	Reference string `json:"reference,omitempty"`
	// Expect holds extra checks (and all of them for reference cases).
	Expect *Expectation `json:"expect,omitempty"`
	// Known, when set, says why strata does not yet build what the
	// reference, BuildKit, builds: the case still runs, and a difference is
	// reported as KNOWN, counted apart from passes and failures, until it
	// is fixed. It does not apply to Docker 20.10.
	Known string `json:"known,omitempty"`
}

// LoadCorpus reads every case directory under dir (a directory with a
// case.json), in name order.
func LoadCorpus(dir string) ([]Case, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading corpus: %w", err)
	}
	var out []Case
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		c, err := LoadCase(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// LoadCase reads the case in dir.
func LoadCase(dir string) (Case, error) {
	c := Case{Name: filepath.Base(dir), Dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, SpecFile))
	if err != nil {
		return c, fmt.Errorf("reading case %s: %w", c.Name, err)
	}
	if err := json.Unmarshal(b, &c.Spec); err != nil {
		return c, fmt.Errorf("parsing %s/%s: %w", c.Name, SpecFile, err)
	}
	if c.Spec.Dockerfile == "" {
		c.Spec.Dockerfile = "Dockerfile"
	}
	if c.Spec.Reference != "" && c.Spec.Expect == nil && !c.Spec.MustFail {
		return c, fmt.Errorf("case %s: a reference case needs expect", c.Name)
	}
	return c, nil
}

// BuildArgs are the case's args as --build-arg values, in name order.
func (c Case) BuildArgs() []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(c.Spec.Args)) {
		out = append(out, k+"="+c.Spec.Args[k])
	}
	return out
}

// Hash digests everything in the case directory (names, modes, contents,
// link targets), so that a result cached under it is stale once the case
// changes.
func (c Case) Hash() (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(c.Dir, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%q %o\n", rel, fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "-> %q\n", t)
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			fmt.Fprintf(h, "%d\n", fi.Size())
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashing case %s: %w", c.Name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/cli from the commands")

// docsDir is the generated CLI reference: markdown and man pages.
const docsDir = "../../docs/cli"

// TestCLIDocs holds docs/cli to what the commands say: regenerate with
// `go test ./internal/cli -run TestCLIDocs -update` (make docs).
func TestCLIDocs(t *testing.T) {
	got := t.TempDir()
	if err := generateDocs(got); err != nil {
		t.Fatal(err)
	}
	if *updateDocs {
		if err := os.RemoveAll(docsDir); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(docsDir, os.DirFS(got)); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, _ := filepath.Glob(filepath.Join(docsDir, "*"))
	have, _ := filepath.Glob(filepath.Join(got, "*"))
	if len(want) != len(have) {
		t.Errorf("docs/cli has %d files, the commands make %d: run make docs", len(want), len(have))
	}
	for _, p := range have {
		b, _ := os.ReadFile(p)
		w, err := os.ReadFile(filepath.Join(docsDir, filepath.Base(p)))
		if err != nil || !bytes.Equal(b, w) {
			t.Errorf("docs/cli/%s is not current (%v): run make docs", filepath.Base(p), err)
		}
	}
}

// generateDocs writes the markdown reference and the man pages of every
// command into dir, with defaults that depend on the machine or the user
// written as what they mean.
func generateDocs(dir string) error {
	root := newRoot(&globals{})
	root.DisableAutoGenTag = true
	var fix func(c *cobra.Command)
	fix = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				if d, ok := machineDefaults[f.Name]; ok && f.DefValue != "" {
					f.DefValue = d
				}
			})
		}
		for _, s := range c.Commands() {
			fix(s)
		}
	}
	fix(root)
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		return err
	}
	// A fixed date: the pages must not change with the day they are made.
	date := time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC)
	header := &doc.GenManHeader{Title: "STRATA", Section: "1", Source: "strata", Manual: "strata manual", Date: &date}
	return doc.GenManTree(root, header, dir)
}

// machineDefaults are flag defaults that differ between machines or
// users, as the reference states them.
var machineDefaults = map[string]string{
	"root": "/var/lib/strata as root, else $XDG_DATA_HOME/strata",
}

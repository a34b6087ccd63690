package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/store"
)

type importFlags struct {
	changes  []string
	message  string
	platform string
}

func newImportCmd(g *globals) *cobra.Command {
	f := &importFlags{}
	cmd := &cobra.Command{
		Use:   "import FILE|- [REPOSITORY[:TAG]]",
		Short: "Create an image from a rootfs tarball (plain or gzip), like docker import",
		Args:  argsRange(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd.Context(), g, f, args)
		},
	}
	cmd.Flags().StringArrayVarP(&f.changes, "change", "c", nil, "apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR")
	cmd.Flags().StringVarP(&f.message, "message", "m", "", "commit message for the imported image")
	cmd.Flags().StringVar(&f.platform, "platform", "", "platform of the image (default linux/amd64); the tag keeps its other platforms, as with pull --platform")
	return cmd
}

func runImport(ctx context.Context, g *globals, f *importFlags, args []string) error {
	var cfg v1.Config
	for _, c := range f.changes {
		if err := applyChange(&cfg, c); err != nil {
			return usageError{fmt.Errorf("--change %q: %w", c, err)}
		}
	}
	if len(args) == 2 {
		if _, err := store.NormalizeRef(args[1]); err != nil {
			return usageError{err}
		}
	}
	platform, err := platformFlag(f.platform)
	if err != nil {
		return err
	}
	plat, err := v1.ParsePlatform(cmp.Or(platform, "linux/amd64"))
	if err != nil {
		return usageError{err}
	}
	s, done, err := g.openStoreLeased(ctx)
	if err != nil {
		return err
	}
	defer done()
	h, err := importRootfs(ctx, g, s, args[0], f.message, cfg, *plat)
	if err != nil {
		return fmt.Errorf("importing %s: %w", args[0], err)
	}
	if len(args) == 2 {
		tag := s.Tag
		if platform != "" {
			tag = s.TagPlatform
		}
		if err := tag(ctx, args[1], h); err != nil {
			return err
		}
	}
	id, err := configDigest(ctx, s, h)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.stdio.Out, id) // the image ID, as docker import prints it
	return nil
}

// configDigest is the image ID (config digest) of the stored image h.
func configDigest(ctx context.Context, s *store.Store, h v1.Hash) (v1.Hash, error) {
	img, err := s.Image(ctx, h)
	if err != nil {
		return v1.Hash{}, err
	}
	return img.ConfigName()
}

func importRootfs(ctx context.Context, g *globals, s *store.Store, src, message string, cfg v1.Config, plat v1.Platform) (v1.Hash, error) {
	in := g.stdio.In
	if src != "-" {
		file, err := os.Open(src)
		if err != nil {
			return v1.Hash{}, err
		}
		defer file.Close()
		in = file
	}
	diffID, layer, err := writeImportLayer(ctx, s, in)
	if err != nil {
		return v1.Hash{}, err
	}
	if message == "" {
		message = "Imported from " + src
	}
	created := v1.Time{Time: importTime()}
	cf := v1.ConfigFile{
		Architecture: plat.Architecture,
		OS:           plat.OS,
		Variant:      plat.Variant,
		Created:      created,
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diffID}},
		History:      []v1.History{{Created: created, Comment: message}},
	}
	return writeImportImage(ctx, s, &cf, layer)
}

// importTime is SOURCE_DATE_EPOCH when set, else now.
func importTime() time.Time {
	if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
		if n, err := strconv.ParseInt(e, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}

// writeImportLayer stores in (a tar, maybe gzip'd) as a gzip layer blob and
// returns its diff ID and descriptor.
func writeImportLayer(ctx context.Context, s *store.Store, in io.Reader) (v1.Hash, v1.Descriptor, error) {
	br := bufio.NewReaderSize(in, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return v1.Hash{}, v1.Descriptor{}, err
		}
		defer zr.Close()
		r = zr
	}
	diff := sha256.New()
	digest, size, err := s.WriteBlob(ctx, func(w io.Writer) error {
		zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.MultiWriter(zw, diff), r); err != nil {
			return err
		}
		return zw.Close()
	})
	if err != nil {
		return v1.Hash{}, v1.Descriptor{}, err
	}
	diffID := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diff.Sum(nil))}
	return diffID, v1.Descriptor{MediaType: types.OCILayer, Size: size, Digest: digest}, nil
}

// writeImportImage stores config and manifest (in that order) and returns
// the manifest digest.
func writeImportImage(ctx context.Context, s *store.Store, cf *v1.ConfigFile, layer v1.Descriptor) (v1.Hash, error) {
	cfgDesc, err := writeJSONBlob(ctx, s, cf, types.OCIConfigJSON)
	if err != nil {
		return v1.Hash{}, err
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cfgDesc, Layers: []v1.Descriptor{layer}}
	d, err := writeJSONBlob(ctx, s, m, types.OCIManifestSchema1)
	return d.Digest, err
}

func writeJSONBlob(ctx context.Context, s *store.Store, v any, mt types.MediaType) (v1.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return v1.Descriptor{}, err
	}
	h, n, err := s.WriteBlob(ctx, func(w io.Writer) error { _, err := w.Write(b); return err })
	return v1.Descriptor{MediaType: mt, Size: n, Digest: h}, err
}

// applyChange applies one Dockerfile instruction, parsed by BuildKit, to cfg.
func applyChange(cfg *v1.Config, line string) error {
	res, err := parser.Parse(strings.NewReader(line))
	if err != nil {
		return err
	}
	if len(res.AST.Children) != 1 {
		return fmt.Errorf("want exactly one instruction")
	}
	inst, err := instructions.ParseInstruction(res.AST.Children[0])
	if err != nil {
		return err
	}
	if ex, ok := inst.(instructions.SupportsSingleWordExpansion); ok {
		lex := shell.NewLex(res.EscapeToken)
		err := ex.Expand(func(word string) (string, error) {
			out, _, err := lex.ProcessWord(word, shell.EnvsFromSlice(cfg.Env))
			return out, err
		})
		if err != nil {
			return err
		}
	}
	switch c := inst.(type) {
	case *instructions.CmdCommand:
		cfg.Cmd = shellForm(c.ShellDependantCmdLine)
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = shellForm(c.ShellDependantCmdLine)
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.WorkdirCommand:
		cfg.WorkingDir = path.Join("/", cfg.WorkingDir, c.Path)
		if path.IsAbs(c.Path) {
			cfg.WorkingDir = path.Clean(c.Path)
		}
	case *instructions.UserCommand:
		cfg.User = c.User
	case *instructions.ExposeCommand:
		return addPorts(cfg, c.Ports)
	case *instructions.LabelCommand:
		cfg.Labels = setMap(cfg.Labels, c.Labels)
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
	default:
		return fmt.Errorf("instruction not supported by import")
	}
	return nil
}

func shellForm(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return []string{"/bin/sh", "-c", strings.Join(c.CmdLine, " ")}
	}
	return c.CmdLine
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

func setMap(m map[string]string, kvs instructions.KeyValuePairs) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func addPorts(cfg *v1.Config, ports []string) error {
	if cfg.ExposedPorts == nil {
		cfg.ExposedPorts = map[string]struct{}{}
	}
	for _, p := range ports {
		num, proto, _ := strings.Cut(p, "/")
		if _, err := strconv.ParseUint(num, 10, 16); err != nil {
			return fmt.Errorf("invalid port %q", p)
		}
		cfg.ExposedPorts[num+"/"+cmp.Or(strings.ToLower(proto), "tcp")] = struct{}{}
	}
	return nil
}

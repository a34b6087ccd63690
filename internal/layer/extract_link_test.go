package layer

import (
	"bytes"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExtractHardLinkMeta: a hard link entry that records another owner
// and mode than its target gives the shared file its own, as containerd's
// and moby's untar (and so BuildKit's ADD) do; for an archive and a layer.
func TestExtractHardLinkMeta(t *testing.T) {
	needRoot(t)
	tool := reg("d/tool", "#!/bin/sh\n")
	tool.Mode = 0o4755
	link := hardlink("d/tool-link", "d/tool")
	link.Mode, link.Uid, link.Gid = 0o640, 7, 8
	body := tarOf(t, dir("d"), tool, link)
	for _, archive := range []bool{true, false} {
		dst := t.TempDir()
		if err := Extract(t.Context(), bytes.NewReader(body), dst, ExtractOptions{Archive: archive}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"d/tool", "d/tool-link"} {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(dst, p), &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&0o7777 != 0o640 || st.Uid != 7 || st.Gid != 8 || st.Nlink != 2 {
				t.Errorf("archive=%v %s: mode %o owner %d:%d links %d; want 0640 7:8, 2 links", archive, p, st.Mode&0o7777, st.Uid, st.Gid, st.Nlink)
			}
		}
	}
}

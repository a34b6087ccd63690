package build

import (
	"archive/tar"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestRunKeepsFileCapabilities: a file capability set by setcap in a RUN
// (the security.capability xattr) is in the layer, as Docker keeps it.
func TestRunKeepsFileCapabilities(t *testing.T) {
	f := newDebianFixture(t)
	const df = "FROM debian:bookworm\n" +
		"RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin && rm -rf /var/lib/apt/lists/*\n" +
		"RUN cp /bin/true /usr/local/bin/bind-low && setcap cap_net_bind_service+ep /usr/local/bin/bind-low && getcap /usr/local/bin/bind-low > /getcap.txt\n"
	res := f.mustBuild(buildCase{dockerfile: df})
	if got := flatten(t, res.Image)["/getcap.txt"].body; !strings.Contains(got, "cap_net_bind_service=ep") {
		t.Errorf("/getcap.txt = %q, want cap_net_bind_service=ep", got)
	}
	layers, err := res.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("usr/local/bin/bind-low is not in the last layer")
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") != "usr/local/bin/bind-low" {
			continue
		}
		if _, ok := h.PAXRecords["SCHILY.xattr.security.capability"]; !ok {
			t.Errorf("bind-low has PAX records %v, want SCHILY.xattr.security.capability", h.PAXRecords)
		}
		return
	}
}

package registry

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestPullForeignLayer: a layer the registry does not hold (a foreign,
// non-distributable one) is read from the URL its descriptor lists and
// checked against its digest; a URL serving other bytes fails the pull.
func TestPullForeignLayer(t *testing.T) {
	ctx := context.Background()
	host := serve(t, nil)
	layer, err := random.Layer(4096, types.DockerForeignLayer)
	if err != nil {
		t.Fatal(err)
	}
	body, err := layer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/good":
			w.Write(blob)
		case "/bad":
			w.Write(bytes.ToUpper(blob))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(files.Close)
	for _, c := range []struct {
		urls []string
		want string // error text; "" for success
	}{
		{[]string{files.URL + "/missing", files.URL + "/good"}, ""},
		{[]string{files.URL + "/bad"}, "verifying blob"},
		{[]string{"file:///etc/passwd"}, "want https"},
	} {
		img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, URLs: c.urls, MediaType: types.DockerForeignLayer})
		if err != nil {
			t.Fatal(err)
		}
		ref := host + "/test/foreign:latest"
		// go-containerregistry does not upload a foreign layer: the
		// registry has only the manifest and config.
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(tag, img); err != nil {
			t.Fatal(err)
		}
		got, err := testClient(Options{}).Pull(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		layers, err := got.Layers()
		if err != nil {
			t.Fatal(err)
		}
		var read []byte
		rc, err := layers[0].Compressed()
		if err == nil {
			read, err = io.ReadAll(rc)
			rc.Close()
		}
		switch {
		case c.want == "" && (err != nil || !bytes.Equal(read, blob)):
			t.Errorf("URLs %v: read %d bytes, %v; want the layer's %d", c.urls, len(read), err, len(blob))
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("URLs %v: error %v, want one saying %q", c.urls, err, c.want)
		}
	}
}

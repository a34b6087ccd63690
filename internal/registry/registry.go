// Package registry pulls and pushes images over the registry API with
// go-containerregistry: authentication from the Docker config and credential
// helpers, retries, plain HTTP for localhost like Docker, insecure registries
// and docker.io mirrors.
package registry

import (
	"context"
	"net/http"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Options configure a Client.
type Options struct {
	// Mirrors are registries ("host:port" or URLs) tried before docker.io.
	Mirrors []string
	// Insecure are registries reached over plain HTTP (localhost and
	// 127.0.0.0/8 always are).
	Insecure []string
	// Platform selected from an index, e.g. "linux/amd64".
	Platform string
	// Transport, when set, replaces http.DefaultTransport (tests).
	Transport http.RoundTripper
}

// Client talks to registries.
type Client struct {
	opts Options
}

// New returns a Client.
func New(opts Options) *Client { return &Client{opts: opts} }

// Pull fetches the image ref names for the client's platform. The returned
// image is lazy: layers are fetched when read.
func (c *Client) Pull(ctx context.Context, ref string) (v1.Image, error) { panic("unimplemented") }

// Push uploads img as ref.
func (c *Client) Push(ctx context.Context, ref string, img v1.Image) error { panic("unimplemented") }

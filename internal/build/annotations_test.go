package build

import (
	"strings"
	"testing"
)

func TestParseAnnotation(t *testing.T) {
	for in, want := range map[string]Annotation{
		"org.opencontainers.image.title=app":                  {Level: "manifest", Key: "org.opencontainers.image.title", Value: "app"},
		"manifest:a=b=c":                                      {Level: "manifest", Key: "a", Value: "b=c"},
		"index:org.opencontainers.image.source=https://x/y":   {Level: "index", Key: "org.opencontainers.image.source", Value: "https://x/y"},
		"manifest[linux/arm64/v8]:k=v":                        {Level: "manifest", Platform: "linux/arm64", Key: "k", Value: "v"},
		"org.opencontainers.image.source=https://example.com": {Level: "manifest", Key: "org.opencontainers.image.source", Value: "https://example.com"},
	} {
		got, err := ParseAnnotation(in)
		if err != nil || got != want {
			t.Errorf("ParseAnnotation(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"novalue":                  "use KEY=VALUE",
		"manifest-descriptor:a=b":  "not supported",
		"layer:a=b":                `unknown type "layer"`,
		"index[linux/amd64]:a=b":   "an index has no platform",
		"manifest[linux/amd64:a=b": "unclosed",
	} {
		if _, err := ParseAnnotation(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAnnotation(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

package testenv

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestBusyboxImage(t *testing.T) {
	img := BusyboxImage(t)
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image(busybox) = %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Cmd; len(got) != 1 || got[0] != "sh" {
		t.Errorf("busybox Cmd = %q, want [sh]", got)
	}
}

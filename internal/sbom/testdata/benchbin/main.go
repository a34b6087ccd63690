// Package main is the command benchbin, a Go program with many module dependencies, built by
// the sbom benchmarks as a realistic binary to catalog (it is never run).
package main

import (
	"fmt"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/pelletier/go-toml/v2"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

func main() {
	fmt.Println(remote.Get, parser.Parse, toml.Marshal, yaml.Marshal, cobra.Command{}, cdx.BOMFormat, v2_3.Version)
}

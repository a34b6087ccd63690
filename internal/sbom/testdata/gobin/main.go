// Package main is the command gobin, a tiny Go program the sbom tests build: a binary with
// module build info (its main module and golang.org/x/sync).
package main

import (
	"fmt"

	"golang.org/x/sync/errgroup"
)

func main() {
	var g errgroup.Group
	g.Go(func() error { return nil })
	fmt.Println(g.Wait())
}

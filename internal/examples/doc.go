// Package examples holds the end-to-end test of the repository's examples
// (examples/go and examples/advanced): strata builds them, runs them with
// strata run and checks their HTTP endpoints. It also builds the Go, Node.js,
// Python and Java examples both ways with --sbom and checks the SBOM
// attestation of each multi-stage image against the example's own manifests
// (go.mod, package-lock.json, poetry.lock, pom.xml): what it ships and no
// package of a build stage (sbom_test.go). The test needs root and the base
// image stand-ins of scripts/bases.sh; it runs only when STRATA_EXAMPLES=1
// (see examples_test.go).
package examples

// Package examples holds the end-to-end test of the repository's examples
// (examples/go and examples/advanced): strata builds them, runs them with
// strata run and checks their HTTP endpoints. The test needs root and the
// base image stand-ins of scripts/bases.sh; it runs only when
// STRATA_EXAMPLES=1 (see examples_test.go).
package examples

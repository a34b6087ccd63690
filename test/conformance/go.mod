// The conformance corpus: Dockerfiles and build contexts, not Go code. This
// go.mod keeps the context files (some are .go sources) out of the strata
// module, so `go build ./...` and `go test ./...` never compile them.
module github.com/strata-build/strata/test/conformance

go 1.26

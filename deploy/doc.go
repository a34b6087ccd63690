// Package deploy holds no code: the recipes beside it (deploy/docker,
// kubernetes, github-actions, gitlab-ci) are files to copy. Its tests hold
// them to what their READMEs claim: the Kubernetes Job passes the baseline
// Pod Security Standard, runs in a user namespace, shares the build cache
// through a registry and pushes with a Secret's credentials; the CI recipes
// build with a registry cache and push. With STRATA_EXAMPLES=1 (as root,
// `make test-examples`) it also builds strata's own image and runs it under
// Docker (scripts/image-check.sh).
package deploy

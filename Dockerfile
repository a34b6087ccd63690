# syntax=docker/dockerfile:1
# strata's own image: one static binary on scratch, CA certificates, a
# non-root user strata (1000:1000, HOME /home/strata) and /tmp. Nothing else:
# no shell, no runc. See deploy/README.md for how to run it.
#
#   strata build -t strata:dev .
#
# The Go modules come from GOPROXY (a build argument, the public proxy by
# default). Offline, serve a module cache as a proxy on the host and point
# GOPROXY at it (RUN steps share the host's network by default); that is what
# `make image` (scripts/image.sh) does:
#   python3 -m http.server -b 127.0.0.1 5089 -d "$(go env GOMODCACHE)/cache/download" &
#   strata build --build-arg GOPROXY=http://127.0.0.1:5089 -t strata:dev .
ARG GO_VERSION=1.26
ARG VERSION=dev
ARG REVISION=unknown

FROM golang:${GO_VERSION}-bookworm AS build
ARG GOPROXY=https://proxy.golang.org,direct
WORKDIR /src
# dependency manifests first: `go mod download` stays cached until they change
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd/ cmd/
COPY internal/ internal/
ARG VERSION REVISION
# static, as the builtin sandbox requires (see docs/security.md)
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -o /out/strata \
      -ldflags="-s -w -X github.com/strata-build/strata/internal/cli.linkVersion=${VERSION} -X github.com/strata-build/strata/internal/cli.linkCommit=${REVISION}" \
      ./cmd/strata
# the few files of the final image: users, a writable home and /tmp, the CAs
RUN mkdir -p /out/rootfs/etc/ssl/certs /out/rootfs/home/strata/.local/share/strata \
             /out/rootfs/root /out/rootfs/tmp /out/rootfs/var/lib/strata \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nstrata:x:1000:1000:strata:/home/strata:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' > /out/rootfs/etc/passwd \
 && printf 'root:x:0:\nstrata:x:1000:\nnogroup:x:65534:\n' > /out/rootfs/etc/group \
 && cp /etc/ssl/certs/ca-certificates.crt /out/rootfs/etc/ssl/certs/ \
 && chown -R 1000:1000 /out/rootfs/home/strata \
 && chmod 0700 /out/rootfs/root /out/rootfs/var/lib/strata \
 && chmod 1777 /out/rootfs/tmp

FROM scratch AS strata
ARG VERSION
ARG REVISION
COPY --from=build /out/rootfs/ /
COPY --from=build /out/strata /strata
LABEL org.opencontainers.image.title="strata" \
      org.opencontainers.image.description="Build container images from Dockerfiles, without a daemon" \
      org.opencontainers.image.source="https://github.com/strata-build/strata" \
      org.opencontainers.image.documentation="https://github.com/strata-build/strata/tree/main/deploy" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# the store: /var/lib/strata as root (--user 0, needed for RUN steps),
# ~/.local/share/strata as strata; STRATA_ROOT or --root moves it
USER 1000:1000
ENTRYPOINT ["/strata"]

# The image action.yml runs, built by GitHub's rules for container actions:
# it runs as the image's default user, root (with USER the runner's workspace
# and file-command files could not be written; the binary gives what it
# writes into the runner's folders back to the runner's user), with the
# static binary as ENTRYPOINT. The base is BusyBox: a POSIX shell (and wget,
# tar, gzip) for the user's backup-command in about 1 MB, which keeps what a
# runner pulls under 25 MB. CA certificates come from the build stage.
#
# Both bases are build arguments, pinned by digest, so that a test can build
# this file offline with local images in their place.
ARG BUILDER=golang:1.26-alpine@sha256:7a3e50096189ad57c9f9f865e7e4aa8585ed1585248513dc5cda498e2f41812c
ARG BASE=busybox:1.37-musl@sha256:fc6dddc4c44b1bfe37f41cae8e67d1693828e8f42a91862816d7953e2c9d3f23

# The build runs on the builder's own platform and cross-compiles, so a
# multi-arch build needs no emulation.
FROM --platform=$BUILDPLATFORM ${BUILDER} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/pach-upgrade .

FROM ${BASE}
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/pach-upgrade /usr/local/bin/pach-upgrade
ENTRYPOINT ["/usr/local/bin/pach-upgrade"]

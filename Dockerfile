# The operator's image of ragmigrate: one static binary, the release build (no 'dev' tag, so no
# development rig and no test doubles), on a base with CA certificates and nothing else, run as
# a non-root user. cmd/ragmigrate/dockerfile_test.go parses this file and runs the builder
# stage's 'go build' line itself (no container builder exists on the development machines), so
# that line is the single description of how the binary is built: keep it one RUN of the form
# 'ENV=... go build ... -o /out/ragmigrate ./cmd/ragmigrate'.
#
#   make image IMAGE=<registry>/ragmigrate:<tag>
#   docker buildx build --platform linux/arm64 -t <registry>/ragmigrate:<tag> .   # Graviton Fargate

# The Go version is go.mod's 'go' line (the test checks they agree). The builder runs on the
# build machine's platform and cross-compiles for the target's, which needs no emulation;
# BuildKit, podman and buildah set TARGETOS and TARGETARCH (empty, Go builds for the builder's own).
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# Modules first, so a source change does not download them again. third_party/pdf is a module
# that go.mod replaces by its path, so it must be there before the download.
COPY go.mod go.sum ./
COPY third_party ./third_party
RUN go mod download
COPY . .
# CGO_ENABLED=0: a static binary, for a base without a C library. -trimpath: no build machine
# paths in the binary. -buildvcs=false: .dockerignore leaves .git out of the context.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false -ldflags=-buildid= -o /out/ragmigrate ./cmd/ragmigrate

# distroless static: CA certificates (AWS and RDS TLS), /etc/passwd with the nonroot user
# (65532), tzdata; no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ragmigrate /usr/local/bin/ragmigrate
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ragmigrate"]

# syntax=docker/dockerfile:1
# One image, two binaries: the CronJob runs /usersync, the Deployment
# /usersapi (the Helm chart's default image). Built and published by
# .github/workflows (there is no Docker engine on the development
# machines); multi-arch through Go's cross-compilation, not emulation.
#
#   docker build --build-arg VERSION=v1.2.3 -t usersync .       # the product
#   docker build --target snipeit-sim -t usersync-snipeit-sim .  # the Snipe-IT simulator, for the kind test only

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ ./cmd/usersync ./cmd/usersapi

FROM build AS build-sim
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/snipeit-sim ./hack/snipeit-sim

# The Snipe-IT simulator (pkg/snipeit/snipeittest) as a server, so the CI
# workflow's kind cluster can run a real sync Job; never published.
FROM gcr.io/distroless/static-debian12:nonroot AS snipeit-sim
COPY --from=build-sim /out/snipeit-sim /snipeit-sim
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/snipeit-sim", "-listen", ":8080"]

# distroless/static: no shell, no package manager, CA certificates and tzdata
# included (usersync reads Snipe-IT's APP_TIMEZONE), runs as nonroot. The
# chart's `helm test` runs `/usersapi check`, so no other image is needed.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=""
ARG CREATED=""
LABEL org.opencontainers.image.title="usersync" \
      org.opencontainers.image.description="Mirror of Snipe-IT users and assets in PostgreSQL, with a read API" \
      org.opencontainers.image.source="https://github.com/usersync/usersync" \
      org.opencontainers.image.url="https://github.com/usersync/usersync" \
      org.opencontainers.image.documentation="https://github.com/usersync/usersync/blob/main/deploy/helm/usersync/README.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/usersync /out/usersapi /
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usersapi"]

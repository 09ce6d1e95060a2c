# syntax=docker/dockerfile:1
# One image, two binaries: the CronJob runs /usersync, the Deployment /usersapi.
# Built in CI (.github/workflows/ci.yml); there is no Docker engine on the
# development machines.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ ./cmd/usersync ./cmd/usersapi

# distroless/static: no shell, no package manager, CA certificates and tzdata
# included (usersync reads Snipe-IT's APP_TIMEZONE), runs as nonroot.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/usersync /out/usersapi /
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usersapi"]

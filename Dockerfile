# usher's image: a static binary FROM scratch, run as a user without
# privileges, with its own health check (`usher healthcheck`; the image has
# no shell and no curl).
#
#   docker build -t usher --build-arg VERSION=$(git describe --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker build -t usher-demoapp --target demoapp .      # compose.yaml's demo backend
#
# Without access to the golang image, scripts/image.sh builds the same final
# stage (packaging/Dockerfile.scratch) from a binary built on the machine.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
RUN go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/usher ./cmd/usher \
 && go build -trimpath -ldflags "-s -w" -o /out/demoapp ./packaging/demoapp \
 && mkdir -p /out/rootfs/etc/ssl/certs /out/rootfs/etc/usher /out/rootfs/tmp /out/data \
 && chmod 1777 /out/rootfs/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /out/rootfs/etc/ssl/certs/ \
 && cp packaging/usher.yaml /out/rootfs/etc/usher/usher.yaml

FROM scratch AS demoapp
COPY --from=build /out/demoapp /demoapp
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD ["/demoapp", "-check"]
ENTRYPOINT ["/demoapp"]

FROM scratch
COPY --from=build /out/rootfs/ /
COPY --chown=65532:65532 --from=build /out/data/ /var/lib/usher/
COPY --from=build /out/usher /usher
USER 65532:65532
WORKDIR /etc/usher
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usher", "healthcheck"]
ENTRYPOINT ["/usher"]
CMD ["run", "-c", "/etc/usher/usher.yaml"]

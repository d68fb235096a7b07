# wopibridge: a static binary on a minimal base, running as a non-root user.
#
#   docker build -t wopibridge .
#   docker run -p 8080:8080 -v wopibridge-data:/data wopibridge
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/wopibridge ./cmd/wopibridge \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wopibridge /usr/local/bin/wopibridge
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV WOPIBRIDGE_LISTEN=0.0.0.0:8080 \
    WOPIBRIDGE_STORAGE=fs:/data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/wopibridge", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/wopibridge"]
CMD ["serve"]

# Builds the image that action.yml runs: a static pach-upgrade binary on a
# small base that keeps a POSIX shell for the user's backup-command, run as a
# non-root user.
FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/pach-upgrade .

FROM alpine:3.22
RUN apk add --no-cache ca-certificates && adduser -D -u 10001 pachupgrade
COPY --from=build /out/pach-upgrade /usr/local/bin/pach-upgrade
USER 10001
ENTRYPOINT ["/usr/local/bin/pach-upgrade"]

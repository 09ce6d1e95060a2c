#!/usr/bin/env bash
# Prepares this machine for `make test` and `make bench`: installs the real
# components the tests run against (Pushgateway, promtool, wrk, shellcheck,
# and headless Chromium for the /docs page) from Debian's packages when
# missing, and makes sure the local PostgreSQL is up.
# Idempotent; safe to run on every `make test`.
set -euo pipefail

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null && sudo="sudo -n"
fi

need=()
command -v prometheus-pushgateway >/dev/null || need+=(prometheus-pushgateway)
command -v promtool >/dev/null || need+=(prometheus)
command -v wrk >/dev/null || need+=(wrk)
# actionlint (make lint) checks the workflows' shell steps with it.
command -v shellcheck >/dev/null || need+=(shellcheck)
# A font, so that the screenshots the browser test keeps are legible.
command -v chromium >/dev/null || need+=(chromium fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's prometheus package may start its server; the tests need only promtool.

# PostgreSQL: the machine's local server on 127.0.0.1:5432 (trust auth).
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "setup: starting PostgreSQL" >&2
    $sudo pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break
    sleep 1
  done
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "setup: PostgreSQL is not answering on 127.0.0.1:5432 (set TEST_DATABASE_URL to another server)" >&2
  [ -n "${TEST_DATABASE_URL:-}" ] || exit 1
fi

# The real Kubernetes control plane (kube-apiserver, etcd) and helm, built
# from the Go module proxy once per version and cached outside the clone.
"$(dirname "$0")/kube-assets.sh" >/dev/null

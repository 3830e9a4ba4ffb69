#!/usr/bin/env bash
# Make PostgreSQL's server binaries available for the store's tests on both engines (and for
# benchmarks/index_staleness.py). Installs Debian's `postgresql` package when no
# /usr/lib/postgresql/*/bin/initdb exists; never creates, starts or touches a cluster: the tests
# start their own throwaway one (tests/pg_cluster.py) and Debian's default cluster is stopped if
# the package's install started it.
set -euo pipefail

have_pg() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; }

if have_pg; then
  echo "PostgreSQL binaries found: $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tr '\n' ' ')"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "no PostgreSQL binaries and no apt-get: install PostgreSQL (initdb, pg_ctl) yourself" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# the package may start its default cluster; the tests never use it
if command -v pg_lsclusters >/dev/null; then
  pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
    $SUDO pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true
  done
fi
have_pg && echo "PostgreSQL installed: $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"

#!/usr/bin/env bash
# Services the test suite uses for real: Debian's Chromium (the browser test), a PostgreSQL
# server (the review log on a real database) and Debian's Mosquitto MQTT broker (the delivery tests
# start their own broker on a free loopback port). Installs what is missing (as root, via apt), starts
# PostgreSQL, makes the test role and database, and writes the URL to .venv/test-postgres-url.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver)
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure_services: missing ${need[*]}; install them (apt-get install ${need[*]}) or run this as root" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
  pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -1)" main >/dev/null
fi
read -r version cluster port status _ < <(pg_lsclusters -h | head -1)
if [ "$status" != online ]; then
  pg_ctlcluster "$version" "$cluster" start
fi

as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sh -c "$1"; fi; }
as_postgres "psql -p $port -tAc \"select 1 from pg_roles where rolname='steelscan'\"" | grep -q 1 ||
  as_postgres "psql -p $port -qc \"create role steelscan login password 'steelscan' createdb\""
# The app's own role in the role-separation test (docs/operations.md): it owns nothing and is granted per schema.
as_postgres "psql -p $port -tAc \"select 1 from pg_roles where rolname='steelscan_app'\"" | grep -q 1 ||
  as_postgres "psql -p $port -qc \"create role steelscan_app login password 'steelscan_app'\""
as_postgres "psql -p $port -tAc \"select 1 from pg_database where datname='steelscan_test'\"" | grep -q 1 ||
  as_postgres "psql -p $port -qc 'create database steelscan_test owner steelscan'"

mkdir -p .venv
echo "postgresql+psycopg://steelscan:steelscan@127.0.0.1:$port/steelscan_test" > .venv/test-postgres-url
echo "ensure_services: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), PostgreSQL $version on port $port, mosquitto $(dpkg-query -W -f='${Version}' mosquitto 2>/dev/null)"

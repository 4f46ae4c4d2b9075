#!/usr/bin/env bash
# What the test suite needs besides .venv, made ready before any test runs:
#   - Debian's Chromium and a CJK font for the console's browser tests (never a downloaded
#     browser); installed with apt when run as root on Debian;
#   - Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 with a database `test`,
#     started when they are installed but not running.
# Anything it cannot provide ends the run with one line naming the missing step.
set -euo pipefail

die() { echo "make test: $*" >&2; exit 2; }
is_root() { [ "$(id -u)" = 0 ]; }

ensure_browser() {
  if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi wqy; then
    return
  fi
  if is_root && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium and fonts-wqy-microhei for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
    return
  fi
  die "the browser tests need Chromium and a CJK font: run 'sudo apt-get install -y chromium fonts-wqy-microhei' first"
}

ensure_redis() {
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return
  command -v redis-server >/dev/null 2>&1 \
    || die "Redis is not running on 127.0.0.1:6379 and redis-server is not installed: install it (apt-get install -y redis-server)"
  echo "starting redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

ensure_postgres() {
  pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && return
  command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ] \
    || die "PostgreSQL is not running on 127.0.0.1:5432 and no local cluster is installed: install it (apt-get install -y postgresql)"
  echo "starting postgresql"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
}

ensure_browser
ensure_redis
ensure_postgres
for _ in $(seq 1 30); do
  if redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && pg_isready -h 127.0.0.1 >/dev/null 2>&1; then
    break
  fi
  sleep 1
done
redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || die "Redis did not come up on 127.0.0.1:6379"
pg_isready -h 127.0.0.1 >/dev/null 2>&1 || die "PostgreSQL did not come up on 127.0.0.1:5432"
psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" \
  | grep -q 1 || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test" \
  || die "could not create the PostgreSQL database 'test' (trust auth for user postgres expected)"

#!/usr/bin/env bash
# Installs (where missing) and starts the real peers the test suite needs, on loopback:
# PostgreSQL and Garage (S3-compatible); installs the disc-image tools the fixtures are made
# with and checked against. Sourced by scripts/test.sh; exports SPINDLE_TEST_*.
# Any failure is loud: the suite never runs with a peer quietly missing.

GARAGE_VERSION=2.5.0

die() { echo "peers: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

# Disc-image tools: makers for the fixtures and reference readers the tests compare against.
IMAGE_TOOLS=(xorriso:xorriso genisoimage:genisoimage mkudffs:udftools bsdtar:libarchive-tools
  7z:p7zip-full bchunk:bchunk sox:sox cd-info:libcdio-utils)

install_image_tools() {
  local missing=() pair
  for pair in "${IMAGE_TOOLS[@]}"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  /usr/bin/python3 -c 'import pycdlib' 2>/dev/null || missing+=(python3-pycdlib)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "peers: installing disc-image tools: ${missing[*]}"
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || die "could not install ${missing[*]}"
  fi
  for pair in "${IMAGE_TOOLS[@]}"; do
    command -v "${pair%%:*}" >/dev/null || die "${pair%%:*} is still missing"
  done
}

install_peers() {
  install_image_tools
  if ! pg_bindir >/dev/null; then
    echo "peers: installing PostgreSQL (Debian package)"
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
      || die "could not install PostgreSQL"
  fi
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v garage >/dev/null || ! garage --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then
    echo "peers: building Garage $GARAGE_VERSION with cargo install (about 9 minutes, once; cached in ~/.cargo/bin)"
    cargo install garage --version "$GARAGE_VERSION" --locked --quiet || die "could not build Garage"
  fi
}

start_postgres() {
  local bindir; bindir=$(pg_bindir) || die "PostgreSQL is not installed"
  local dir="$PEERS_DIR/pg"
  mkdir -p "$dir"
  local run=()
  if [ "$(id -u)" = 0 ]; then
    # initdb refuses to run as root.
    chown -R postgres:postgres "$PEERS_DIR/pg"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$bindir/initdb" -D "$dir/data" -U spindle -A trust --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  PG_PORT=$(free_port)
  "${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $PG_PORT -k $dir -c fsync=off -c max_connections=300" start >/dev/null \
    || { cat "$dir/server.log" >&2; die "PostgreSQL did not start"; }
  PG_STOP=("${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast stop)
  export SPINDLE_TEST_PG_URL="postgres://spindle@127.0.0.1:$PG_PORT/postgres"
  "$bindir/psql" "$SPINDLE_TEST_PG_URL" -qAtc 'select 1' >/dev/null || die "PostgreSQL does not answer"
  echo "peers: PostgreSQL on 127.0.0.1:$PG_PORT"
}

start_garage() {
  local dir="$PEERS_DIR/garage"
  mkdir -p "$dir"
  local s3 rpc admin
  s3=$(free_port); rpc=$(free_port); admin=$(free_port)
  cat >"$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
TOML
  local g=(garage -c "$dir/garage.toml")
  "${g[@]}" server >"$dir/server.log" 2>&1 &
  GARAGE_PID=$!
  local id="" i
  for i in $(seq 1 100); do
    id=$("${g[@]}" node id -q 2>/dev/null | cut -d@ -f1) && [ -n "$id" ] && break
    kill -0 "$GARAGE_PID" 2>/dev/null || { cat "$dir/server.log" >&2; die "Garage exited"; }
    sleep 0.1
  done
  [ -n "$id" ] || die "Garage did not start"
  "${g[@]}" layout assign -z dc1 -c 10G "$id" >/dev/null || die "garage layout assign failed"
  "${g[@]}" layout apply --version 1 >/dev/null || die "garage layout apply failed"
  "${g[@]}" bucket create spindle-test >/dev/null || die "garage bucket create failed"
  local key; key=$("${g[@]}" key create spindle-test-key) || die "garage key create failed"
  export SPINDLE_TEST_S3_KEY_ID; SPINDLE_TEST_S3_KEY_ID=$(echo "$key" | awk '/Key ID:/ {print $3}')
  export SPINDLE_TEST_S3_SECRET; SPINDLE_TEST_S3_SECRET=$(echo "$key" | awk '/Secret key:/ {print $3}')
  [ -n "$SPINDLE_TEST_S3_KEY_ID" ] && [ -n "$SPINDLE_TEST_S3_SECRET" ] || die "could not read the Garage key"
  "${g[@]}" bucket allow --read --write --owner spindle-test --key spindle-test-key >/dev/null \
    || die "garage bucket allow failed"
  export SPINDLE_TEST_S3_ENDPOINT="http://127.0.0.1:$s3"
  export SPINDLE_TEST_S3_BUCKET=spindle-test
  export SPINDLE_TEST_GARAGE_CONFIG="$dir/garage.toml"
  echo "peers: Garage on 127.0.0.1:$s3 (bucket spindle-test)"
}

stop_peers() {
  [ -n "${GARAGE_PID:-}" ] && kill "$GARAGE_PID" 2>/dev/null && wait "$GARAGE_PID" 2>/dev/null
  [ -n "${PG_STOP:-}" ] && "${PG_STOP[@]}" >/dev/null 2>&1
  [ -n "${PEERS_DIR:-}" ] && rm -rf "$PEERS_DIR"
  return 0
}

start_peers() {
  install_peers
  PEERS_DIR=$(mktemp -d /tmp/spindle-peers.XXXXXX)
  chmod 755 "$PEERS_DIR"
  trap stop_peers EXIT
  start_postgres
  start_garage
}

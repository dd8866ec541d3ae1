#!/usr/bin/env bash
# Installs (where missing) and starts the real peers the test suite needs, on loopback:
# PostgreSQL and Garage (S3-compatible); installs the disc-image tools the fixtures are made
# with and checked against. Sourced by scripts/test.sh; exports SPINDLE_TEST_*.
# Any failure is loud: the suite never runs with a peer quietly missing.

GARAGE_VERSION=2.5.0

die() {
  echo "peers: $*" >&2
  # A Garage build still running in the background (garage_build_start) goes too.
  [ -n "${GARAGE_BUILD_PID:-}" ] && kill "$GARAGE_BUILD_PID" 2>/dev/null
  # So does scripts/test.sh's fuzz build (its own process group).
  [ -n "${FUZZ_BUILD_PID:-}" ] && kill -- -"$FUZZ_BUILD_PID" 2>/dev/null
  exit 1
}

# A port free now and not handed out before by this shell (two ports asked one after the other
# can come back equal once the first socket is closed: Garage's S3 and admin APIs once got the
# same one). The ports given are kept in a file named after this shell's pid.
free_port() {
  python3 - "/tmp/spindle-ports.$$" <<'PY'
import socket, sys
path = sys.argv[1]
try:
    taken = set(open(path).read().split())
except FileNotFoundError:
    taken = set()
held = []
while True:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = str(s.getsockname()[1])
    if port not in taken:
        break
    held.append(s)
with open(path, "a") as f:
    f.write(port + "\n")
print(port)
PY
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Installs Debian packages without letting their maintainer scripts start services (nginx would
# listen on every address, PostgreSQL would start its own cluster): the suite starts its own
# peers on loopback. policy-rc.d is the Debian way to say so; it is removed afterwards.
apt_install() {
  local policy=/usr/sbin/policy-rc.d own=0 rc=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod 755 "$policy" && own=1
  fi
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || rc=1
  [ "$own" = 1 ] && as_root rm -f "$policy"
  return "$rc"
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

# Debian tools the tests use: the disc-image makers and reference readers, and Zebra/YAZ
# (the Z39.50/SRU server Koha uses) for the catalogue tests, Chromium and its WebDriver for the pages,
# nginx (the loadtests' baseline, run in smoke mode by the suite), curl and openssl (the harness),
# wrk (loadtests/range-bench.sh's load client),
# ffmpeg, vcdimager and dvdauthor (video discs made from ffmpeg's test sources; vcdxrip and
# ffprobe read them back), rclone, davfs2 and litmus (WebDAV clients and the conformance suite),
# syslinux/isolinux, mtools and dosfstools (boot discs and floppies the emulator tests boot),
# systemd-analyze (checks the deployment kit's unit).
IMAGE_TOOLS=(xorriso:xorriso genisoimage:genisoimage mkudffs:udftools bsdtar:libarchive-tools
  7z:p7zip-full bchunk:bchunk sox:sox cd-info:libcdio-utils zebrasrv:idzebra-2.0 yaz-client:yaz
  yaz-marcdump:yaz yaz-ztest:yaz chromium:chromium chromedriver:chromium-driver nginx:nginx curl:curl
  wrk:wrk openssl:openssl ffmpeg:ffmpeg ffprobe:ffmpeg vcdimager:vcdimager vcdxrip:vcdimager
  dvdauthor:dvdauthor rclone:rclone mount.davfs:davfs2 litmus:litmus syslinux:syslinux
  mcopy:mtools mkfs.fat:dosfstools systemd-analyze:systemd)
# Files the boot fixtures copy, and nginx's TCP proxy module, which stands in front of the
# cluster's PostgreSQL primary and replica (packages with no command of their own).
IMAGE_FILES=(/usr/lib/ISOLINUX/isolinux.bin:isolinux
  /usr/lib/syslinux/modules/bios/ldlinux.c32:syslinux-common
  /usr/lib/nginx/modules/ngx_stream_module.so:libnginx-mod-stream)

install_image_tools() {
  local missing=() pair
  for pair in "${IMAGE_TOOLS[@]}"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  for pair in "${IMAGE_FILES[@]}"; do
    [ -e "${pair%%:*}" ] || missing+=("${pair#*:}")
  done
  /usr/bin/python3 -c 'import pycdlib' 2>/dev/null || missing+=(python3-pycdlib)
  # A Chinese font, so the pages' screenshots show zh-CN text rather than empty boxes.
  fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-zenhei)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "peers: installing test tools: ${missing[*]}"
    apt_install "${missing[@]}" || die "could not install ${missing[*]}"
  fi
  for pair in "${IMAGE_TOOLS[@]}"; do
    command -v "${pair%%:*}" >/dev/null || die "${pair%%:*} is still missing"
  done
  for pair in "${IMAGE_FILES[@]}"; do
    [ -e "${pair%%:*}" ] || die "${pair%%:*} is still missing"
  done
}

# The play benchmark (loadtests/play-bench.sh) also measures JSMpeg in the browser, which npm
# fetches at run time: npm is installed for it, not for the suite.
install_bench_tools() {
  install_image_tools
  if ! command -v npm >/dev/null; then
    echo "peers: installing npm (Debian package) for the benchmarks"
    apt_install npm || die "could not install npm"
  fi
  command -v npm >/dev/null || die "npm is still missing"
  # GNU time: the client's CPU beside the server's (loadtests/redirect-bench.sh).
  if [ ! -x /usr/bin/time ]; then
    apt_install time || die "could not install time"
  fi
}

PG_PROGRAMS=(initdb pg_ctl psql pg_basebackup pg_dump pg_restore)

install_peers() {
  garage_build_start
  install_image_tools
  if ! pg_bindir >/dev/null; then
    echo "peers: installing PostgreSQL (Debian package)"
    apt_install postgresql || die "could not install PostgreSQL"
  fi
  # Every PostgreSQL program the suite runs: the server's (initdb, pg_ctl), psql, the
  # cluster's replica (pg_basebackup) and `spindle backup`/`restore` (pg_dump, pg_restore).
  local bindir program
  bindir=$(pg_bindir) || die "PostgreSQL is not installed"
  for program in "${PG_PROGRAMS[@]}"; do
    if [ ! -x "$bindir/$program" ]; then
      echo "peers: installing PostgreSQL's client programs ($program is missing)"
      apt_install postgresql-client || die "could not install postgresql-client"
      break
    fi
  done
  for program in "${PG_PROGRAMS[@]}"; do
    [ -x "$bindir/$program" ] || die "$bindir/$program is still missing"
  done
  garage_build_wait
}

garage_installed() {
  command -v garage >/dev/null && garage --version 2>/dev/null | grep -q "$GARAGE_VERSION"
}

# Garage is built from crates.io where it is missing, in the background, so that the other
# installs (Debian packages, PyPI, npm) happen meanwhile: garage_build_start starts the build
# (once per shell), garage_build_wait waits for it and fails loudly if it failed.
garage_build_start() {
  export PATH="$HOME/.cargo/bin:$PATH"
  [ -n "${GARAGE_BUILD_PID:-}" ] && return 0
  garage_installed && return 0
  GARAGE_BUILD_LOG=$(mktemp /tmp/spindle-garage-build.XXXXXX)
  # Only the features the tests use: LMDB metadata and the bundled libraries (no metrics,
  # SQLite or K2V): 6.4 minutes to build here against 8.1 with the default features, about
  # 10.5 with its crates still to download on a fresh machine.
  echo "peers: building Garage $GARAGE_VERSION with cargo install in the background (6 to 11 minutes, once; cached in ~/.cargo/bin; log $GARAGE_BUILD_LOG)"
  cargo install garage --version "$GARAGE_VERSION" --locked --quiet \
    --no-default-features --features bundled-libs,lmdb >"$GARAGE_BUILD_LOG" 2>&1 &
  GARAGE_BUILD_PID=$!
}

garage_build_wait() {
  if [ -n "${GARAGE_BUILD_PID:-}" ]; then
    local pid=$GARAGE_BUILD_PID
    GARAGE_BUILD_PID=
    if ! wait "$pid"; then
      cat "$GARAGE_BUILD_LOG" >&2
      die "could not build Garage"
    fi
    echo "peers: Garage $GARAGE_VERSION built"
    rm -f "$GARAGE_BUILD_LOG"
  fi
  garage_installed || die "Garage $GARAGE_VERSION is still missing"
}

# A fresh PostgreSQL on loopback (C.UTF-8, so pg_trgm makes trigrams of Chinese whatever this
# shell's locale); PG_OPTS adds server settings (`-c shared_buffers=4GB`).
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
  # Password authentication (SCRAM), as a campus database would ask: the suite proves the
  # password reaches no log, and a database without one would make that check empty.
  local password; password=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
  printf '%s\n' "$password" >"$dir/pwfile"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/pwfile"
  "${run[@]}" "$bindir/initdb" -D "$dir/data" -U spindle -A scram-sha-256 --pwfile="$dir/pwfile" \
    --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  rm -f "$dir/pwfile"
  PG_PORT=$(free_port)
  # Kept, with PG_STOP, for a harness that restarts the server on the same data.
  PG_START=("${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60
    -o "-h 127.0.0.1 -p $PG_PORT -k $dir -c fsync=off -c max_connections=300 ${PG_OPTS:-}" start)
  PG_STOP=("${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast stop)
  "${PG_START[@]}" >/dev/null || { cat "$dir/server.log" >&2; die "PostgreSQL did not start"; }
  export SPINDLE_TEST_PG_URL="postgres://spindle:$password@127.0.0.1:$PG_PORT/postgres"
  "$bindir/psql" "$SPINDLE_TEST_PG_URL" -qAtc 'select 1' >/dev/null || die "PostgreSQL does not answer"
  echo "peers: PostgreSQL on 127.0.0.1:$PG_PORT"
}

# Waits up to 60 s until the Spindle at BASE answers /readyz; else shows LOG and fails.
wait_ready() { # BASE [LOG]
  local i
  for i in $(seq 600); do
    curl -sf "$1/readyz" >/dev/null && return 0
    sleep 0.1
  done
  [ -n "${2:-}" ] && cat "$2" >&2
  die "Spindle did not answer at $1/readyz"
}

# A Garage node's configuration: garage_config DIR SECRET REPLICATION RPC S3 ADMIN [RPC_TIMEOUT_MS]
# writes DIR/garage.toml (metadata and data under DIR, everything on loopback; Garage's own
# RPC timeout, 300 s, unless given).
garage_config() {
  local dir=$1 secret=$2 replication=$3 rpc=$4 s3=$5 admin=$6 rpc_timeout=${7:-300000}
  mkdir -p "$dir"
  cat >"$dir/garage.toml" <<TOML
rpc_timeout_msec = $rpc_timeout
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
replication_factor = $replication
consistency_mode = "consistent"
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
TOML
}

# The id of the Garage node started with DIR/garage.toml as process PID, once it answers
# RPC (`node id` reads the local key file and can answer before the server listens).
garage_node_id() {
  local dir=$1 pid=$2 id="" i
  local g=(garage -c "$dir/garage.toml")
  for i in $(seq 1 100); do
    id=$("${g[@]}" node id -q 2>/dev/null | cut -d@ -f1) && [ -n "$id" ] && "${g[@]}" status >/dev/null 2>&1 && break
    id=""
    kill -0 "$pid" 2>/dev/null || { cat "$dir/server.log" >&2; die "Garage ($dir) exited"; }
    sleep 0.1
  done
  [ -n "$id" ] || { cat "$dir/server.log" >&2; die "Garage ($dir) did not start"; }
  echo "$id"
}

# A bucket and a key allowed to it, made through the node DIR/garage.toml; sets
# GARAGE_KEY_ID and GARAGE_KEY_SECRET.
garage_bucket() {
  local dir=$1 bucket=$2 keyname=$3
  local g=(garage -c "$dir/garage.toml")
  "${g[@]}" bucket create "$bucket" >/dev/null || die "garage bucket create failed"
  local key; key=$("${g[@]}" key create "$keyname") || die "garage key create failed"
  GARAGE_KEY_ID=$(echo "$key" | awk '/Key ID:/ {print $3}')
  GARAGE_KEY_SECRET=$(echo "$key" | awk '/Secret key:/ {print $3}')
  [ -n "$GARAGE_KEY_ID" ] && [ -n "$GARAGE_KEY_SECRET" ] || die "could not read the Garage key"
  "${g[@]}" bucket allow --read --write --owner "$bucket" --key "$keyname" >/dev/null \
    || die "garage bucket allow failed"
}

start_garage() {
  local dir="$PEERS_DIR/garage"
  local s3 rpc admin
  s3=$(free_port); rpc=$(free_port); admin=$(free_port)
  garage_config "$dir" "$(python3 -c 'import secrets; print(secrets.token_hex(32))')" 1 "$rpc" "$s3" "$admin"
  local g=(garage -c "$dir/garage.toml")
  "${g[@]}" server >"$dir/server.log" 2>&1 &
  GARAGE_PID=$!
  local id; id=$(garage_node_id "$dir" "$GARAGE_PID") || exit 1
  "${g[@]}" layout assign -z dc1 -c 10G "$id" >/dev/null || die "garage layout assign failed"
  "${g[@]}" layout apply --version 1 >/dev/null || die "garage layout apply failed"
  garage_bucket "$dir" spindle-test spindle-test-key
  export SPINDLE_TEST_S3_KEY_ID=$GARAGE_KEY_ID
  export SPINDLE_TEST_S3_SECRET=$GARAGE_KEY_SECRET
  export SPINDLE_TEST_S3_ENDPOINT="http://127.0.0.1:$s3"
  export SPINDLE_TEST_S3_BUCKET=spindle-test
  export SPINDLE_TEST_GARAGE_CONFIG="$dir/garage.toml"
  echo "peers: Garage on 127.0.0.1:$s3 (bucket spindle-test)"
}

# Zebra with two databases (marc21, unimarc) of the project's test records
# (tests/zebra/records, written by tests/zebra/make-records.py), SRU and Z39.50 on one port.
start_zebra() {
  local dir="$PEERS_DIR/zebra" here modules port
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/zebra"
  mkdir -p "$dir"
  cp -r "$here"/. "$dir"/
  modules=$(dirname "$(find /usr/lib -name mod-dom.so 2>/dev/null | head -1)")
  [ -f "$modules/mod-dom.so" ] || die "Zebra's DOM filter module (mod-dom.so) is missing"
  sed -i "s|@MODULES@|$modules|" "$dir/zebra.cfg"
  mkdir -p "$dir/register" "$dir/lock"
  port=$(free_port)
  sed "s|@PORT@|$port|g; s|@DIR@|$dir|g" "$dir/yazgfs.xml.in" >"$dir/yazgfs.xml"
  (
    cd "$dir" || exit 1
    zebraidx -c zebra.cfg init >index.log 2>&1 || exit 1
    for db in marc21 unimarc; do
      zebraidx -c zebra.cfg -g "$db" -d "$db" update "records/$db.xml" >>index.log 2>&1 || exit 1
    done
    # Load tests add their generated records (ZEBRA_EXTRA_MARC21=file.xml).
    if [ -n "${ZEBRA_EXTRA_MARC21:-}" ]; then
      zebraidx -c zebra.cfg -g marc21 -d marc21 update "$ZEBRA_EXTRA_MARC21" >>index.log 2>&1 || exit 1
    fi
  ) || { cat "$dir/index.log" >&2; die "zebraidx failed"; }
  if grep -E '\[(warn|fatal)\]' "$dir/index.log" >&2; then die "zebraidx reported problems"; fi
  (cd "$dir" && exec zebrasrv -f yazgfs.xml -l zebrasrv.log >/dev/null 2>&1) &
  ZEBRA_PID=$!
  local url="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    curl -sf "$url/marc21?version=1.2&operation=searchRetrieve&query=rec.id=100001&maximumRecords=0" 2>/dev/null | grep -q numberOfRecords && break
    sleep 0.1
  done
  curl -sf "$url/unimarc?version=1.2&operation=searchRetrieve&query=rec.id=012015000101&maximumRecords=0" 2>/dev/null \
    | grep -q '<zs:numberOfRecords>1<' || { cat "$dir/zebrasrv.log" >&2; die "Zebra does not answer SRU"; }
  export SPINDLE_TEST_ZEBRA_URL="$url"
  echo "peers: Zebra (SRU, Z39.50) on 127.0.0.1:$port"
}

# OAI-PMH providers built on pyoai (PyPI) serving the same test catalogue: one well behaved,
# one whose second resumption token "expires" and where record 100002 has been withdrawn.
OAI_VENV="$HOME/.cache/spindle/oai-venv"

start_oai() {
  local here port flaky
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests"
  if ! "$OAI_VENV/bin/python" -c 'import oaipmh, lxml' 2>/dev/null; then
    echo "peers: installing pyoai 2.5.0 into $OAI_VENV (PyPI)"
    python3 -m venv "$OAI_VENV" && "$OAI_VENV/bin/pip" install -q pyoai==2.5.0 \
      || die "could not install pyoai"
  fi
  port=$(free_port)
  flaky=$(free_port)
  "$OAI_VENV/bin/python" -W ignore "$here/oai/provider.py" "$here/zebra/records" "$port" >"$PEERS_DIR/oai.log" 2>&1 &
  OAI_PIDS=("$!")
  "$OAI_VENV/bin/python" -W ignore "$here/oai/provider.py" "$here/zebra/records" "$flaky" --fail-token-once --deleted 100002 >"$PEERS_DIR/oai-flaky.log" 2>&1 &
  OAI_PIDS+=("$!")
  for p in "$port" "$flaky"; do
    for _ in $(seq 100); do
      curl -sf "http://127.0.0.1:$p/?verb=Identify" 2>/dev/null | grep -q repositoryName && break
      sleep 0.1
    done
    curl -sf "http://127.0.0.1:$p/?verb=Identify" | grep -q repositoryName \
      || { cat "$PEERS_DIR"/oai*.log >&2; die "the OAI-PMH provider did not start"; }
  done
  export SPINDLE_TEST_OAI_URL="http://127.0.0.1:$port/"
  export SPINDLE_TEST_OAI_FLAKY_URL="http://127.0.0.1:$flaky/"
  echo "peers: OAI-PMH providers (pyoai) on 127.0.0.1:$port and :$flaky"
}

# A real CAS server (protocol 1, 2 and 3, single logout) for the sign-on tests:
# django-mama-cas 2.5.0 (PyPI, BSD) on Django 4.2 LTS, with the test campus's people
# (tests/cas/cas_server.py).
CAS_VENV="$HOME/.cache/spindle/cas-venv"

start_cas() {
  local here port
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/cas"
  if ! "$CAS_VENV/bin/python" -c 'import mama_cas, django' 2>/dev/null; then
    echo "peers: installing django-mama-cas 2.5.0 and Django 4.2.17 into $CAS_VENV (PyPI)"
    python3 -m venv "$CAS_VENV" \
      && "$CAS_VENV/bin/pip" install -q django-mama-cas==2.5.0 Django==4.2.17 \
      || die "could not install django-mama-cas"
  fi
  port=$(free_port)
  mkdir -p "$PEERS_DIR/cas"
  "$CAS_VENV/bin/python" -W ignore "$here/cas_server.py" "$port" "$PEERS_DIR/cas" >"$PEERS_DIR/cas.log" 2>&1 &
  CAS_PID=$!
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$port/cas/login" 2>/dev/null | grep -q csrfmiddlewaretoken && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$port/cas/login" | grep -q csrfmiddlewaretoken \
    || { cat "$PEERS_DIR/cas.log" >&2; die "the CAS server (django-mama-cas) did not start"; }
  export SPINDLE_TEST_CAS_URL="http://127.0.0.1:$port/cas"
  echo "peers: CAS server (django-mama-cas) on 127.0.0.1:$port"
}

# A real OpenID Connect provider for the sign-on tests: oidc-provider 9.13.3 (npm, MIT, an
# OpenID-certified implementation) on this machine's Node.js, installed from the npm registry
# by its lock file (tests/oidc/package-lock.json) beside a copy of tests/oidc/provider.mjs.
OIDC_DIR="$HOME/.cache/spindle/oidc"

start_oidc() {
  local here port
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/oidc"
  command -v node >/dev/null && command -v npm >/dev/null \
    || die "Node.js and npm are needed for the OpenID provider (oidc-provider)"
  mkdir -p "$OIDC_DIR"
  cp "$here/package.json" "$here/package-lock.json" "$here/provider.mjs" "$OIDC_DIR/"
  if ! (cd "$OIDC_DIR" && node -e 'import("oidc-provider")' 2>/dev/null) \
    || ! cmp -s "$here/package-lock.json" "$OIDC_DIR/node_modules/.package-lock.json.spindle" 2>/dev/null; then
    echo "peers: installing oidc-provider 9.13.3 into $OIDC_DIR (npm registry)"
    (cd "$OIDC_DIR" && npm ci --no-audit --no-fund --loglevel=error) \
      || die "could not install oidc-provider"
    cp "$here/package-lock.json" "$OIDC_DIR/node_modules/.package-lock.json.spindle"
  fi
  port=$(free_port)
  (cd "$OIDC_DIR" && exec node provider.mjs "$port") >"$PEERS_DIR/oidc.log" 2>&1 &
  OIDC_PID=$!
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$port/.well-known/openid-configuration" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$port/.well-known/openid-configuration" | grep -q jwks_uri \
    || { cat "$PEERS_DIR/oidc.log" >&2; die "the OpenID provider (oidc-provider) did not start"; }
  export SPINDLE_TEST_OIDC_URL="http://127.0.0.1:$port"
  echo "peers: OpenID provider (oidc-provider) on 127.0.0.1:$port"
}

stop_peers() {
  local p
  for p in "${OAI_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  [ -n "${CAS_PID:-}" ] && kill "$CAS_PID" 2>/dev/null
  [ -n "${OIDC_PID:-}" ] && kill "$OIDC_PID" 2>/dev/null
  [ -n "${ZEBRA_PID:-}" ] && kill "$ZEBRA_PID" 2>/dev/null && wait "$ZEBRA_PID" 2>/dev/null
  [ -n "${GARAGE_PID:-}" ] && kill "$GARAGE_PID" 2>/dev/null && wait "$GARAGE_PID" 2>/dev/null
  [ -n "${PG_STOP:-}" ] && "${PG_STOP[@]}" >/dev/null 2>&1
  [ -n "${PEERS_DIR:-}" ] && rm -rf "$PEERS_DIR"
  rm -f "/tmp/spindle-ports.$$"
  return 0
}

# A real SUSHI harvester for the statistics tests: celus-nigiri (Celus's client library) from
# PyPI; 4.2.2 is the newest that runs on the machine's Python 3.11 and reads COUNTER R5.1.
SUSHI_VENV="$HOME/.cache/spindle/sushi-venv"
install_sushi_client() {
  if ! "$SUSHI_VENV/bin/python" -c 'import celus_nigiri.counter51' 2>/dev/null; then
    echo "peers: installing celus-nigiri 4.2.2 into $SUSHI_VENV (PyPI)"
    python3 -m venv "$SUSHI_VENV" && "$SUSHI_VENV/bin/pip" install -q celus-nigiri==4.2.2 \
      || die "could not install celus-nigiri"
  fi
  export SPINDLE_TEST_SUSHI_PYTHON="$SUSHI_VENV/bin/python"
}

# schemathesis (property-based API testing against the OpenAPI document) and
# openapi-spec-validator (the document validates as OpenAPI 3.1), from PyPI.
API_VENV="$HOME/.cache/spindle/api-venv"
install_api_testers() {
  if ! "$API_VENV/bin/schemathesis" --version 2>/dev/null | grep -q 4.32.5 \
      || ! [ -x "$API_VENV/bin/openapi-spec-validator" ]; then
    echo "peers: installing schemathesis 4.32.5 and openapi-spec-validator 0.9.0 into $API_VENV (PyPI)"
    python3 -m venv "$API_VENV" \
      && "$API_VENV/bin/pip" install -q schemathesis==4.32.5 openapi-spec-validator==0.9.0 \
      || die "could not install schemathesis"
  fi
  export SPINDLE_TEST_SCHEMATHESIS="$API_VENV/bin/schemathesis"
  export SPINDLE_TEST_OPENAPI_VALIDATOR="$API_VENV/bin/openapi-spec-validator"
}

start_peers() {
  garage_build_start
  install_sushi_client
  install_api_testers
  install_peers
  PEERS_DIR=$(mktemp -d /tmp/spindle-peers.XXXXXX)
  chmod 755 "$PEERS_DIR"
  trap stop_peers EXIT
  start_postgres
  start_garage
  start_zebra
  start_oai
  start_cas
  start_oidc
}

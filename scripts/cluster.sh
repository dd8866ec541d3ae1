#!/usr/bin/env bash
# A Spindle cluster on this machine, on loopback, to try and to drill (issue 22):
#   PostgreSQL (a primary and a synchronous streaming replica, behind nginx's TCP proxy, which
#   sends connections to the replica when the primary is gone), a three-node Garage
#   (replication_factor = 3, one node per zone), two Spindle nodes on that database and store,
#   and nginx balancing the Spindle nodes (LB) and the three Garage S3 endpoints (S3) so that
#   losing one node loses no request path.
#
#   scripts/cluster.sh up DIR     starts everything under DIR and prints one line per service:
#                                 LB, NODE (each), PG, S3, GARAGE (each node's own S3 port);
#                                 DIR/cluster.env holds the same as shell exports, and the
#                                 bucket's key, for drills and tests
#   scripts/cluster.sh restart DIR spindle-N|garage-N
#                                 stops that node if it runs (SIGTERM) and starts it again with
#                                 its configuration, port and data: after a drill killed it
#   scripts/cluster.sh failover DIR
#                                 stops the PostgreSQL primary (immediate: as a crash) and
#                                 promotes the replica; the nodes reach it through the same
#                                 address, without a restart ($CLUSTER_PROMOTE_AFTER seconds
#                                 after the stop: meanwhile the replica reads, refuses writes)
#   scripts/cluster.sh repair DIR  asks every Garage node to sync its metadata now (`garage
#                                 repair -a --yes tables`): a node that was down then learns of
#                                 the blocks written meanwhile, and fetches each one 2 x its RPC
#                                 timeout later (Garage 2.5 defers that fetch; the timeout is 30 s
#                                 here, so about a minute); without it, Garage's own table sync
#                                 comes within 10 minutes
#   scripts/cluster.sh down DIR   stops everything `up` started (the files stay, for reading)
#
# The Spindle binary is target/release/spindle (built first when missing), or $CLUSTER_SPINDLE_BIN (a SPINDLE_ variable would be read as Spindle configuration).
# SPINDLE_* variables in the environment of `up` configure every node (kept in DIR/spindle.env).
# Tools: scripts/peers.sh installs PostgreSQL, Garage and nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/peers.sh

usage() { echo "usage: scripts/cluster.sh up|down|failover|repair DIR | restart DIR spindle-N|garage-N" >&2; exit 2; }
[ $# = 2 ] || { [ $# = 3 ] && [ "$1" = restart ]; } || usage
CMD=$1
DIR=$(mkdir -p "$2" && cd "$2" && pwd)
chmod 755 "$DIR"  # PostgreSQL runs as its own user under it
PIDS="$DIR/pids"

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# A streaming replica of the primary (pg_basebackup -R), synchronous, so that a commit the
# primary acknowledged is on the replica too and a failover loses none.
replica_up() {
  local bindir d="$DIR/pg-replica" run=() creds password
  bindir=$(pg_bindir)
  [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  mkdir -p "$d"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$d"
  creds=${SPINDLE_TEST_PG_URL#postgres://}; creds=${creds%%@*}; password=${creds#*:}
  PG_REPLICA_PORT=$(free_port)
  "${run[@]}" env PGPASSWORD="$password" "$bindir/pg_basebackup" -h 127.0.0.1 -p "$PG_PRIMARY_PORT" \
    -U spindle -D "$d/data" -R -X stream -c fast --no-sync >"$d/basebackup.log" 2>&1 \
    || { cat "$d/basebackup.log" >&2; die "pg_basebackup failed"; }
  "${run[@]}" "$bindir/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $PG_REPLICA_PORT -k $d -c fsync=off -c max_connections=300" start >/dev/null \
    || { cat "$d/server.log" >&2; die "the PostgreSQL replica did not start"; }
  # Set on the primary only (after the copy): the replica, once promoted, waits for nobody.
  "$bindir/psql" "$SPINDLE_TEST_PG_URL" -qAtc "ALTER SYSTEM SET synchronous_standby_names = '*'" >/dev/null
  "$bindir/psql" "$SPINDLE_TEST_PG_URL" -qAtc "SELECT pg_reload_conf()" >/dev/null
  local i
  for i in $(seq 100); do
    [ "$("$bindir/psql" "$SPINDLE_TEST_PG_URL" -qAtc "SELECT sync_state FROM pg_stat_replication" 2>/dev/null)" = sync ] && break
    sleep 0.1
  done
  [ "$i" -lt 100 ] || die "the replica is not streaming synchronously"
  echo "$PG_REPLICA_PORT" >"$d/port"
}

# Stops the primary as a crash would and promotes the replica.
failover() {
  [ -d "$PIDS" ] || die "no cluster under $DIR"
  local bindir run=()
  bindir=$(pg_bindir)
  [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$bindir/pg_ctl" -D "$DIR/pg/data" -m immediate stop >/dev/null 2>&1 \
    || die "the primary was not running"
  # An operator (or a failover manager) takes a moment to decide: meanwhile the nodes reach the
  # replica, which reads but refuses writes.
  sleep "${CLUSTER_PROMOTE_AFTER:-0}"
  "${run[@]}" "$bindir/pg_ctl" -D "$DIR/pg-replica/data" -w -t 60 promote >/dev/null \
    || die "the replica could not be promoted"
  echo "cluster: the replica on 127.0.0.1:$(cat "$DIR/pg-replica/port") is the primary now"
}

garage_start() { # N
  local d="$DIR/garage/n$1"
  garage -c "$d/garage.toml" server >>"$d/server.log" 2>&1 &
  echo $! >"$PIDS/garage-$1.pid"
}

# Starts Spindle node N on its port (DIR/nodeN/port) and waits until it is ready.
spindle_start() { # N
  local n=$1 port envs
  port=$(cat "$DIR/node$n/port")
  mapfile -t envs <"$DIR/spindle.env"
  env "${envs[@]}" "$(cat "$DIR/spindle.bin")" --data-dir "$DIR/node$n" serve --listen "127.0.0.1:$port" \
    >>"$DIR/node$n/server.log" 2>&1 &
  echo $! >"$PIDS/spindle-$n.pid"
  wait_ready "http://127.0.0.1:$port" "$DIR/node$n/server.log"
}

garage_up() {
  local secret n id ids=() s3s=()
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  for n in 1 2 3; do
    local d="$DIR/garage/n$n" s3 rpc
    s3=$(free_port); rpc=$(free_port)
    # An RPC timeout of 30 s (Garage's is 300): on loopback nothing takes that long, and a
    # node that was down fetches the blocks it missed 2 x this after it learns of them.
    garage_config "$d" "$secret" 3 "$rpc" "$s3" "$(free_port)" 30000
    echo "$s3" >"$d/s3.port"
    garage_start "$n"
    s3s+=("$s3")
    echo "$rpc" >"$d/rpc.port"
  done
  for n in 1 2 3; do
    id=$(garage_node_id "$DIR/garage/n$n" "$(cat "$PIDS/garage-$n.pid")") || exit 1
    ids+=("$id")
  done
  local g=(garage -c "$DIR/garage/n1/garage.toml")
  for n in 2 3; do
    "${g[@]}" node connect "${ids[$((n - 1))]}@127.0.0.1:$(cat "$DIR/garage/n$n/rpc.port")" >/dev/null \
      || die "Garage node 1 could not connect to node $n"
  done
  for n in 1 2 3; do
    "${g[@]}" layout assign -z "zone$n" -c 1G "${ids[$((n - 1))]}" >/dev/null || die "garage layout assign failed"
  done
  "${g[@]}" layout apply --version 1 >/dev/null || die "garage layout apply failed"
  # Every node must see the layout before the bucket is made.
  for n in 1 2 3; do
    for _ in $(seq 100); do
      garage -c "$DIR/garage/n$n/garage.toml" layout show 2>/dev/null | grep -q "zone3" && break
      sleep 0.1
    done
  done
  garage_bucket "$DIR/garage/n1" spindle spindle-key
  KEY_ID=$GARAGE_KEY_ID
  KEY_SECRET=$GARAGE_KEY_SECRET
  GARAGE_S3=("${s3s[@]}")
}

nginx_up() { # LB_PORT S3_PORT NODE_PORT...
  local lb=$1 s3=$2; shift 2
  mkdir -p "$DIR/nginx/tmp"
  {
    echo "load_module /usr/lib/nginx/modules/ngx_stream_module.so;"
    echo "worker_processes 2;"
    echo "pid $DIR/nginx/nginx.pid;"
    echo "error_log $DIR/nginx/error.log warn;"
    echo "events { worker_connections 4096; }"
    echo "http {"
    # Which node answered each request, for drills that kill the one in use.
    echo "  log_format upstream '\$remote_addr \"\$request\" \$status \$upstream_addr';"
    echo "  access_log $DIR/nginx/access.log upstream;"
    echo "  client_body_temp_path $DIR/nginx/tmp;"
    echo "  proxy_temp_path $DIR/nginx/tmp;"
    echo "  upstream spindle { $(printf 'server 127.0.0.1:%s max_fails=1 fail_timeout=2s; ' "$@") keepalive 32; }"
    echo "  upstream garage { $(printf 'server 127.0.0.1:%s max_fails=1 fail_timeout=2s; ' "${GARAGE_S3[@]}") keepalive 32; }"
    # Uploads and downloads stream through (no buffering, no size cap: Spindle caps them);
    # a node that refuses or dies is tried on the next for requests that may be repeated.
    for pair in "$lb spindle" "$s3 garage"; do
      set -- $pair
      echo "  server {"
      echo "    listen 127.0.0.1:$1;"
      echo "    client_max_body_size 0;"
      echo "    proxy_request_buffering off;"
      echo "    proxy_buffering off;"
      echo "    proxy_http_version 1.1;"
      echo "    proxy_set_header Connection \"\";"
      # Garage checks the SigV4 signature over the Host the client signed.
      echo "    proxy_set_header Host \$http_host;"
      echo "    proxy_set_header X-Forwarded-For \$remote_addr;"
      echo "    proxy_read_timeout 300s;"
      echo "    proxy_next_upstream error timeout http_502 http_503;"
      echo "    location / { proxy_pass http://$2; }"
      echo "  }"
    done
    echo "}"
    # PostgreSQL: the primary while it answers, else the replica (promoted by `failover`).
    echo "stream {"
    echo "  upstream pg { server 127.0.0.1:$PG_PRIMARY_PORT max_fails=1 fail_timeout=5s; server 127.0.0.1:$PG_REPLICA_PORT backup; }"
    echo "  server { listen 127.0.0.1:$PG_LB_PORT; proxy_pass pg; proxy_connect_timeout 1s; }"
    echo "}"
  } >"$DIR/nginx/nginx.conf"
  nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" || die "nginx did not start"
}

spindle_env() { # NODE
  echo "SPINDLE_DATABASE__URL=$DB_URL"
  echo "SPINDLE_STORAGE__BACKEND=s3"
  echo "SPINDLE_STORAGE__S3__ENDPOINT=http://127.0.0.1:$S3_PORT"
  echo "SPINDLE_STORAGE__S3__BUCKET=spindle"
  echo "SPINDLE_STORAGE__S3__REGION=garage"
  echo "SPINDLE_STORAGE__S3__ACCESS_KEY_ID=$KEY_ID"
  echo "SPINDLE_STORAGE__S3__SECRET_ACCESS_KEY=$KEY_SECRET"
  echo "SPINDLE_HTTP__PUBLIC_URL=http://127.0.0.1:$LB_PORT"
  echo "SPINDLE_HTTP__TRUSTED_PROXIES=[\"127.0.0.1/32\"]"
  # A cluster on loopback links discs to catalogues on loopback too (a test Zebra).
  echo "SPINDLE_LINKING__ALLOW_NETWORKS=[\"127.0.0.0/8\"]"
  echo "SPINDLE_LOG__FILTER=info"
  # Settings given to `up` (SPINDLE_FIXITY__INTERVAL_SECS=1 scripts/cluster.sh up DIR) are every
  # node's, and a restarted node's too.
  env | grep '^SPINDLE_' | grep -v '^SPINDLE_TEST_' || true
}

up() {
  [ -e "$PIDS" ] && die "$DIR already holds a cluster: scripts/cluster.sh down $DIR first"
  install_peers
  command -v nginx >/dev/null || die "nginx is missing (scripts/peers.sh installs it)"
  local bin=${CLUSTER_SPINDLE_BIN:-$ROOT/target/release/spindle}
  if [ ! -x "$bin" ]; then
    echo "cluster: building Spindle (release)" >&2
    cargo build --release --quiet -p spindle || die "cargo build failed"
  fi
  mkdir -p "$PIDS"
  PEERS_DIR=$DIR
  start_postgres >&2
  "$(pg_bindir)/psql" "$SPINDLE_TEST_PG_URL" -qAtc "CREATE DATABASE spindle" >/dev/null
  PG_PRIMARY_PORT=$PG_PORT
  replica_up
  PG_LB_PORT=$(free_port)
  # The nodes' address: nginx's TCP proxy (user and password as the primary's).
  local creds=${SPINDLE_TEST_PG_URL#postgres://}; creds=${creds%%@*}
  DB_URL="postgres://$creds@127.0.0.1:$PG_LB_PORT/spindle"
  garage_up
  LB_PORT=$(free_port); S3_PORT=$(free_port)
  local ports=() n
  for n in 1 2; do ports+=("$(free_port)"); done
  nginx_up "$LB_PORT" "$S3_PORT" "${ports[@]}"
  # Garage answers an unsigned request with an S3 error: any HTTP answer means it is there.
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S3_PORT/")" != 000 ] && break
    sleep 0.1
  done
  spindle_env >"$DIR/spindle.env"
  echo "$bin" >"$DIR/spindle.bin"
  # The first node migrates the database; the second starts once it is ready.
  for n in 1 2; do
    mkdir -p "$DIR/node$n"
    echo "${ports[$((n - 1))]}" >"$DIR/node$n/port"
    spindle_start "$n"
  done
  wait_ready "http://127.0.0.1:$LB_PORT" "$DIR/nginx/error.log"
  {
    echo "export CLUSTER_LB=http://127.0.0.1:$LB_PORT"
    echo "export CLUSTER_NODES=\"http://127.0.0.1:${ports[0]} http://127.0.0.1:${ports[1]}\""
    echo "export CLUSTER_PG='$DB_URL'"
    echo "export CLUSTER_S3=http://127.0.0.1:$S3_PORT"
    echo "export CLUSTER_GARAGE_S3=\"$(printf 'http://127.0.0.1:%s ' "${GARAGE_S3[@]}")\""
    echo "export CLUSTER_GARAGE_CONFIGS=\"$(printf "$DIR/garage/n%s/garage.toml " 1 2 3)\""
    echo "export CLUSTER_S3_BUCKET=spindle"
    echo "export CLUSTER_S3_KEY_ID=$KEY_ID"
    echo "export CLUSTER_S3_SECRET=$KEY_SECRET"
    echo "export CLUSTER_SPINDLE_BIN=$bin"
  } >"$DIR/cluster.env"
  echo "LB http://127.0.0.1:$LB_PORT"
  for n in 1 2; do echo "NODE http://127.0.0.1:${ports[$((n - 1))]}"; done
  echo "PG ${DB_URL%%:*}://spindle:…@${DB_URL#*@}"
  echo "S3 http://127.0.0.1:$S3_PORT"
  for n in 1 2 3; do echo "GARAGE http://127.0.0.1:${GARAGE_S3[$((n - 1))]}"; done
}

down() {
  [ -d "$PIDS" ] || die "no cluster under $DIR"
  local f
  [ -f "$DIR/nginx/nginx.pid" ] && kill "$(cat "$DIR/nginx/nginx.pid")" 2>/dev/null || true
  for f in "$PIDS"/spindle-*.pid "$PIDS"/garage-*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  for f in "$PIDS"/spindle-*.pid "$PIDS"/garage-*.pid; do
    [ -f "$f" ] || continue
    for _ in $(seq 100); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$(cat "$f")" 2>/dev/null || true
  done
  local pg bindir
  for pg in pg pg-replica; do
    if [ -d "$DIR/$pg/data" ]; then
      bindir=$(pg_bindir) || die "PostgreSQL is not installed"
      as_pg "$bindir/pg_ctl" -D "$DIR/$pg/data" -m fast stop >/dev/null 2>&1 || true
    fi
  done
  rm -rf "$PIDS"
  echo "cluster: stopped (files kept under $DIR)"
}

# Waits until restarted Garage node N answers S3 and every running Garage node counts every
# running node healthy (N among them), so that writes may use it in their quorum again.
garage_rejoined() { # N
  local n=$1 alive=() f m i healthy
  for f in "$PIDS"/garage-*.pid; do
    kill -0 "$(cat "$f")" 2>/dev/null && alive+=("$(basename "$f" .pid)")
  done
  for i in $(seq 600); do
    healthy=yes
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(cat "$DIR/garage/n$n/s3.port")/")" = 000 ] && healthy=no
    for m in "${alive[@]}"; do
      [ "$(garage -c "$DIR/garage/n${m#garage-}/garage.toml" status 2>/dev/null \
        | sed -n '/HEALTHY NODES/,/FAILED NODES/p' | grep -c zone)" -ge "${#alive[@]}" ] || healthy=no
    done
    [ "$healthy" = yes ] && return 0
    sleep 0.1
  done
  die "Garage node $n did not rejoin within 60 s"
}

# Stops a node (SIGTERM, then SIGKILL after 10 s) if it runs, and starts it again.
restart() { # spindle-N|garage-N
  [ -d "$PIDS" ] || die "no cluster under $DIR"
  local which=$1 n=${1##*-} pid
  case "$which" in
    spindle-[12]|garage-[123]) ;;
    *) die "restart: no node $which (spindle-1, spindle-2, garage-1 … garage-3)" ;;
  esac
  if [ -f "$PIDS/$which.pid" ]; then
    pid=$(cat "$PIDS/$which.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  case "$which" in
    spindle-*) spindle_start "$n" ;;
    garage-*)
      garage_start "$n"
      garage_rejoined "$n" ;;
  esac
  echo "cluster: $which running again (pid $(cat "$PIDS/$which.pid"))"
}

# Every running Garage node syncs its metadata tables with the others now.
repair() {
  [ -d "$PIDS" ] || die "no cluster under $DIR"
  local f n
  for f in "$PIDS"/garage-*.pid; do
    kill -0 "$(cat "$f")" 2>/dev/null || continue
    n=$(basename "$f" .pid); n=${n#garage-}
    garage -c "$DIR/garage/n$n/garage.toml" repair -a --yes tables >/dev/null \
      || die "garage repair tables failed"
    echo "cluster: every Garage node is syncing its tables"
    return 0
  done
  die "no Garage node is running"
}

case "$CMD" in
  up) up ;;
  repair) repair ;;
  restart) restart "$3" ;;
  failover) failover ;;
  down) down ;;
  *) usage ;;
esac

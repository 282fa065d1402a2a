#!/usr/bin/env bash
# Installs (idempotently) and starts polysaga's four real stores on 127.0.0.1:
#   PostgreSQL 15, FerretDB v1.24.2 (MongoDB wire protocol, SQLite backend),
#   Neo4j 5.26 (embedded, Bolt only) and Chroma (npm chromadb's bundled server).
# Data lives under <repo>/.stack/<store>, logs in .stack/logs, pid files in .stack/run;
# .stack/env gets the connection URLs. Running it again leaves running stores alone.
# Ports: POLYSAGA_PG_PORT, POLYSAGA_MONGO_PORT, POLYSAGA_NEO4J_PORT, POLYSAGA_CHROMA_PORT.
# See tools/stack/README.md.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

T_ALL="$(now)"
HEALTH_WAIT="${POLYSAGA_STACK_WAIT:-90}"

[[ "$(id -u)" == 0 ]] || die "up.sh needs root (apt-get, and running PostgreSQL as the '$PG_USER' user)"
command -v node >/dev/null || die "node is required (Node 20)"

mkdir -p "$RUN_DIR" "$LOG_DIR" "$CACHE_DIR/bin"

hash_files() { cat "$@" | sha256sum | cut -d' ' -f1; }

# ---------------------------------------------------------------------------------------------
# Install steps
# ---------------------------------------------------------------------------------------------

ensure_node_deps() {
  if [[ -x "$CHROMA_BIN" && -d "$STACK_DIR/node_modules/pg" && -d "$STACK_DIR/node_modules/mongodb" \
        && -d "$STACK_DIR/node_modules/neo4j-driver" && -d "$STACK_DIR/node_modules/chromadb" ]]; then
    log "node deps: present"
    return
  fi
  local t; t="$(now)"
  if ! command -v pnpm >/dev/null; then
    log "node deps: installing pnpm 10.34.8 (npm i -g)"
    npm i -g pnpm@10.34.8
  fi
  log "node deps: pnpm install --frozen-lockfile (repo root)"
  (cd "$REPO_ROOT" && pnpm install --frozen-lockfile)
  [[ -x "$CHROMA_BIN" ]] || die "pnpm install did not provide $CHROMA_BIN"
  log "node deps: installed in $(since "$t")"
}

ensure_postgres_installed() {
  if [[ ! -x "$PG_BIN/initdb" ]]; then
    local t; t="$(now)"
    log "postgres: installing postgresql-$PG_VERSION with apt-get (one-time)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "postgresql-$PG_VERSION"
    log "postgres: installed in $(since "$t")"
  else
    log "postgres: $PG_BIN present"
  fi
  if ! id -u "$PG_USER" >/dev/null 2>&1; then
    log "postgres: creating system user '$PG_USER'"
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash "$PG_USER"
  fi
}

# The postgres user must be able to traverse every directory above .stack/pg.
ensure_postgres_can_reach_state_dir() {
  local d="" part
  local -a parts
  IFS=/ read -r -a parts <<<"${STATE_DIR#/}"
  for part in "${parts[@]}"; do
    d="$d/$part"
    [[ -d "$d" ]] || break
    if ! runuser -u "$PG_USER" -- test -x "$d"; then
      log "postgres: granting o+x on $d so the '$PG_USER' user can reach $PG_DATA"
      chmod o+x "$d"
    fi
  done
}

# Builds the FerretDB launcher (tools/stack/ferretdb) unless the cached binary matches its sources.
# Runs in the background: output goes to the install log.
build_ferretdb() {
  local src="$STACK_DIR/ferretdb" stamp
  stamp="$(hash_files "$src/go.mod" "$src/go.sum" "$src/main.go")"
  if [[ -x "$FERRETDB_BIN" && "$(cat "$FERRETDB_BIN.stamp" 2>/dev/null)" == "$stamp" ]]; then
    return 0
  fi
  command -v go >/dev/null || { echo "go is required to build FerretDB"; return 1; }
  echo "building FerretDB launcher from $src (Go module proxy) ..."
  (cd "$src" && GOFLAGS=-mod=readonly go build -trimpath -o "$FERRETDB_BIN.tmp" .)
  mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
  echo "$stamp" >"$FERRETDB_BIN.stamp"
  "$FERRETDB_BIN" --version
}

# Fetches the Neo4j jars (Maven Central) and compiles Main.java, unless cached and unchanged.
# Runs in the background: output goes to the install log.
fetch_neo4j() {
  local src="$STACK_DIR/neo4j" lib_stamp cls_stamp
  lib_stamp="$(hash_files "$src/pom.xml")"
  cls_stamp="$(hash_files "$src/Main.java")"
  if [[ "$(cat "$NEO4J_LIB/.stamp" 2>/dev/null)" != "$lib_stamp" ]]; then
    command -v mvn >/dev/null || { echo "mvn (Maven 3) is required to fetch Neo4j"; return 1; }
    echo "fetching neo4j-harness and dependencies from Maven Central into $NEO4J_LIB ..."
    rm -rf "$NEO4J_LIB" "$NEO4J_CLASSES"
    mvn -B -q -f "$src/pom.xml" -Dneo4j.lib="$NEO4J_LIB" validate
    ls "$NEO4J_LIB"/neo4j-harness-*.jar >/dev/null
    echo "$lib_stamp" >"$NEO4J_LIB/.stamp"
  fi
  if [[ "$(cat "$NEO4J_CLASSES/.stamp" 2>/dev/null)" != "$cls_stamp" ]]; then
    echo "compiling $src/Main.java ..."
    rm -rf "$NEO4J_CLASSES"
    mkdir -p "$NEO4J_CLASSES"
    javac -nowarn -cp "$NEO4J_LIB/*" -d "$NEO4J_CLASSES" "$src/Main.java"
    echo "$cls_stamp" >"$NEO4J_CLASSES/.stamp"
  fi
}

declare -A INSTALL_PIDS=() # install name -> pid of its background job

# kill_tree PID: SIGTERM to PID and all its descendants (used for abandoned background installs).
kill_tree() {
  local child
  for child in $(pgrep -P "$1" || true); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}

# On a failed run, do not leave background installs (go build, mvn) running.
on_exit() {
  local rc=$? name
  if ((rc != 0)); then
    for name in "${!INSTALL_PIDS[@]}"; do kill_tree "${INSTALL_PIDS[$name]}"; done
  fi
  return "$rc"
}
trap on_exit EXIT

# run_install NAME FUNCTION: runs FUNCTION in the background, logging to .stack/logs/install-NAME.log.
run_install() {
  local name="$1" fn="$2"
  local t0; t0="$(now)"
  rm -f "$LOG_DIR/install-$name.took"
  { "$fn" && since "$t0" >"$LOG_DIR/install-$name.took"; } >"$LOG_DIR/install-$name.log" 2>&1 &
  INSTALL_PIDS[$name]=$!
}
wait_install() {
  local name="$1"
  local rc=0
  wait "${INSTALL_PIDS[$name]}" || rc=$?
  unset "INSTALL_PIDS[$name]"
  if ((rc != 0)); then
    tail -n 40 "$LOG_DIR/install-$name.log" >&2 || true
    die "$name: install step failed (log: $LOG_DIR/install-$name.log)"
  fi
  if [[ -s "$LOG_DIR/install-$name.log" ]]; then
    log "$name: installed in $(cat "$LOG_DIR/install-$name.took") (log: .stack/logs/install-$name.log)"
  else
    log "$name: cached build present"
  fi
}

# ---------------------------------------------------------------------------------------------
# Start steps (each returns quickly; readiness is checked afterwards)
# ---------------------------------------------------------------------------------------------

# already_running STORE: true (and says so) if STORE runs from this repo's .stack.
# Otherwise removes a stale pid file and fails if the port is taken by someone else.
already_running() {
  local store="$1" pid port
  pid="$(store_pid "$store")"
  if [[ -n "$pid" ]]; then
    log "$store: already running (pid $pid)"
    [[ "$store" == postgres ]] && echo "$pid" >"$(pid_file postgres)"
    return 0
  fi
  if [[ -e "$(pid_file "$store")" ]]; then
    log "$store: removing stale pid file"
    rm -f "$(pid_file "$store")"
  fi
  port="$(store_port "$store")"
  if port_open "$port"; then
    die "$store: port $HOST:$port is already in use by another process (not started from $STATE_DIR); stop it or set the port env var"
  fi
  return 1
}

# spawn STORE CMD...: starts CMD detached (own session, no tty, output to the store's log).
spawn() {
  local store="$1"; shift
  local logf="$LOG_DIR/$store.log"
  printf '\n=== %s: starting %s\n' "$(date -Is)" "$store" >>"$logf"
  setsid nohup "$@" >>"$logf" 2>&1 </dev/null &
  echo $! >"$(pid_file "$store")"
}

start_postgres() {
  already_running postgres && return 0
  local t; t="$(now)"
  ensure_postgres_can_reach_state_dir
  if [[ ! -s "$PG_DATA/PG_VERSION" ]]; then
    log "postgres: initdb $PG_DATA"
    rm -rf "$PG_DATA"
    install -d -o "$PG_USER" -g "$PG_USER" -m 0700 "$PG_DATA"
    runuser -u "$PG_USER" -- "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust \
      --encoding=UTF8 --locale=C.UTF-8 >"$LOG_DIR/install-postgres-initdb.log" 2>&1 \
      || { tail -n 30 "$LOG_DIR/install-postgres-initdb.log" >&2; die "postgres: initdb failed"; }
    cat >>"$PG_DATA/postgresql.conf" <<'EOF'

# --- polysaga dev/test settings (tools/stack/up.sh) ---
# NOT durable: fsync/full_page_writes off trade crash safety for speed. Never use for real data.
shared_buffers = 64MB
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  fi
  install -d -o "$PG_USER" -g "$PG_USER" -m 0700 "$PG_SOCKET_DIR"
  touch "$LOG_DIR/postgres.log"
  chown "$PG_USER" "$LOG_DIR/postgres.log"
  rm -f "$(pid_file postgres)"
  # pg_ctl -W: do not wait; pg_ctl forks the postmaster, which writes $PG_DATA/postmaster.pid.
  setsid runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOG_DIR/postgres.log" -W \
    -o "-p $PG_PORT -k $PG_SOCKET_DIR -c listen_addresses=$HOST" start \
    >>"$LOG_DIR/pg_ctl.log" 2>&1 </dev/null \
    || { tail -n 20 "$LOG_DIR/pg_ctl.log" >&2; die "postgres: pg_ctl start failed"; }
  log "postgres: starting on $HOST:$PG_PORT ($(since "$t"))"
}

start_ferretdb() {
  already_running ferretdb && return 0
  mkdir -p "$STATE_DIR/ferretdb"
  spawn ferretdb "$FERRETDB_BIN" --handler=sqlite --sqlite-url="file:$STATE_DIR/ferretdb/" \
    --listen-addr="$HOST:$MONGO_PORT"
  log "ferretdb: starting on $HOST:$MONGO_PORT (pid $(read_pid ferretdb))"
}

start_neo4j() {
  already_running neo4j && return 0
  mkdir -p "$STATE_DIR/neo4j"
  spawn neo4j java -Xmx768m -XX:+ExitOnOutOfMemoryError \
    --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
    -cp "$NEO4J_CLASSES:$NEO4J_LIB/*" Main "$STATE_DIR/neo4j" "$NEO4J_PORT" "$HOST"
  log "neo4j: starting on $HOST:$NEO4J_PORT (pid $(read_pid neo4j))"
}

start_chroma() {
  already_running chroma && return 0
  mkdir -p "$STATE_DIR/chroma"
  spawn chroma "$CHROMA_BIN" run --path "$STATE_DIR/chroma" --host "$HOST" --port "$CHROMA_PORT"
  log "chroma: starting on $HOST:$CHROMA_PORT (pid $(read_pid chroma))"
}

# Waits for PostgreSQL, records its pid and creates the polysaga database if needed.
postgres_ready() {
  local t deadline pid
  t="$(now)"
  deadline=$((SECONDS + 60))
  until "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -t 2; do
    if ((SECONDS >= deadline)); then
      tail -n 40 "$LOG_DIR/postgres.log" >&2 || true
      die "postgres: not ready on $HOST:$PG_PORT after 60s (log: $LOG_DIR/postgres.log)"
    fi
    sleep 0.2
  done
  pid="$(store_pid postgres)"
  [[ -n "$pid" ]] && echo "$pid" >"$(pid_file postgres)"
  local psql=("$PG_BIN/psql" -X -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
  if [[ "$("${psql[@]}" -tAc "select 1 from pg_database where datname = '$PG_DB'")" != 1 ]]; then
    "${psql[@]}" -c "create database $PG_DB"
    log "postgres: created database $PG_DB"
  fi
  log "postgres: ready in $(since "$t")"
}

write_env() {
  cat >"$STATE_DIR/env.tmp" <<EOF
POLYSAGA_PG_URL=$PG_URL
POLYSAGA_MONGO_URL=$MONGO_URL
POLYSAGA_NEO4J_URL=$NEO4J_URL
POLYSAGA_CHROMA_URL=$CHROMA_URL
EOF
  mv "$STATE_DIR/env.tmp" "$STATE_DIR/env"
}

# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

log "repo $REPO_ROOT; state in $STATE_DIR"

# Slow, independent installs run in the background while the quick ones run here.
run_install ferretdb build_ferretdb
run_install neo4j fetch_neo4j
ensure_node_deps
ensure_postgres_installed

# PostgreSQL and Chroma need nothing from the background installs: start them right away.
start_postgres
start_chroma
wait_install ferretdb
start_ferretdb
wait_install neo4j
start_neo4j

postgres_ready

log "health: waiting up to ${HEALTH_WAIT}s for all stores"
T_HEALTH="$(now)"
if ! POLYSAGA_PG_URL="$PG_URL" POLYSAGA_MONGO_URL="$MONGO_URL" POLYSAGA_NEO4J_URL="$NEO4J_URL" \
  POLYSAGA_CHROMA_URL="$CHROMA_URL" node "$STACK_DIR/health.mjs" --wait "$HEALTH_WAIT" --logs "$LOG_DIR" postgres ferretdb neo4j chroma; then
  die "some stores are not healthy (logs in $LOG_DIR); run tools/stack/down.sh to stop the rest"
fi
log "health: all ok in $(since "$T_HEALTH")"

write_env
log "wrote $STATE_DIR/env:"
sed 's/^/[stack]   /' "$STATE_DIR/env"
log "stack up in $(since "$T_ALL")"

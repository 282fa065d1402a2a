# shellcheck shell=bash disable=SC2034
# (SC2034: the variables below are used by the scripts that source this file.)
# Shared settings and helpers for tools/stack/up.sh and tools/stack/down.sh (sourced, not run).

STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$STACK_DIR/../.." && pwd)"

STATE_DIR="$REPO_ROOT/.stack"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/logs"
CACHE_DIR="$STACK_DIR/.cache"

HOST=127.0.0.1
PG_PORT="${POLYSAGA_PG_PORT:-55432}"
MONGO_PORT="${POLYSAGA_MONGO_PORT:-57017}"
NEO4J_PORT="${POLYSAGA_NEO4J_PORT:-57687}"
CHROMA_PORT="${POLYSAGA_CHROMA_PORT:-58000}"

PG_DB=polysaga
PG_URL="postgres://postgres@$HOST:$PG_PORT/$PG_DB"
MONGO_URL="mongodb://$HOST:$MONGO_PORT/"
NEO4J_URL="bolt://$HOST:$NEO4J_PORT"
CHROMA_URL="http://$HOST:$CHROMA_PORT"

PG_VERSION=15
PG_BIN="/usr/lib/postgresql/$PG_VERSION/bin"
PG_USER=postgres
PG_DATA="$STATE_DIR/pg"
PG_SOCKET_DIR="$RUN_DIR/pg-socket"

FERRETDB_BIN="$CACHE_DIR/bin/ferretdb"
NEO4J_LIB="$CACHE_DIR/neo4j/lib"
NEO4J_CLASSES="$CACHE_DIR/neo4j/classes"
CHROMA_BIN="$STACK_DIR/node_modules/.bin/chroma"

STORES=(postgres ferretdb neo4j chroma)

log() { printf '[stack] %s\n' "$*"; }
warn() { printf '[stack] WARNING: %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# now: seconds since the epoch with microseconds (bash 5 EPOCHREALTIME).
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
# since START: elapsed seconds, one decimal.
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }

# read_pid STORE: prints the pid recorded for STORE, or nothing.
read_pid() {
  local f
  f="$(pid_file "$1")"
  [[ -s "$f" ]] && head -n1 "$f" | tr -cd '0-9'
  return 0
}

# pid_alive PID: true if PID is a live (non-zombie) process.
pid_alive() {
  local pid="$1" state
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  state="$(ps -o stat= -p "$pid" 2>/dev/null | tr -d ' ')"
  [[ -n "$state" && "$state" != Z* ]]
}

# store_pid STORE: the live pid of STORE, or nothing. For postgres the data dir's
# postmaster.pid is the authority (the postmaster is forked by pg_ctl).
store_pid() {
  local store="$1" pid
  if [[ "$store" == postgres && -s "$PG_DATA/postmaster.pid" ]]; then
    pid="$(head -n1 "$PG_DATA/postmaster.pid" | tr -cd '0-9')"
  else
    pid="$(read_pid "$store")"
  fi
  if pid_alive "$pid" && pid_matches "$store" "$pid"; then
    printf '%s' "$pid"
  fi
  return 0
}

# pid_matches STORE PID: guards against a recycled pid belonging to something else.
pid_matches() {
  local cmd
  cmd="$(tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null || true)"
  case "$1" in
    postgres) [[ "$cmd" == *postgres* ]] ;;
    ferretdb) [[ "$cmd" == *ferretdb* ]] ;;
    neo4j) [[ "$cmd" == *java* ]] ;;
    chroma) [[ "$cmd" == *chroma* ]] ;;
    *) return 1 ;;
  esac
}

# port_open PORT: true if something accepts TCP connections on HOST:PORT.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

store_port() {
  case "$1" in
    postgres) printf '%s' "$PG_PORT" ;;
    ferretdb) printf '%s' "$MONGO_PORT" ;;
    neo4j) printf '%s' "$NEO4J_PORT" ;;
    chroma) printf '%s' "$CHROMA_PORT" ;;
  esac
}

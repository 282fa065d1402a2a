#!/usr/bin/env bash
# Stops the stores started by tools/stack/up.sh (SIGTERM — SIGINT for PostgreSQL's fast
# shutdown — then a bounded wait, then SIGKILL) and removes their pid files.
# Safe to run when nothing is running.  --clean also deletes <repo>/.stack (all data).
# With store names (postgres ferretdb neo4j chroma) it stops only those; up.sh starts them again.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

CLEAN=false
ONLY=()
for arg in "$@"; do
  case "$arg" in
    --clean) CLEAN=true ;;
    -h | --help) sed -n '2,5p' "$0"; exit 0 ;;
    postgres | ferretdb | neo4j | chroma) ONLY+=("$arg") ;;
    *) die "unknown argument: $arg (usage: down.sh [--clean] [postgres|ferretdb|neo4j|chroma ...])" ;;
  esac
done
if ((${#ONLY[@]} > 0)); then
  $CLEAN && die "--clean deletes every store's data: it cannot be combined with store names"
  STORES=("${ONLY[@]}")
fi

STOP_WAIT="${POLYSAGA_STACK_STOP_WAIT:-30}"

# signal_store STORE SIGNAL PID: signals the whole process group when PID leads one (setsid),
# else just PID (the postmaster is not a group leader; it stops its own children).
signal_store() {
  local sig="$2" pid="$3"
  if [[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]]; then
    kill "-$sig" -- "-$pid" 2>/dev/null || true
  else
    kill "-$sig" "$pid" 2>/dev/null || true
  fi
}

stop_store() {
  local store="$1" sig="$2" pid t deadline
  t="$(now)"
  pid="$(store_pid "$store")"
  if [[ -z "$pid" ]]; then
    rm -f "$(pid_file "$store")"
    log "$store: not running"
    return 0
  fi
  signal_store "$store" "$sig" "$pid"
  deadline=$((SECONDS + STOP_WAIT))
  while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if pid_alive "$pid"; then
    warn "$store: still running after ${STOP_WAIT}s, sending SIGKILL to $pid"
    signal_store "$store" KILL "$pid"
    deadline=$((SECONDS + 10))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  fi
  if pid_alive "$pid"; then
    warn "$store: pid $pid would not die"
    return 1
  fi
  rm -f "$(pid_file "$store")"
  log "$store: stopped (pid $pid, $(since "$t"))"
}

T_ALL="$(now)"
declare -A PIDS=()
for store in "${STORES[@]}"; do
  sig=TERM
  [[ "$store" == postgres ]] && sig=INT # fast shutdown: does not wait for clients to disconnect
  stop_store "$store" "$sig" &
  PIDS[$store]=$!
done
failed=0
for store in "${STORES[@]}"; do
  wait "${PIDS[$store]}" || failed=1
done

# Anything still running with our state dir on its command line is a leftover (when every store was stopped).
if ((${#ONLY[@]} == 0)) && leftovers="$(pgrep -af -- "$STATE_DIR/" || true)" && [[ -n "$leftovers" ]]; then
  warn "processes still using $STATE_DIR:"
  printf '%s\n' "$leftovers" >&2
  failed=1
fi
((failed == 0)) || die "could not stop everything"

((${#ONLY[@]} > 0)) && { log "stopped ${ONLY[*]} in $(since "$T_ALL") (up.sh starts them again)"; exit 0; }
rm -f "$STATE_DIR/env"
if $CLEAN; then
  [[ "$STATE_DIR" == */.stack ]] || die "refusing to delete unexpected state dir $STATE_DIR"
  rm -rf "$STATE_DIR"
  log "deleted $STATE_DIR"
fi
log "stack down in $(since "$T_ALL")"

#!/usr/bin/env bash
# The run command: on a fresh machine it installs everything, starts the four real stores on loopback, creates the
# demo tables and runs the warehouse service on http://127.0.0.1:8080 (config: apps/server/config/local.json,
# journal embedded under .stack/server-journal). Prints a curl line that runs the seed's first example.
# Ctrl-C / SIGTERM stops the server gracefully; the stores keep running (`pnpm stack:down` stops them).
# shellcheck source=stack-ready.sh
source "$(dirname "${BASH_SOURCE[0]}")/stack-ready.sh"
set -a
# shellcheck disable=SC1091
. .stack/env
set +a
url="http://127.0.0.1:8080"
if curl -fsS "$url/health" >/dev/null 2>&1; then
  echo "serve: something already answers on $url; stop it first" >&2
  exit 1
fi
pnpm --silent run server --config apps/server/config/local.json --init-demo &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server"' INT TERM
wait_seconds=90
echo "serve: waiting up to ${wait_seconds}s for $url/ready (the service listens at once, then connects to every" \
  "configured store and opens its journal)"
healthy=false
for _ in $(seq 1 $((wait_seconds * 2))); do
  if curl -fsS "$url/ready" >/dev/null 2>&1; then healthy=true; break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    status=0
    wait "$server" || status=$?
    echo "serve: the service exited with status $status before it was ready on $url/ready (its log is above)" >&2
    exit 1
  fi
  sleep 0.5
done
if [ "$healthy" != true ]; then
  echo "serve: the service was not ready on $url/ready within ${wait_seconds}s; stopping it" >&2
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  exit 1
fi
cat <<MSG

serve: the warehouse service runs on $url (OpenAPI: $url/openapi.json, docs: $url/docs).
serve: the seed's first example (PostgreSQL order, Neo4j event, Chroma vector) — expect "status":"completed":

curl -sS -X POST $url/v1/transactions -H 'content-type: application/json' -d '{"operations":[{"operation":"insert","from":{"type":"database","tag":"orders-postgres","entity":"orders"},"data":{"userId":"user_123","total":99.99,"status":"pending"}},{"operation":"insert","from":{"type":"graph","tag":"activity-neo4j","entity":"OrderEvent"},"data":{"type":"ORDER_PLACED","userId":"user_123","timestamp":"2025-01-15T10:00:00.000Z"}},{"operation":"upsert","from":{"type":"vector","tag":"user-behavior","entity":"behaviors"},"data":{"id":"user_123_purchase","vector":[0.12,0.56,0.33,0.91],"metadata":{"action":"purchase","amount":99.99}}}]}'

MSG
wait "$server"

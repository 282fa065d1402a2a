#!/usr/bin/env bash
# The consumer test: build, `pnpm pack` every published package, install the tarballs with npm into a fresh project
# outside the workspace (effect on the 3.x line, from the registry), type-check it (strict, NodeNext, library types
# included), check that one copy of `effect` was installed, and run tools/consumer/src: a saga with
# `@polysaga/saga` alone, and the seed's insert with `@polysaga/warehouse` + `@polysaga/postgres` against the stack
# (`POLYSAGA_PG_URL` from .stack/env); then the service from its build (no tsx): `node apps/server/dist/main.js` and
# the `polysaga-server` bin, each answering `/health` and the seed's first example, then stopping on SIGTERM with exit 0
# (each run bounded: 60 s to listen, 30 s per request). `NODE_BINS="node /path/to/node24"` runs the consumer on each of these Node
# binaries (default: `node`). `KEEP=1` keeps the temporary project, `SKIP_BUILD=1` uses the current dist/.
# In two stages (`scripts/test.sh` prepares while the tests run): `CONSUMER_STAGE=prepare CONSUMER_WORK=<dir>` builds
# (one package at a time), packs, installs and type-checks into <dir>, which needs no store; then
# `CONSUMER_STAGE=run CONSUMER_WORK=<dir>` runs the rest on that project and deletes <dir> (unless `KEEP=1`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
read -r -a node_bins <<<"${NODE_BINS:-node}"
stage="${CONSUMER_STAGE:-all}"
case "$stage" in
  all | prepare | run) ;;
  *) echo "consumer: CONSUMER_STAGE must be all, prepare or run, not \"$stage\"" >&2 && exit 2 ;;
esac
if [ "$stage" != all ] && [ -z "${CONSUMER_WORK:-}" ]; then
  echo "consumer: CONSUMER_STAGE=$stage needs CONSUMER_WORK (the directory of the prepared project)" >&2
  exit 2
fi
work="${CONSUMER_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/polysaga-consumer.XXXXXX")}"
[ "${KEEP:-}" = 1 ] || [ "$stage" = prepare ] || trap 'rm -rf "$work"' EXIT
# build, pack, install into a fresh project and type-check it: no store needed
prepare() {
  echo "consumer: pnpm build"
  build_args=(--output-logs=errors-only)
  [ "$stage" = prepare ] && build_args+=(--concurrency=1)
  [ "${SKIP_BUILD:-}" = 1 ] || pnpm --silent build "${build_args[@]}"
  echo "consumer: pnpm pack into $work/tarballs"
  mkdir -p "$work/tarballs" "$work/app"
  for dir in packages/*; do
    if [ "$(node -p "require('./$dir/package.json').private === true")" = "false" ]; then
      (cd "$dir" && pnpm pack --pack-destination "$work/tarballs" >/dev/null)
    fi
  done
  ls "$work/tarballs"
  cp -r tools/consumer/src tools/consumer/tsconfig.json "$work/app/"
  cd "$work/app"
  # the effect line the packages declare as their peer, read from the packed manifests
  effect_range="$(node -p "require('$root/packages/saga/package.json').peerDependencies.effect")"
  sql_range="$(node -p "require('$root/packages/postgres/package.json').peerDependencies['@effect/sql']")"
  sql_pg_range="$(node -p "require('$root/packages/postgres/package.json').peerDependencies['@effect/sql-pg']")"
  cat >package.json <<JSON
{ "name": "polysaga-consumer", "private": true, "type": "module" }
JSON
  echo "consumer: npm install the tarballs, effect@$effect_range, @effect/sql@$sql_range, @effect/sql-pg@$sql_pg_range"
  npm install --no-audit --no-fund --prefer-offline --loglevel=error "$work"/tarballs/*.tgz \
    "effect@$effect_range" "@effect/sql@$sql_range" "@effect/sql-pg@$sql_pg_range" \
    "typescript@$(node -p "require('$root/package.json').devDependencies.typescript")" "@types/node@^20.19.0" "@types/pg@^8"
  copies="$(find node_modules -path '*node_modules/effect/package.json' | wc -l)"
  echo "consumer: $copies copy of effect ($(node -p "require('effect/package.json').version")), node_modules $(du -sh node_modules | cut -f1)"
  if [ "$copies" != 1 ]; then
    find node_modules -path '*node_modules/effect/package.json' >&2
    echo "consumer: expected exactly one copy of effect" >&2
    exit 1
  fi
  # @types/pg: @effect/sql-pg's declarations import `pg`, which has no types of its own (skipLibCheck false needs it)
  echo "consumer: tsc (strict, NodeNext, skipLibCheck false)"
  npx --no-install tsc -p tsconfig.json
}
if [ "$stage" = run ]; then
  [ -f "$work/app/dist/seed-postgres.js" ] || { echo "consumer: $work holds no prepared project" >&2 && exit 1; }
else
  prepare
fi
if [ "$stage" = prepare ]; then
  echo "consumer: prepared in $work"
  exit 0
fi
cd "$work/app"
set -a
# shellcheck disable=SC1091
. "$root/.stack/env"
set +a
for node_bin in "${node_bins[@]}"; do
  echo "consumer: run on Node $("$node_bin" --version)"
  "$node_bin" dist/saga-alone.js
  "$node_bin" dist/seed-postgres.js
done
# The service from its build: a configuration with the seed's first example's three sources on a free port and an
# embedded journal in the temporary directory.
cd "$root"
node -e '
const config = require("./apps/server/config/local.json")
const keep = new Set(["orders-postgres", "activity-neo4j", "user-behavior"])
config.port = 0
config.journal = { embedded: process.argv[1] + "/journal" }
config.sources = config.sources.filter((source) => keep.has(source.tag))
require("fs").writeFileSync(process.argv[1] + "/server.json", JSON.stringify(config))
config.journal.engine = "pglite"
require("fs").writeFileSync(process.argv[1] + "/server-pglite.json", JSON.stringify(config))
' "$work"
# The bin as a package manager links it: `bin.polysaga-server` of the server's manifest, executable, on PATH.
bin_target="$root/apps/server/$(node -p "require('./apps/server/package.json').bin['polysaga-server']")"
chmod +x "$bin_target"
mkdir -p "$work/bin"
ln -sf "$bin_target" "$work/bin/polysaga-server"
seed_body='{"operations":[{"operation":"insert","from":{"type":"database","tag":"orders-postgres","entity":"orders"},"data":{"userId":"user_123","total":99.99,"status":"pending"}},{"operation":"insert","from":{"type":"graph","tag":"activity-neo4j","entity":"OrderEvent"},"data":{"type":"ORDER_PLACED","userId":"user_123","timestamp":"2025-01-15T10:00:00.000Z"}},{"operation":"upsert","from":{"type":"vector","tag":"user-behavior","entity":"behaviors"},"data":{"id":"user_123_purchase","vector":[0.12,0.56,0.33,0.91],"metadata":{"action":"purchase","amount":99.99}}}]}'
# built_service <label> <config> <command…>: starts the service, waits for its address, checks /health and the seed's
# first example, stops it with SIGTERM and requires exit 0.
built_service() {
  local label="$1" config="$2"
  shift 2
  rm -rf "$work/journal"
  # the collection `behaviors` is made by its first write; a test may have left one with another dimension
  curl -sS -o /dev/null -X DELETE \
    "$POLYSAGA_CHROMA_URL/api/v2/tenants/default_tenant/databases/default_database/collections/behaviors" || true
  echo "consumer: $label"
  "$@" --config "$config" --init-demo >"$work/server.log" 2>&1 &
  local server=$!
  local address=""
  for _ in $(seq 1 120); do
    address="$(grep -o 'Listening on http://[0-9.:]*' "$work/server.log" | head -1 | sed 's/Listening on //')" || true
    if [ -n "$address" ] || ! kill -0 "$server" 2>/dev/null; then break; fi
    sleep 0.5
  done
  if [ -z "$address" ]; then
    cat "$work/server.log" >&2
    kill -KILL "$server" 2>/dev/null || true
    echo "consumer: $label did not listen within 60 s" >&2
    exit 1
  fi
  local health answer status=0
  health="$(curl -sS --max-time 30 "$address/health")" || true
  # live at once; ready once the journal and the sources are open
  for _ in $(seq 1 120); do
    if curl -fsS --max-time 5 "$address/ready" >/dev/null 2>&1 || ! kill -0 "$server" 2>/dev/null; then break; fi
    sleep 0.5
  done
  answer="$(curl -sS --max-time 30 -X POST "$address/v1/transactions" -H 'content-type: application/json' \
    -d "$seed_body")" || true
  kill -TERM "$server"
  wait "$server" || status=$?
  if ! grep -q '"status":"ok"' <<<"$health" || ! grep -q '"status":"completed"' <<<"$answer" || [ "$status" != 0 ]; then
    cat "$work/server.log" >&2
    echo "consumer: $label: /health answered $health, the seed example $answer, SIGTERM exit $status" >&2
    exit 1
  fi
  echo "consumer: $label: /health ok, the seed's first example completed, SIGTERM exit 0"
}
# The embedded SQLite journal (better-sqlite3, a native module) is built for the Node that ran `pnpm install` (the first
# of NODE_BINS); the other Node binaries run the service with the embedded PGlite journal (WebAssembly).
config="$work/server.json"
for node_bin in "${node_bins[@]}"; do
  built_service "node apps/server/dist/main.js on Node $("$node_bin" --version) ($(node -p "require('$config').journal.engine ?? 'sqlite'") journal)" \
    "$config" "$node_bin" apps/server/dist/main.js
  config="$work/server-pglite.json"
done
PATH="$work/bin:$(dirname "$(command -v "${node_bins[0]}")"):$PATH" \
  built_service "polysaga-server (the bin) on Node $("${node_bins[0]}" --version)" "$work/server.json" polysaga-server
echo "consumer: ok"

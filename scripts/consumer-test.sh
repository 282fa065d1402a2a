#!/usr/bin/env bash
# The consumer test: build, `pnpm pack` every published package, install the tarballs with npm into a fresh project
# outside the workspace (effect on the 3.x line, from the registry), type-check it (strict, NodeNext, library types
# included), check that one copy of `effect` was installed, and run tools/consumer/src: a saga with
# `@polysaga/saga` alone, and the seed's insert with `@polysaga/warehouse` + `@polysaga/postgres` against the stack
# (`POLYSAGA_PG_URL` from .stack/env). `NODE_BINS="node /path/to/node24"` runs the consumer on each of these Node
# binaries (default: `node`). `KEEP=1` keeps the temporary project, `SKIP_BUILD=1` uses the current dist/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
read -r -a node_bins <<<"${NODE_BINS:-node}"
work="$(mktemp -d "${TMPDIR:-/tmp}/polysaga-consumer.XXXXXX")"
[ "${KEEP:-}" = 1 ] || trap 'rm -rf "$work"' EXIT
echo "consumer: pnpm build"
[ "${SKIP_BUILD:-}" = 1 ] || pnpm --silent build --output-logs=errors-only
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
set -a
# shellcheck disable=SC1091
. "$root/.stack/env"
set +a
for node_bin in "${node_bins[@]}"; do
  echo "consumer: run on Node $("$node_bin" --version)"
  "$node_bin" dist/saga-alone.js
  "$node_bin" dist/seed-postgres.js
done
echo "consumer: ok"

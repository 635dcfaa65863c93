#!/usr/bin/env bash
# From a clean clone of the committed tree, the production install (no dev dependencies)
# starts the access server through bin/im on the pinned Node.js and serves a client.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
git clone -q "$src" "$tmp/p"
cd "$tmp/p"
npm ci --omit=dev --no-audit --no-fund >/dev/null 2>&1
test ! -e node_modules/typescript || { echo "production install: dev dependencies were installed"; exit 1; }
grep -q 'gobelieve-router: write guard' node_modules/postgres/src/connection.js || { echo "production install: patches/postgres+3.4.9.patch was not applied"; exit 1; }
export IM_JWT_SECRET=production-install-check-secret-0123456789 IM_PORT=0 IM_WS_PORT=0 IM_HTTP_PORT=0 IM_SHARDS=1 IM_LOG_FORMAT=json
bin/im > im.log 2>&1 &
pid=$!
for _ in $(seq 1 150); do grep -q '"msg":"ready"' im.log && break; sleep 0.1; done
port=$(grep '"msg":"ready"' im.log | sed -E 's/.*"tcp":([0-9]+).*/\1/')
[ -n "$port" ] || { echo "production install: bin/im did not start"; cat im.log; exit 1; }
token=$(node_modules/.bin/node src/server/token.ts 7 1)
node_modules/.bin/node -e "
  const { ImClient } = await import('./src/client/index.ts');
  const c = await ImClient.connect({ port: $port });
  const status = await c.auth({ token: '$token' });
  const ack = await c.sendIM({ receiver: 2, content: 'hello' });
  c.destroy();
  if (status !== 0 || ack.status !== 0) { console.error('auth', status, 'ack', ack.status); process.exit(1); }
" --input-type=module
kill "$pid"; wait "$pid" || true; pid=
echo "production install: ok (npm ci --omit=dev, bin/im on $(node_modules/.bin/node --version))"

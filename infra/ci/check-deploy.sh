#!/usr/bin/env bash
# The image build of infra/docker/Dockerfile, performed without Docker (no engine runs on our
# machines), then proof that every deployed tree runs on its own.
#
# For each image: api, importer, refresher, bridge (target app), db (target migrate), findmy (target simulator)
#   turbo prune @tracker/<pkg> --docker        into a temp dir
#   pnpm fetch                                 into a temp store, from the pruned lockfile alone
#   pnpm install --offline --frozen-lockfile   from that store
#   turbo run build --filter=@tracker/<pkg>...
#   pnpm deploy --prod                         into a temp dir; the pruned workspace is then deleted,
#                                              so the tree can lean on nothing but itself
# with the commands below, which must also appear verbatim in the Dockerfile (checked). Then, with
# the images' Node (the workspace's `node` devDependency) and an empty environment:
#   every deployed entry point answers --help with exit 0 and its usage;
#   the migrate CLI migrates a fresh embedded TimescaleDB and makes the apps' roles (DB_ROLES=on);
#   the simulator serves; the importer imports its trackers' keys and a week of their reports
#   (--once: decryption workers, geocoder data); api, importer, refresher and bridge start against
#   the embedded database, answer GET /health 200 through the images' healthcheck.mjs, and exit 0 on
#   SIGTERM; the bridge against the machine's Mosquitto (CHECK_MQTT_URL, default 127.0.0.1:1883),
#   where the imported tracker's Home Assistant config and OwnTracks location must appear retained
#   and its availability turn `offline` on SIGTERM (its topics are removed afterwards).
# Last, the static checks of infra/ci/check-static.mjs (compose, Dockerfile, .env.example,
# systemd) and `systemd-analyze verify` where systemd-analyze exists.
#
# Usage: bash infra/ci/check-deploy.sh [--only api,importer,...] [--help-only] [--keep]
#   --only       a subset of: api importer refresher bridge db findmy
#   --help-only  skip the runs against the embedded database
#   --keep       keep the temp dir (its path is printed)
# Needs: the workspace installed (pnpm install), npm and the npm registry. VERBOSE=1 lists every
# static check. Exits 1 if anything failed, after checking everything it could.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DOCKERFILE="$REPO/infra/docker/Dockerfile"
ALL_TARGETS=(db findmy api importer refresher bridge)
MQTT_URL="${CHECK_MQTT_URL:-mqtt://127.0.0.1:1883}"
YAML_VERSION=2.8.1

# The image steps. ${APP} is the workspace package's short name, as in the Dockerfile: the strings
# are compared with the Dockerfile as they are, and expanded only when run (eval).
# shellcheck disable=SC2016
{
  CMD_PRUNE='turbo prune "@tracker/${APP}" --docker --out-dir'
  CMD_FETCH='pnpm fetch --ignore-scripts --store-dir'
  CMD_INSTALL='pnpm install --offline --frozen-lockfile --ignore-scripts --store-dir'
  CMD_BUILD='pnpm exec turbo run build --filter="@tracker/${APP}..." --output-logs=errors-only'
  CMD_DEPLOY='pnpm --config.inject-workspace-packages=true --filter="@tracker/${APP}" deploy --prod --offline --frozen-lockfile --ignore-scripts --store-dir'
  # The web app (its own slice), whose dist/ the app images carry as /app/web (WEB_ROOT).
  CMD_WEB_PRUNE='turbo prune @tracker/web --docker --out-dir'
  CMD_WEB_BUILD='pnpm exec turbo run build --filter=@tracker/web --output-logs=errors-only'
}

targets=("${ALL_TARGETS[@]}")
run_apps=1
keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only)
      IFS=',' read -r -a targets <<<"${2:?--only needs a list}"
      shift 2
      ;;
    --help-only) run_apps=0 && shift ;;
    --keep) keep=1 && shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' && exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2 && exit 2 ;;
  esac
done
for t in "${targets[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "unknown target: $t" >&2 && exit 2; }
done

NODE24="$REPO/node_modules/node/bin/node"
if [[ ! -x "$NODE24" ]]; then
  echo "no Node 24 at $NODE24: install the workspace first (npx --yes pnpm@10.34.9 install)" >&2
  exit 1
fi

started=$SECONDS
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tracker-deploy-check.XXXXXX")"
BIN="$WORK/bin"
TOOLS="$WORK/tools"
STORE="$WORK/store"
LOGS="$WORK/logs"
mkdir -p "$BIN" "$TOOLS" "$LOGS" "$WORK/home"
# Background processes, in a file: they are started in subshells.
PIDS="$WORK/pids"
: >"$PIDS"

cleanup() {
  local pid
  while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$PIDS"
  if [[ $keep -eq 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 TURBO_NO_UPDATE_NOTIFIER=1 NPM_CONFIG_UPDATE_NOTIFIER=false
# The images' Node first on PATH, for pnpm, turbo and tsc alike (the machine's own node may be older).
ln -s "$(readlink -f "$NODE24")" "$BIN/node"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$REPO/node_modules/.bin/turbo" >"$BIN/turbo"
chmod +x "$BIN/turbo"
export PATH="$BIN:$TOOLS/node_modules/.bin:$PATH"

# One line per result in $RESULTS: the checks run in subshells, whose variables die with them.
RESULTS="$WORK/results"
: >"$RESULTS"
declare -A result
ok() {
  echo ok >>"$RESULTS"
  printf '  ok   %-60s %4ss\n' "$1" "${2:-0}"
}
fail() {
  echo fail >>"$RESULTS"
  printf '  FAIL %s\n' "$1"
  [[ -n "${2:-}" && -f "$2" ]] && tail -n 40 "$2" | sed 's/^/       | /'
  return 1
}
failures() { grep -c '^fail$' "$RESULTS" || true; }

# guarded NAME CMD...: runs CMD in a subshell that stops at its first error, sets $guard_status,
# and records a failure if CMD stopped on an error that reported none. Call it as a plain statement,
# never in an `if` or with && / ||: bash ignores `set -e` in everything such a condition runs,
# subshells included.
guarded() {
  local name=$1 before
  shift
  before=$(failures)
  set +e
  (
    set -e
    "$@"
  )
  guard_status=$?
  set -e
  if [[ $guard_status -ne 0 && $(failures) -eq $before ]]; then
    fail "$name stopped on an unexpected error (exit $guard_status)" || true
  fi
}

# step NAME LOG CMD...: runs CMD with its output in LOG; one line of result.
step() {
  local name=$1 log=$2 t0=$SECONDS
  shift 2
  if "$@" >"$log" 2>&1; then ok "$name" $((SECONDS - t0)); else fail "$name (exit $?)" "$log"; fi
}

# ---- tools ------------------------------------------------------------------------------------------

PNPM_VERSION="$("$NODE24" -p "require('$REPO/package.json').packageManager.split('@')[1]")"
echo "deploy check in $WORK (Node $("$NODE24" --version), pnpm $PNPM_VERSION, $(nproc 2>/dev/null || echo '?') cores)"
echo "tools"
step "npm install pnpm@$PNPM_VERSION yaml@$YAML_VERSION (temp prefix)" "$LOGS/tools.log" \
  npm install --prefix "$TOOLS" --no-save --no-audit --no-fund --loglevel=error \
  "pnpm@$PNPM_VERSION" "yaml@$YAML_VERSION"

# ---- the Dockerfile runs these very commands ------------------------------------------------------

echo "Dockerfile steps = this script's steps"
for cmd in "$CMD_PRUNE" "$CMD_FETCH" "$CMD_INSTALL" "$CMD_BUILD" "$CMD_DEPLOY" "$CMD_WEB_PRUNE" "$CMD_WEB_BUILD"; do
  if grep -qF -- "$cmd" "$DOCKERFILE"; then ok "Dockerfile runs: ${cmd:0:52}..."; else fail "the Dockerfile no longer runs: $cmd" || true; fi
done

# ---- build and deploy each image ------------------------------------------------------------------

# Prune, fetch, install, build, deploy; leaves $WORK/<pkg>/out. Stops at the first failed step.
deploy_target() {
  local APP=$1
  local W="$WORK/$APP"
  mkdir -p "$W/ws"
  (cd "$REPO" && step "prune" "$LOGS/$APP-prune.log" eval "$CMD_PRUNE \"\$W/pruned\"")
  # pnpm fetch sees the lockfile (and the workspace settings) only, as in the Dockerfile.
  cp "$W/pruned/pnpm-lock.yaml" "$W/pruned/pnpm-workspace.yaml" "$W/pruned/json/.npmrc" "$W/ws/"
  cd "$W/ws"
  step "fetch (store: $(basename "$STORE"))" "$LOGS/$APP-fetch.log" eval "$CMD_FETCH \"\$STORE\""
  cp -R "$W/pruned/json/." "$W/ws/"
  step "install --offline --frozen-lockfile" "$LOGS/$APP-install.log" eval "$CMD_INSTALL \"\$STORE\""
  cp -R "$W/pruned/full/." "$W/ws/"
  cp "$REPO/tsconfig.base.json" "$W/ws/"
  step "build @tracker/$APP..." "$LOGS/$APP-build.log" eval "$CMD_BUILD"
  step "deploy --prod" "$LOGS/$APP-deploy.log" eval "$CMD_DEPLOY \"\$STORE\" \"\$W/out\""
  cd "$WORK"
  rm -rf "$W/ws" "$W/pruned"
  # The image copies /out elsewhere: every link must stay inside the tree and resolve.
  local bad
  bad="$(cd "$W/out" && find . -type l | while read -r link; do
    target="$(readlink "$link")"
    resolved="$(readlink -f "$link" || true)"
    if [[ "$target" == /* || -z "$resolved" || ! -e "$resolved" || "$resolved" != "$W/out"/* ]]; then echo "$link -> $target"; fi
  done)"
  if [[ -z "$bad" ]]; then ok "deployed tree is self-contained ($(du -sh "$W/out" | cut -f1))"; else
    echo "$bad" >"$LOGS/$APP-links.log"
    fail "links leave the deployed tree" "$LOGS/$APP-links.log"
  fi
}

# Runs `node ARGS` in the deployed tree of $1 with an empty environment plus $ENV_EXTRA; exec, so
# that a backgrounded run_in is node itself and receives the signals sent to it.
run_in() {
  local pkg=$1
  shift
  cd "$WORK/$pkg/out"
  exec env -i PATH="$BIN:/usr/bin:/bin" HOME="$WORK/home" TZ=UTC NODE_ENV=production NODE_OPTIONS=--enable-source-maps \
    ${ENV_EXTRA[@]+"${ENV_EXTRA[@]}"} node "$@"
}

entry_of() {
  case "$1" in
    db) echo dist/cli/migrate.js ;;
    findmy) echo dist/simulator/cli.js ;;
    *) echo dist/main.js ;;
  esac
}

check_help() {
  local pkg=$1 entry log="$LOGS/$1-help.log"
  entry="$(entry_of "$pkg")"
  local t0=$SECONDS
  ENV_EXTRA=()
  if (run_in "$pkg" "$entry" --help) >"$log" 2>&1 && grep -qi 'usage' "$log"; then
    ok "node $entry --help: exit 0, usage ($(wc -l <"$log") lines)" $((SECONDS - t0))
  else
    fail "node $entry --help did not exit 0 with a usage text" "$log"
  fi
}

# The web-builder stage: prune @tracker/web, fetch, install, build; its dist/ goes where the image
# puts it (/app/web, i.e. web/ in the api's deployed tree).
build_web() {
  local W="$WORK/web"
  mkdir -p "$W/ws"
  (cd "$REPO" && step "prune" "$LOGS/web-prune.log" eval "$CMD_WEB_PRUNE \"\$W/pruned\"")
  cp "$W/pruned/pnpm-lock.yaml" "$W/pruned/pnpm-workspace.yaml" "$W/pruned/json/.npmrc" "$W/ws/"
  cd "$W/ws"
  step "fetch (store: $(basename "$STORE"))" "$LOGS/web-fetch.log" eval "$CMD_FETCH \"\$STORE\""
  cp -R "$W/pruned/json/." "$W/ws/"
  step "install --offline --frozen-lockfile" "$LOGS/web-install.log" eval "$CMD_INSTALL \"\$STORE\""
  cp -R "$W/pruned/full/." "$W/ws/"
  cp "$REPO/tsconfig.base.json" "$W/ws/"
  step "build @tracker/web" "$LOGS/web-build.log" eval "$CMD_WEB_BUILD"
  test -f "$W/ws/apps/web/dist/index.html" || fail "the web build wrote no dist/index.html" "$LOGS/web-build.log"
  cp -R "$W/ws/apps/web/dist" "$W/dist"
  cd "$WORK"
  rm -rf "$W/ws" "$W/pruned"
}

build_and_help() {
  deploy_target "$1"
  if [[ "$1" == api ]]; then
    cp -R "$WORK/web/dist" "$WORK/api/out/web"
    ok "api: the web app's dist/ in the tree as web/ (the image's /app/web)"
  fi
  [[ "$1" == db ]] || check_help "$1"
}
if [[ " ${targets[*]} " == *" api "* ]]; then
  echo "@tracker/web (for the api image)"
  guarded "@tracker/web" build_web
  [[ $guard_status -eq 0 ]] || result[api]=failed
fi
for APP in "${targets[@]}"; do
  echo "@tracker/$APP"
  if [[ "${result[$APP]:-}" == failed ]]; then
    fail "@tracker/$APP: not deployed (its web app did not build)" || true
    continue
  fi
  guarded "@tracker/$APP" build_and_help "$APP"
  if [[ $guard_status -eq 0 ]]; then result[$APP]=deployed; else result[$APP]=failed; fi
done

# ---- run the deployed trees against the embedded database -------------------------------------------

free_port() {
  node -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# start NAME PKG ARGS...: background process, pid in $started_pid.
start() {
  local name=$1 pkg=$2
  shift 2
  (run_in "$pkg" "$@") >"$LOGS/$name.log" 2>&1 &
  started_pid=$!
  echo "$started_pid" >>"$PIDS"
}

# wait_healthy NAME PID VAR=VALUE...: runs the images' health check (infra/docker/healthcheck.mjs)
# with the environment its image gives it (TRACKER_APP and the app's port variable, or
# HEALTHCHECK_URL) until it passes, for up to 90 s.
wait_healthy() {
  local name=$1 pid=$2 t0=$SECONDS
  shift 2
  while ((SECONDS - t0 < 90)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      fail "$name exited before it was healthy" "$LOGS/$name.log"
      return 1
    fi
    if env -i PATH="$BIN:/usr/bin:/bin" "$@" node "$REPO/infra/docker/healthcheck.mjs" 2>"$LOGS/$name-health.log"; then
      ok "$name: healthy (healthcheck.mjs with $*)" $((SECONDS - t0))
      return 0
    fi
    sleep 0.5
  done
  fail "$name: not healthy within 90 s" "$LOGS/$name-health.log"
  tail -n 40 "$LOGS/$name.log" | sed 's/^/       | /'
}

# stop_clean NAME PID: SIGTERM, then exit code 0 within 30 s.
stop_clean() {
  local name=$1 pid=$2 t0=$SECONDS code
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true # already reported by wait_healthy
    return 1
  fi
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null && ((SECONDS - t0 < 30)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    fail "$name ignored SIGTERM for 30 s" "$LOGS/$name.log"
    return 1
  fi
  code=0
  wait "$pid" || code=$?
  if [[ $code -eq 0 ]]; then ok "$name: SIGTERM -> exit 0" $((SECONDS - t0)); else fail "$name: SIGTERM -> exit $code" "$LOGS/$name.log"; fi
}

run_checks() {
  local data="$WORK/data" private_key public_key port t0
  # A key pair as `keys generate` makes it (base64 of the raw X25519 keys): tracker keys are sealed to
  # the public key, which every app may see; the private key is the importer's alone.
  read -r private_key public_key < <(node -e '
    const { generateKeyPairSync } = require("node:crypto")
    const { privateKey, publicKey } = generateKeyPairSync("x25519")
    const raw = (key, type) => key.export({ type, format: "der" }).subarray(-32).toString("base64")
    console.log(raw(privateKey, "pkcs8"), raw(publicKey, "spki"))')
  local base=(DATA_DIR="$data" KEY_SEALING_PUBLIC_KEY="$public_key" LOG_LEVEL=info)
  local importer_key=(KEY_SEALING_PRIVATE_KEY="$private_key")

  echo "run: migrate (embedded TimescaleDB in a fresh data dir)"
  t0=$SECONDS
  # DB_ROLES=on as compose and tracker-migrate.service run it (the embedded engine's roles take no
  # passwords: it has no logins).
  ENV_EXTRA=("${base[@]}" DB_ROLES=on)
  if (run_in db dist/cli/migrate.js) >"$LOGS/migrate.log" 2>&1 && grep -q 'migrated up' "$LOGS/migrate.log" &&
    grep -q 'app roles granted' "$LOGS/migrate.log"; then
    ok "node dist/cli/migrate.js: $(grep -c 'migrated up' "$LOGS/migrate.log") migrations, policies set, app roles" $((SECONDS - t0))
  else
    fail "the deployed migrate CLI failed" "$LOGS/migrate.log"
    return 1
  fi

  if [[ "${result[findmy]:-}" == deployed && "${result[importer]:-}" == deployed ]]; then
    echo "run: simulator + importer (a week of reports of one tracker)"
    port="$(free_port)"
    ENV_EXTRA=()
    start simulator findmy dist/simulator/cli.js --port "$port" --generate 1 --seed 7 --save-keys "$WORK/keys.json"
    local sim=$started_pid
    if wait_healthy simulator "$sim" HEALTHCHECK_URL="http://127.0.0.1:$port/"; then
      ENV_EXTRA=("${base[@]}" "${importer_key[@]}")
      t0=$SECONDS
      if (run_in importer dist/main.js trackers import "$WORK/keys.json") >"$LOGS/importer-keys.log" 2>&1; then
        ok "importer: trackers import (the simulator's keys)" $((SECONDS - t0))
      else fail "importer: trackers import failed" "$LOGS/importer-keys.log" || true; fi
      ENV_EXTRA=("${base[@]}" "${importer_key[@]}" REPORT_ENDPOINT_URL="http://127.0.0.1:$port" REPORT_ENDPOINT_PAUSE="100 ms")
      t0=$SECONDS
      local inserted=0
      if (run_in importer dist/main.js --once) >"$LOGS/importer-once.log" 2>&1; then
        inserted="$(grep -o '"inserted":[0-9]*' "$LOGS/importer-once.log" | tail -n 1 | cut -d: -f2)"
      fi
      if [[ "${inserted:-0}" -gt 0 ]]; then
        ok "importer --once: exit 0, $inserted reports stored" $((SECONDS - t0))
      else fail "importer --once did not exit 0 with reports stored" "$LOGS/importer-once.log" || true; fi
    fi
    stop_clean simulator "$sim" || true
  fi

  if [[ "${result[api]:-}" == deployed ]]; then
    # The API never holds the private key: given it, it refuses to start, naming the variable.
    ENV_EXTRA=("${base[@]}" "${importer_key[@]}")
    t0=$SECONDS
    if ! (run_in api dist/main.js) >"$LOGS/api-private-key.log" 2>&1 &&
      grep -q 'KEY_SEALING_PRIVATE_KEY must not be set for the API' "$LOGS/api-private-key.log"; then
      ok "api: refuses to start with KEY_SEALING_PRIVATE_KEY" $((SECONDS - t0))
    else fail "api: started (or failed otherwise) with KEY_SEALING_PRIVATE_KEY set" "$LOGS/api-private-key.log" || true; fi
  fi

  local pkg
  for pkg in api importer refresher bridge; do
    [[ "${result[$pkg]:-}" == deployed ]] || continue
    echo "run: $pkg (serve)"
    port="$(free_port)"
    local port_var
    case $pkg in
      api)
        port_var=API_PORT
        ENV_EXTRA=("${base[@]}" API_HOST=127.0.0.1 API_PORT="$port" API_GRAPHIQL=true WEB_ROOT="$WORK/api/out/web")
        ;;
      importer)
        port_var=IMPORTER_HTTP_PORT
        ENV_EXTRA=("${base[@]}" "${importer_key[@]}" IMPORTER_HTTP_PORT="$port" IMPORT_ON_START=false REPORT_ENDPOINT_URL=http://127.0.0.1:9)
        ;;
      refresher)
        port_var=REFRESHER_HTTP_PORT
        ENV_EXTRA=("${base[@]}" REFRESHER_HTTP_PORT="$port" REFRESHER_HTTP_HOST=127.0.0.1)
        ;;
      bridge)
        port_var=BRIDGE_HTTP_PORT
        # Topics of its own, so that nothing of this run mixes with anything else on the broker.
        MQTT_TOPIC="deploy-check-$$-$RANDOM"
        ENV_EXTRA=("${base[@]}" BRIDGE_HTTP_PORT="$port" BRIDGE_HTTP_HOST=127.0.0.1 BRIDGE_MQTT_URL="$MQTT_URL"
          BRIDGE_CLIENT_ID="$MQTT_TOPIC" BRIDGE_TOPIC_PREFIX="$MQTT_TOPIC/bridge"
          BRIDGE_HOMEASSISTANT_PREFIX="$MQTT_TOPIC/ha" BRIDGE_OWNTRACKS_PREFIX="$MQTT_TOPIC/ot")
        ;;
    esac
    start "$pkg" "$pkg" dist/main.js
    local pid=$started_pid
    if wait_healthy "$pkg" "$pid" TRACKER_APP="$pkg" "$port_var=$port"; then
      if [[ $pkg == api ]]; then
        # The GraphQL route is up and guarded (schema loaded, auth hook in place).
        local status
        status="$(node -e 'fetch(process.argv[1],{method:"POST",headers:{"content-type":"application/json"},body:"{\"query\":\"{__typename}\"}"}).then(r=>console.log(r.status),()=>console.log(0))' "http://127.0.0.1:$port/graphql")"
        if [[ $status == 401 ]]; then ok "api: POST /graphql without a token -> 401"; else fail "api: POST /graphql without a token -> $status (want 401)" "$LOGS/api.log" || true; fi
        # GraphiQL comes from the deployed packages (react, react-dom, graphiql), never a CDN: the
        # page names no other host, and every file it loads answers 200.
        local graphiql
        graphiql="$(node -e '
          const page = new URL("/graphiql", process.argv[1])
          fetch(page).then(async (response) => {
            const html = await response.text()
            const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])
            const statuses = await Promise.all(refs.map((ref) => fetch(new URL(ref, page)).then((r) => r.status)))
            const failed = refs.filter((_, i) => statuses[i] !== 200)
            const ok = response.status === 200 && refs.length >= 5 && failed.length === 0 && !/https?:\/\//.test(html)
            console.log(ok ? "ok" : `page ${response.status}, ${refs.length} files, failed: ${failed.join(" ")}`)
          }, (error) => console.log(String(error)))' "http://127.0.0.1:$port")"
        if [[ $graphiql == ok ]]; then ok "api: /graphiql and every file it loads (deployed packages, no CDN)"; else fail "api: /graphiql: $graphiql" "$LOGS/api.log" || true; fi
        # The web app at / (WEB_ROOT, as the image sets it): the page, its Content-Security-Policy,
        # and every file it names, from this origin only.
        local web
        web="$(node -e '
          const page = new URL("/", process.argv[1])
          fetch(page).then(async (response) => {
            const html = await response.text()
            const csp = response.headers.get("content-security-policy") ?? ""
            const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])
            const statuses = await Promise.all(refs.map((ref) => fetch(new URL(ref, page)).then((r) => r.status)))
            const failed = refs.filter((_, i) => statuses[i] !== 200)
            const ok = response.status === 200 && csp.startsWith("default-src '"'"'self'"'"'") && refs.length >= 1 &&
              failed.length === 0 && !/(?:src|href)="https?:\/\//.test(html)
            console.log(ok ? "ok" : `page ${response.status}, csp "${csp}", ${refs.length} files, failed: ${failed.join(" ")}`)
          }, (error) => console.log(String(error)))' "http://127.0.0.1:$port")"
        if [[ $web == ok ]]; then ok "api: the web app at / with its CSP, and every file it loads"; else fail "api: web app: $web" "$LOGS/api.log" || true; fi
      fi
    fi
    if [[ $pkg == bridge ]] && kill -0 "$pid" 2>/dev/null; then
      # Every imported tracker shows up retained, as Home Assistant and OwnTracks would read it.
      local seen
      seen="$(mqtt_retained "$MQTT_TOPIC")"
      if [[ $seen =~ configs=[1-9].*locations=[1-9].*status=online ]]; then ok "bridge: retained on the broker: $seen"; else
        fail "bridge: retained on the broker: $seen (want configs and locations >= 1, status online)" "$LOGS/bridge.log" || true
      fi
    fi
    stop_clean "$pkg" "$pid" || true
    if [[ $pkg == bridge ]]; then
      local after
      after="$(mqtt_retained "$MQTT_TOPIC" clear)"
      if [[ $after =~ status=offline ]]; then ok "bridge: availability offline after SIGTERM (topics removed)"; else
        fail "bridge: after SIGTERM: $after (want status=offline)" "$LOGS/bridge.log" || true
      fi
    fi
  done
}

# mqtt_retained TOPIC [clear]: counts the retained messages under TOPIC/# (Home Assistant configs,
# OwnTracks locations, the availability), read with the deployed bridge's own MQTT.js; with `clear`,
# removes them afterwards.
mqtt_retained() {
  (cd "$WORK/bridge/out" && node --input-type=module -e '
    import mqtt from "mqtt"
    const [url, root, clear] = process.argv.slice(1)
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000 })
    const found = new Map()
    const marker = `${root}/marker`
    const done = new Promise((resolve) => client.on("message", (topic, payload, packet) => {
      if (topic === marker) resolve()
      else if (packet.retain) found.set(topic, payload.toString())
    }))
    await client.subscribeAsync(`${root}/#`, { qos: 1 })
    await client.publishAsync(marker, "x", { qos: 1 })
    await Promise.race([done, new Promise((r) => setTimeout(r, 5000))])
    const topics = [...found.keys()]
    const configs = topics.filter((t) => t.endsWith("/config")).length
    const locations = topics.filter((t) => t.startsWith(`${root}/ot/`) && !t.endsWith("/info")).length
    console.log(`configs=${configs} locations=${locations} status=${found.get(`${root}/bridge/status`) ?? "none"}`)
    if (clear) for (const topic of topics) await client.publishAsync(topic, "", { qos: 1, retain: true })
    await client.endAsync()
  ' "$MQTT_URL" "$1" "${2:-}") 2>&1 | tail -n 1
}

if [[ $run_apps -eq 1 ]]; then
  if [[ "${result[db]:-}" == deployed ]]; then
    guarded "the runs" run_checks
  else
    echo "run: skipped (the db target, which migrates, is not deployed)"
  fi
fi

# ---- static checks ---------------------------------------------------------------------------------

echo "static"
if VERBOSE="${VERBOSE:-0}" node "$REPO/infra/ci/check-static.mjs" "$REPO" "$TOOLS/node_modules" | sed 's/^/  /'; then
  ok "check-static.mjs"
else fail "check-static.mjs" || true; fi
if command -v systemd-analyze >/dev/null; then
  if (cd "$REPO/infra/systemd" && systemd-analyze verify --man=no ./*.service ./*.timer) >"$LOGS/systemd.log" 2>&1 &&
    [[ ! -s "$LOGS/systemd.log" ]]; then
    ok "systemd-analyze verify infra/systemd/*"
  else fail "systemd-analyze verify infra/systemd/*" "$LOGS/systemd.log" || true; fi
else
  echo "  skip systemd-analyze verify (not installed)"
fi
if docker compose version >/dev/null 2>&1; then
  # The compose plugin validates offline; it needs a .env to interpolate from.
  cp "$REPO/.env.example" "$WORK/.env"
  sed -i 's/^POSTGRES_PASSWORD=$/POSTGRES_PASSWORD=check/; s/^KEY_SEALING_\(PRIVATE\|PUBLIC\)_KEY=$/KEY_SEALING_\1_KEY=check/' "$WORK/.env"
  sed -i 's/^\(DB_[A-Z]*_PASSWORD\)=$/\1=checkcheckcheckcheck/' "$WORK/.env"
  if docker compose -f "$REPO/docker-compose.yml" --env-file "$WORK/.env" config -q >"$LOGS/compose.log" 2>&1; then
    ok "docker compose config -q"
  else fail "docker compose config -q" "$LOGS/compose.log" || true; fi
else
  echo "  skip docker compose config (no compose plugin here; check-static.mjs parsed the file)"
fi

# ---- summary ---------------------------------------------------------------------------------------

echo "summary ($((SECONDS - started)) s)"
for t in "${targets[@]}"; do printf '  %-10s %s\n' "$t" "${result[$t]}"; done
failed=$(failures)
echo "deploy-check: $(grep -c '^ok$' "$RESULTS" || true) passed, $failed failed"
[[ $failed -eq 0 ]]

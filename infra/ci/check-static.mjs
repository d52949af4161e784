// Static checks of the deployment files, run by infra/ci/check-deploy.sh (which has no Docker engine
// to ask): docker-compose.yml, infra/docker/Dockerfile, .env.example and infra/systemd/.
//
//   node infra/ci/check-static.mjs REPO_ROOT YAML_PACKAGE_DIR
//
// YAML_PACKAGE_DIR is a node_modules folder holding the `yaml` package (the workspace has no YAML
// parser and this script must not add dependencies to it). Prints what each section verified, every
// failed check (every check with VERBOSE=1), and exits 1 if any failed. Much of it is what even
// `docker compose config` would not see: health checks, restart policies, pins, builds that name
// real stages and sources, documented variables.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'

const [repo, yamlModules] = process.argv.slice(2)
if (!repo || !yamlModules) {
  console.error('usage: node check-static.mjs REPO_ROOT YAML_PACKAGE_DIR')
  process.exit(2)
}
const YAML = createRequire(join(resolve(yamlModules), 'noop.js'))('yaml')

// Each section prints what it verified and its count; every check is listed with VERBOSE=1, a
// failed one always.
const { env } = process
const verbose = env.VERBOSE === '1'
let failures = 0
let passes = 0
let section
function begin(title, what) {
  end()
  section = { title, what, passed: 0, failed: 0 }
  console.log(`${title}: ${what}`)
}
function end() {
  if (section) console.log(`  -> ${section.passed} passed, ${section.failed} failed`)
}
function check(ok, what, detail = '') {
  if (ok) {
    passes++
    section.passed++
  } else {
    failures++
    section.failed++
  }
  if (!ok || verbose) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}${!ok && detail ? `: ${detail}` : ''}`)
  return ok
}
const read = (path) => readFileSync(join(repo, path), 'utf8')
const exists = (path) => existsSync(join(repo, path))

// ---- the workspace ------------------------------------------------------------------------------

const lockfile = YAML.parse(read('pnpm-lock.yaml'))
const rootManifest = JSON.parse(read('package.json'))
const rootDevDeps = lockfile.importers?.['.']?.devDependencies ?? {}
const lockedVersion = (name) => String(rootDevDeps[name]?.version ?? '').replace(/\(.*$/, '')

/** Workspace packages by short name (`api`, `db`, ...) -> folder, for `@tracker/<name>`. */
const packages = new Map()
for (const parent of ['apps', 'packages']) {
  if (!exists(parent)) continue
  for (const name of readdirSync(join(repo, parent))) {
    const manifest = join(parent, name, 'package.json')
    if (!exists(manifest)) continue
    const pkg = JSON.parse(read(manifest))
    if (pkg.name?.startsWith('@tracker/'))
      packages.set(pkg.name.slice('@tracker/'.length), join(parent, name))
  }
}

/** dist/x/y.js of a package -> its source src/x/y.ts (tsc maps one to the other). */
function sourceOf(pkgDir, distEntry) {
  return join(pkgDir, distEntry.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts'))
}

/** Every variable name the code can read: string literals and identifiers in the sources. */
function sourceText() {
  const texts = []
  const walk = (dir) => {
    for (const entry of readdirSync(join(repo, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) texts.push(read(path))
    }
  }
  for (const dir of packages.values()) if (exists(join(dir, 'src'))) walk(join(dir, 'src'))
  return texts.join('\n')
}
const sources = sourceText()

// ---- Dockerfile -----------------------------------------------------------------------------------

begin(
  'infra/docker/Dockerfile',
  'Node/pnpm/turbo versions match the lockfile and CI, pinned bases, targets app/migrate/simulator, non-root, NODE_ENV, tini, HEALTHCHECK, CMD, COPY sources, dockerignore, no install scripts needed',
)
const dockerfilePath = 'infra/docker/Dockerfile'
const dockerfile = parseDockerfile(read(dockerfilePath))

function parseDockerfile(text) {
  // Join continuation lines, drop comments.
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
  const globalArgs = {}
  const stages = []
  for (const line of lines) {
    const [instruction, ...rest] = line.split(/\s+/)
    const args = rest.join(' ')
    const op = instruction.toUpperCase()
    if (op === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)
      const image = m?.[1] ?? ''
      const parent = stages.find((s) => s.name === image)
      stages.push({
        name: m?.[2] ?? `#${stages.length}`,
        image,
        parent: parent?.name,
        user: parent ? parent.user : 'root',
        env: parent ? { ...parent.env } : {},
        args: new Set(),
        instructions: [],
      })
    } else if (stages.length === 0) {
      if (op === 'ARG') {
        const [name, value = ''] = args.split('=')
        globalArgs[name] = value
      }
    } else {
      const stage = stages.at(-1)
      stage.instructions.push({ op, args })
      if (op === 'USER') stage.user = args
      if (op === 'ARG') stage.args.add(args.split('=')[0])
      if (op === 'ENV') {
        for (const m of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) stage.env[m[1]] = m[2].replace(/^"|"$/g, '')
      }
    }
  }
  return { globalArgs, stages }
}

const stageNamed = (name) => dockerfile.stages.find((s) => s.name === name)
const lastOf = (stage, op) => stage?.instructions.filter((i) => i.op === op).at(-1)
const jsonArgs = (instruction) => {
  try {
    return JSON.parse(instruction?.args ?? 'null')
  } catch {
    return null
  }
}

const { NODE_VERSION, PNPM_VERSION, TURBO_VERSION } = dockerfile.globalArgs
check(
  NODE_VERSION === lockedVersion('node'),
  `NODE_VERSION ${NODE_VERSION} is the locked \`node\` devDependency`,
  `pnpm-lock.yaml has ${lockedVersion('node')}`,
)
check(
  process.version === `v${NODE_VERSION}`,
  `CI runs the images' Node (${process.version})`,
  `the Dockerfile pins ${NODE_VERSION}`,
)
check(
  `pnpm@${PNPM_VERSION}` === rootManifest.packageManager,
  `PNPM_VERSION ${PNPM_VERSION} is package.json's packageManager`,
  rootManifest.packageManager,
)
check(
  TURBO_VERSION === lockedVersion('turbo'),
  `TURBO_VERSION ${TURBO_VERSION} is the locked turbo`,
  `pnpm-lock.yaml has ${lockedVersion('turbo')}`,
)
for (const stage of dockerfile.stages.filter((s) => !s.parent)) {
  const image = stage.image.replace(/\$\{(\w+)\}/g, (_, name) => dockerfile.globalArgs[name] ?? '')
  check(
    /:[^:]*\d+\.\d+/.test(image) || image.includes('@sha256:'),
    `stage ${stage.name} starts from a pinned image (${image})`,
  )
}
for (const target of ['migrate', 'simulator', 'app'])
  check(Boolean(stageNamed(target)), `target "${target}" exists`)
check(dockerfile.stages.at(-1)?.name === 'app', 'the app target is the last (default) stage')
for (const target of ['migrate', 'simulator', 'app']) {
  const stage = stageNamed(target)
  if (!stage) continue
  check(
    stage.user !== 'root' && stage.user !== '0',
    `target ${target} runs as a non-root user (${stage.user})`,
  )
  check(stage.env.NODE_ENV === 'production', `target ${target} sets NODE_ENV=production`)
  const entrypoint = jsonArgs(lastOf(stageNamed('runner'), 'ENTRYPOINT'))
  check(
    Array.isArray(entrypoint) && /tini$/.test(entrypoint[0] ?? ''),
    `target ${target} runs under tini (signals forwarded, zombies reaped)`,
  )
  const health = lastOf(stage, 'HEALTHCHECK')
  if (target === 'migrate') check(health?.args === 'NONE', 'target migrate (one-shot) has HEALTHCHECK NONE')
  else check(Boolean(health && health.args !== 'NONE'), `target ${target} has a HEALTHCHECK`)
}
check(
  JSON.stringify(jsonArgs(lastOf(stageNamed('app'), 'CMD'))) === '["node","dist/main.js"]',
  'target app: CMD ["node", "dist/main.js"]',
)
for (const instruction of dockerfile.stages.flatMap((s) => s.instructions)) {
  if (instruction.op !== 'COPY' || instruction.args.includes('--from=')) continue
  const parts = instruction.args.split(/\s+/).filter((p) => !p.startsWith('--'))
  for (const source of parts.slice(0, -1)) check(exists(source), `COPY source ${source} exists`)
}
const dockerignore = exists('infra/docker/Dockerfile.dockerignore')
  ? read('infra/docker/Dockerfile.dockerignore')
  : ''
check(
  /^\*\*\/node_modules$/m.test(dockerignore) &&
    /^\.git$/m.test(dockerignore) &&
    /^\*\*\/dist$/m.test(dockerignore),
  'Dockerfile.dockerignore keeps node_modules, dist and .git out of the context',
)
const built = YAML.parse(read('pnpm-workspace.yaml'))?.onlyBuiltDependencies ?? []
check(
  built.every((name) => name === 'node'),
  'no dependency but `node` needs its install script (the images install with --ignore-scripts)',
  `onlyBuiltDependencies: ${built.join(', ')}`,
)

// ---- .env.example ---------------------------------------------------------------------------------

/** KEY=value and `# KEY=value` lines; each must sit under a prose comment (its documentation). */
function parseEnvExample(path) {
  const lines = read(path).split('\n')
  const keys = new Map()
  const keyLine = /^(#\s*)?([A-Z][A-Z0-9_]*)=/
  lines.forEach((line, index) => {
    const m = keyLine.exec(line)
    if (!m) return
    let documented = false
    for (let i = index - 1; i >= 0; i--) {
      const above = lines[i].trim()
      if (keyLine.test(above)) continue
      documented = above.startsWith('#')
      break
    }
    keys.set(m[2], { set: !m[1], documented, line: index + 1 })
  })
  return keys
}

function checkEnvFile(path, knownElsewhere) {
  const keys = parseEnvExample(path)
  for (const [key, info] of keys) {
    check(info.documented, `${path}: ${key} has a comment`, `line ${info.line}`)
    check(
      knownElsewhere.has(key) || new RegExp(`\\b${key}\\b`).test(sources),
      `${path}: ${key} is read by the code or compose`,
      'no source file or compose file mentions it (a typo?)',
    )
  }
  return keys
}

// ---- docker-compose.yml ---------------------------------------------------------------------------

begin(
  'docker-compose.yml + .env.example',
  'parses; only Compose keys; every service has a restart policy and a health check (one-shots: restart "no", none); images pinned; builds name real Dockerfile stages, declared args, workspace packages and entry sources; depends_on targets exist and are waitable; every $VAR documented in .env.example and set there when it has no default; every .env.example key commented and read by code or compose',
)
const composeText = read('docker-compose.yml')
let compose
try {
  compose = YAML.parse(composeText, { merge: true })
  check(true, 'docker-compose.yml parses (merge keys resolved)')
} catch (error) {
  check(false, 'docker-compose.yml parses', error.message)
  compose = { services: {} }
}
const services = compose.services ?? {}
const interpolated = new Map()
for (const m of composeText.matchAll(/(?<!\$)\$\{(\w+)(:?[-?+])?/g)) {
  const required = m[2] === undefined || m[2].endsWith('?')
  interpolated.set(m[1], (interpolated.get(m[1]) ?? false) || required)
}
const composeBuiltins = new Set(['COMPOSE_PROFILES', 'COMPOSE_PROJECT_NAME'])
const envExample = exists('.env.example')
  ? checkEnvFile('.env.example', new Set([...interpolated.keys(), ...composeBuiltins]))
  : new Map()
check(exists('.env.example'), '.env.example exists')
for (const [name, required] of interpolated) {
  const entry = envExample.get(name)
  check(Boolean(entry), `\${${name}} in docker-compose.yml is documented in .env.example`)
  if (required) check(Boolean(entry?.set), `\${${name}} has no default, so .env.example sets it`)
}

// The Compose Specification's keys (2.26+), so that a misspelt key fails here, not silently there.
const KNOWN = {
  service: `annotations attach blkio_config build cap_add cap_drop cgroup cgroup_parent command configs
    container_name cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares cpus
    cpuset credential_spec depends_on deploy develop device_cgroup_rules devices dns dns_opt dns_search
    domainname entrypoint env_file environment expose extends external_links extra_hosts gpus group_add
    healthcheck hostname image init ipc isolation label_file labels links logging mac_address mem_limit
    mem_reservation mem_swappiness memswap_limit network_mode networks oom_kill_disable oom_score_adj pid
    pids_limit platform ports post_start pre_stop privileged profiles pull_policy read_only restart runtime
    scale secrets security_opt shm_size stdin_open stop_grace_period stop_signal storage_opt sysctls tmpfs
    tty ulimits user userns_mode uts volumes volumes_from working_dir`,
  build: `context dockerfile dockerfile_inline args ssh cache_from cache_to additional_contexts entitlements
    extra_hosts isolation labels network no_cache platforms privileged pull secrets shm_size tags target ulimits`,
  healthcheck: 'test interval timeout retries start_period start_interval disable',
  depends_on: 'condition restart required',
  top: 'name services networks volumes configs secrets include models',
}
const known = Object.fromEntries(Object.entries(KNOWN).map(([k, v]) => [k, new Set(v.split(/\s+/))]))
function checkKeys(object, kind, where) {
  const unknown = Object.keys(object ?? {}).filter((key) => !key.startsWith('x-') && !known[kind].has(key))
  check(unknown.length === 0, `${where}: only Compose keys`, `unknown: ${unknown.join(', ')}`)
}
checkKeys(compose, 'top', 'top level')

const oneShots = new Set()
for (const service of Object.values(services)) {
  for (const [name, dep] of Object.entries(service.depends_on ?? {})) {
    if (dep?.condition === 'service_completed_successfully') oneShots.add(name)
  }
}
check(Object.keys(services).length > 0, `${Object.keys(services).length} services`)
for (const [name, service] of Object.entries(services)) {
  const oneShot = oneShots.has(name)
  checkKeys(service, 'service', name)
  if (service.build) checkKeys(service.build, 'build', `${name}.build`)
  if (service.healthcheck) checkKeys(service.healthcheck, 'healthcheck', `${name}.healthcheck`)
  for (const [dep, spec] of Object.entries(service.depends_on ?? {})) {
    checkKeys(spec, 'depends_on', `${name}.depends_on.${dep}`)
  }
  check(
    service.restart !== undefined,
    `${name}: restart policy (${service.restart ?? 'none'})${oneShot ? ', one-shot' : ''}`,
  )
  if (oneShot) check(service.restart === 'no', `${name}: a one-shot is never restarted (restart: "no")`)
  else check(service.restart !== 'no', `${name}: a long-running service restarts`)
  const health = service.healthcheck
  if (health?.disable) check(oneShot, `${name}: health check disabled only because it is a one-shot`)
  else check(Array.isArray(health?.test) && health.test.length > 1, `${name}: health check`)

  if (service.build) {
    const context = service.build.context ?? '.'
    const file = join(context, service.build.dockerfile ?? 'Dockerfile')
    check(exists(file), `${name}: builds from ${file}`)
    const stage = file === dockerfilePath ? stageNamed(service.build.target ?? 'app') : undefined
    check(Boolean(stage), `${name}: target ${service.build.target} is a stage of ${file}`)
    for (const arg of Object.keys(service.build.args ?? {})) {
      const declared = dockerfile.stages.some((s) => s.args.has(arg))
      check(declared, `${name}: build arg ${arg} is declared in the Dockerfile`)
    }
    const app = service.build.args?.APP
    const pkgDir = packages.get(app)
    check(Boolean(pkgDir), `${name}: APP=${app} is the workspace package @tracker/${app}`)
    // The entry that will run: the service's command if it starts node, else the image's CMD.
    const command = Array.isArray(service.command) ? service.command : null
    const cmd = command?.[0] === 'node' ? command : jsonArgs(lastOf(stage, 'CMD'))
    if (pkgDir && Array.isArray(cmd) && cmd[0] === 'node') {
      check(
        exists(sourceOf(pkgDir, cmd[1])),
        `${name}: its entry ${cmd[1]} is built from ${sourceOf(pkgDir, cmd[1])}`,
      )
    }
    check(
      typeof service.image === 'string' && !service.image.endsWith(':latest'),
      `${name}: names its image (${service.image})`,
    )
  } else {
    const image = String(service.image ?? '')
    const tag = image.includes('@sha256:') ? 'digest' : (image.split('/').at(-1)?.split(':')[1] ?? '')
    check(
      tag === 'digest' || (/\d+\.\d+/.test(tag) && !tag.includes('latest')),
      `${name}: image pinned to a version (${image})`,
    )
  }
  const envFiles = [service.env_file ?? []].flat().map((f) => (typeof f === 'string' ? f : f.path))
  for (const envFile of envFiles) {
    check(
      envFile === '.env' ? exists('.env.example') : exists(envFile),
      `${name}: env file ${envFile}${envFile === '.env' ? ' (documented by .env.example)' : ''}`,
    )
  }
  for (const [dep, spec] of Object.entries(service.depends_on ?? {})) {
    const target = services[dep]
    check(Boolean(target), `${name}: depends on an existing service ${dep}`)
    if (!target) continue
    if (spec?.condition === 'service_healthy')
      check(Boolean(target.healthcheck?.test), `${name}: ${dep} has a health check to wait for`)
    if (target.profiles && !service.profiles) {
      check(
        spec?.required === false,
        `${name}: its dependency on ${dep} (profile ${target.profiles}) is required: false`,
      )
    }
  }
}

// ---- database roles (compose) ------------------------------------------------------------------------

/** The apps with a database role of their own, and the prefix of their DB_* variables. */
const APP_ROLES = { api: 'DB_API', importer: 'DB_IMPORTER', refresher: 'DB_REFRESHER', bridge: 'DB_BRIDGE' }
const PASSWORDS = Object.values(APP_ROLES).map((prefix) => `${prefix}_PASSWORD`)
const appRolesSource = exists('packages/db/src/roles/app-roles.ts')
  ? read('packages/db/src/roles/app-roles.ts')
  : ''

begin(
  'database roles',
  "compose: migrate connects as the owner with DB_ROLES=on and every role's password; each service running an app's code connects as that app's role (its image's APP) and holds no other database password; the default role names are the code's",
)
for (const [app, prefix] of Object.entries(APP_ROLES)) {
  check(
    appRolesSource.includes(`${app}: 'tracker_${app}'`),
    `tracker_${app} is the ${app}'s default role in packages/db/src/roles/app-roles.ts`,
  )
  check(
    new RegExp(`\\b${prefix}_ROLE\\b`).test(sources) && new RegExp(`\\b${prefix}_PASSWORD\\b`).test(sources),
    `${prefix}_ROLE and ${prefix}_PASSWORD are read by the migrate step`,
  )
}
for (const [name, service] of Object.entries(services)) {
  const app = service.build?.args?.APP
  const environment = service.environment ?? {}
  const url = String(environment.DATABASE_URL ?? '')
  if (app === 'db') {
    check(environment.DB_ROLES === 'on', `${name}: DB_ROLES=on (the migrate step makes the apps' roles)`)
    check(
      /POSTGRES_PASSWORD|^\$\{DATABASE_URL:-/.test(url),
      `${name}: connects as the owner (DATABASE_URL)`,
      url,
    )
    for (const password of PASSWORDS) {
      check(
        new RegExp(`^\\$\\{${password}:\\?`).test(String(environment[password] ?? '')),
        `${name}: ${password} is required (\${${password}:?...})`,
      )
    }
    continue
  }
  const prefix = APP_ROLES[app]
  if (!prefix) continue
  const expected = `postgres://\${${prefix}_ROLE:-tracker_${app}}:\${${prefix}_PASSWORD:?`
  check(
    url.startsWith(expected) && url.includes('@${DATABASE_ADDRESS:-'),
    `${name}: runs the ${app}'s code, so connects as its role (DATABASE_URL ${expected}...@\${DATABASE_ADDRESS...})`,
    url,
  )
  for (const password of ['POSTGRES_PASSWORD', ...PASSWORDS]) {
    check(environment[password] === '', `${name}: ${password} blanked (.env, its env_file, has it)`)
  }
}

// ---- sealed keys (compose) ---------------------------------------------------------------------------

/** What opens tracker private keys: the importer's alone (README "Sealed keys"). */
const KEY_OPENERS = ['KEY_SEALING_PRIVATE_KEY', 'KEY_SEALING_PRIVATE_KEY_FILE', 'KEY_ENCRYPTION_KEY']

begin(
  'sealed keys',
  "compose: the importer requires KEY_SEALING_PRIVATE_KEY; every other service that reads .env (migrate, api, refresher, bridge) blanks it, its _FILE and KEY_ENCRYPTION_KEY; seed-demo is the importer's CLI; every app is given KEY_SEALING_PUBLIC_KEY",
)
for (const [name, service] of Object.entries(services)) {
  const app = service.build?.args?.APP
  if (!app || !(service.env_file ?? undefined)) continue
  const environment = service.environment ?? {}
  check(
    /^\$\{KEY_SEALING_PUBLIC_KEY:\?/.test(String(environment.KEY_SEALING_PUBLIC_KEY ?? '')),
    `${name}: KEY_SEALING_PUBLIC_KEY is required (\${KEY_SEALING_PUBLIC_KEY:?...})`,
  )
  if (app === 'importer') {
    // The importer's image: the importer and seed-demo (its CLI, which records the public key first).
    if (name === 'importer') {
      check(
        /^\$\{KEY_SEALING_PRIVATE_KEY:\?/.test(String(environment.KEY_SEALING_PRIVATE_KEY ?? '')),
        `${name}: KEY_SEALING_PRIVATE_KEY is required (\${KEY_SEALING_PRIVATE_KEY:?...})`,
      )
    }
    continue
  }
  for (const variable of KEY_OPENERS) {
    check(environment[variable] === '', `${name}: ${variable} blanked (.env, its env_file, may have it)`)
  }
}

// ---- systemd ----------------------------------------------------------------------------------------

begin(
  'infra/systemd',
  "a unit per app, EnvironmentFile=/etc/tracker/tracker.env (then each app's own tracker-<app>.env, the roles' passwords unset; migrate with DB_ROLES=on), unprivileged user and hardening, ExecStart runs a built entry of the unit's package, timers activate existing units, tracker.env.example keys commented and read by the code",
)
const systemdDir = 'infra/systemd'
const units = exists(systemdDir)
  ? readdirSync(join(repo, systemdDir)).filter((f) => /\.(service|timer)$/.test(f))
  : []
for (const app of ['api', 'importer', 'refresher', 'bridge']) {
  check(units.includes(`tracker-${app}.service`), `tracker-${app}.service exists`)
}
for (const unit of units) {
  const text = read(join(systemdDir, unit))
  const value = (key) => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1].trim())
  if (unit.endsWith('.timer')) {
    const target = value('Unit')[0] ?? unit.replace(/\.timer$/, '.service')
    check(units.includes(target), `${unit}: activates ${target}, which exists`)
    continue
  }
  check(
    value('EnvironmentFile').includes('/etc/tracker/tracker.env'),
    `${unit}: EnvironmentFile=/etc/tracker/tracker.env`,
  )
  check(
    value('DynamicUser')[0] === 'yes' || value('User').length > 0,
    `${unit}: runs as an unprivileged user`,
  )
  for (const [key, expected] of [
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['CapabilityBoundingSet', ''],
  ]) {
    check(value(key)[0] === expected, `${unit}: ${key}=${expected}`)
  }
  const workdir = value('WorkingDirectory')[0] ?? ''
  const pkgName = workdir.replace(/^\/opt\/tracker\//, '')
  const pkgDir = packages.get(pkgName)
  // Database roles: tracker-migrate makes them; each app's unit reads its own role's DATABASE_URL
  // after the shared file (the later file wins) and drops the roles' passwords, tracker-migrate's.
  if (pkgName === 'db') {
    check(value('Environment').includes('DB_ROLES=on'), `${unit}: Environment=DB_ROLES=on`)
  } else if (APP_ROLES[pkgName]) {
    const files = value('EnvironmentFile')
    const own = `-/etc/tracker/tracker-${pkgName}.env`
    check(
      files.indexOf(own) > files.indexOf('/etc/tracker/tracker.env'),
      `${unit}: EnvironmentFile=${own} after tracker.env (its role's DATABASE_URL wins)`,
      files.join(', '),
    )
    const unset = value('UnsetEnvironment').join(' ').split(/\s+/)
    check(
      PASSWORDS.every((password) => unset.includes(password)),
      `${unit}: UnsetEnvironment= the roles' passwords (${PASSWORDS.join(' ')})`,
    )
  }
  const entry = /node\s+(dist\/\S+\.js)/.exec(value('ExecStart')[0] ?? '')?.[1]
  check(
    Boolean(pkgDir && entry && exists(sourceOf(pkgDir, entry))),
    `${unit}: runs ${entry} of ${workdir}, built from ${pkgDir && entry ? sourceOf(pkgDir, entry) : '?'}`,
  )
}
if (exists(join(systemdDir, 'tracker.env.example'))) {
  checkEnvFile(join(systemdDir, 'tracker.env.example'), new Set())
} else check(false, 'infra/systemd/tracker.env.example exists')

end()
console.log(`static checks: ${passes} passed, ${failures} failed`)
process.exitCode = failures > 0 ? 1 : 0

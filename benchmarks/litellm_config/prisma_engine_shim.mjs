// A stand-in for Prisma's native `query-engine` binary, for running the LiteLLM proxy on a machine that cannot
// download Prisma's engines (they come from a host that is not a package registry).
//
// Prisma Client Python (which LiteLLM uses) starts `query-engine -p PORT ...` and talks to it over HTTP with
// Prisma's GraphQL protocol. This program serves the same HTTP interface (GET /status, POST /,
// POST /transaction/start, /transaction/{id}/commit|rollback, GET /metrics) and executes the requests with the
// official Prisma query engine compiled to WebAssembly (npm: @prisma/query-engine-wasm, the build of the same
// engines commit the Python client expects) over the official PostgreSQL driver adapter (@prisma/adapter-pg, pg).
// The wasm engine only speaks the JSON protocol, so each GraphQL request is translated to it, and each answer
// back (tagged values like {"$type": "DateTime", "value": ...} are unwrapped, the result is put under the
// `result` alias the Python client asks for).
//
// Used only by benchmarks/bench_vs_litellm.py, which installs the npm packages next to a copy of this file.
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ENGINE_COMMIT = process.env.SHIM_ENGINE_COMMIT || '393aa359c9ad4a4bb28630fb5613f9c281cde053'

const argv = process.argv.slice(2)
if (argv.includes('--version') || argv.includes('-V')) {
  console.log(`query-engine ${ENGINE_COMMIT}`)
  process.exit(0)
}

// ---------------------------------------------------------------- GraphQL (the subset Prisma Client Python emits)
function tokenize(src) {
  const tokens = []
  let i = 0
  const n = src.length
  while (i < n) {
    const c = src[i]
    if (c === ' ' || c === '\n' || c === '\t' || c === '\r' || c === ',') { i++; continue }
    if ('{}()[]:'.includes(c)) { tokens.push({ t: c }); i++; continue }
    if (c === '"') {
      let j = i + 1
      while (j < n && src[j] !== '"') { j += src[j] === '\\' ? 2 : 1 }
      tokens.push({ t: 'value', v: JSON.parse(src.slice(i, j + 1)) })
      i = j + 1
      continue
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(src.slice(i, i + 64))
      tokens.push({ t: 'value', v: Number(m[0]), raw: m[0] })
      i += m[0].length
      continue
    }
    const m = /^[_A-Za-z][_0-9A-Za-z]*/.exec(src.slice(i, i + 256))
    if (!m) throw new Error(`unexpected character ${JSON.stringify(c)} at ${i}`)
    tokens.push({ t: 'name', v: m[0] })
    i += m[0].length
  }
  return tokens
}

class Parser {
  constructor(src) { this.tokens = tokenize(src); this.pos = 0 }
  peek() { return this.tokens[this.pos] }
  next() { return this.tokens[this.pos++] }
  expect(t) {
    const tok = this.next()
    if (!tok || tok.t !== t) throw new Error(`expected ${t}, got ${tok ? tok.t : 'end'}`)
    return tok
  }
  document() {
    const op = this.expect('name').v
    return { operation: op, selection: this.selectionSet() }
  }
  selectionSet() {
    this.expect('{')
    const fields = []
    while (this.peek().t !== '}') fields.push(this.field())
    this.next()
    return fields
  }
  field() {
    let name = this.expect('name').v
    let alias = null
    if (this.peek() && this.peek().t === ':') { this.next(); alias = name; name = this.expect('name').v }
    let args = null
    if (this.peek() && this.peek().t === '(') args = this.arguments()
    let selection = null
    if (this.peek() && this.peek().t === '{') selection = this.selectionSet()
    return { alias, name, args, selection }
  }
  arguments() {
    this.expect('(')
    const out = {}
    while (this.peek().t !== ')') {
      const key = this.expect('name').v
      this.expect(':')
      out[key] = this.value()
    }
    this.next()
    return out
  }
  value() {
    const tok = this.next()
    if (tok.t === 'value') {
      // keep integers beyond 2^53 exact: the engine reads them from the JSON text
      if (tok.raw && !Number.isSafeInteger(tok.v) && /^-?\d+$/.test(tok.raw)) return new BigLiteral(tok.raw)
      return tok.v
    }
    if (tok.t === 'name') {
      if (tok.v === 'true') return true
      if (tok.v === 'false') return false
      if (tok.v === 'null') return null
      return tok.v // an enum value
    }
    if (tok.t === '[') {
      const out = []
      while (this.peek().t !== ']') out.push(this.value())
      this.next()
      return out
    }
    if (tok.t === '{') {
      const out = {}
      while (this.peek().t !== '}') {
        const key = this.expect('name').v
        this.expect(':')
        out[key] = this.value()
      }
      this.next()
      return out
    }
    throw new Error(`unexpected token ${tok.t}`)
  }
}

class BigLiteral { constructor(raw) { this.raw = raw } }

function stringify(value) {
  // JSON.stringify that writes BigLiteral digits verbatim
  const marks = []
  const text = JSON.stringify(value, (_k, v) => {
    if (v instanceof BigLiteral) { marks.push(v.raw); return `\u0000BIG${marks.length - 1}\u0000` }
    return v
  })
  return marks.length ? text.replace(/"\u0000BIG(\d+)\u0000"/g, (_m, i) => marks[Number(i)]) : text
}

// ---------------------------------------------------------------- GraphQL -> JSON protocol
const ACTIONS = [
  ['findUnique', 'findUnique'], ['findFirst', 'findFirst'], ['findMany', 'findMany'],
  ['createOne', 'createOne'], ['createMany', 'createMany'], ['updateOne', 'updateOne'],
  ['updateMany', 'updateMany'], ['upsertOne', 'upsertOne'], ['deleteOne', 'deleteOne'],
  ['deleteMany', 'deleteMany'], ['aggregate', 'aggregate'], ['groupBy', 'groupBy'],
]

function operationOf(name) {
  if (name === 'queryRaw' || name === 'executeRaw') return { action: name, modelName: undefined }
  for (const [prefix, action] of ACTIONS) {
    if (name.startsWith(prefix)) {
      let model = name.slice(prefix.length)
      let act = action
      if ((action === 'findUnique' || action === 'findFirst') && model.endsWith('OrThrow')) {
        model = model.slice(0, -'OrThrow'.length)
        act = action + 'OrThrow'
      }
      return { action: act, modelName: model }
    }
  }
  throw new Error(`unknown operation ${name}`)
}

function selectionToJson(fields) {
  const out = {}
  for (const f of fields || []) {
    if (!f.args && !f.selection) out[f.name] = true
    else out[f.name] = { arguments: f.args || {}, selection: selectionToJson(f.selection) }
  }
  return out
}

// The JSON protocol reads a plain string given for a Json field as a JSON *string*; the GraphQL protocol parsed
// it as JSON text. Json field values (as the Python client sends them: JSON text) are therefore tagged
// {"$type": "Json", "value": text}, using the field types of the Prisma schema.
let MODELS = {}

function parseSchema(datamodel) {
  const models = {}
  const re = /^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm
  let m
  while ((m = re.exec(datamodel))) {
    const fields = {}
    for (const line of m[2].split('\n')) {
      const f = /^\s*(\w+)\s+(\w+)(\[\])?(\?)?/.exec(line)
      if (f && !line.trim().startsWith('//') && !line.trim().startsWith('@@')) fields[f[1]] = { type: f[2], list: !!f[3] }
    }
    models[m[1]] = fields
  }
  return models
}

const JSON_FILTER_KEYS = new Set(['equals', 'not', 'set'])

function tagJson(value) {
  return typeof value === 'string' ? { $type: 'Json', value } : value
}

function tagInput(model, input) {
  const fields = MODELS[model]
  if (!fields || !input || typeof input !== 'object') return input
  if (Array.isArray(input)) return input.map((x) => tagInput(model, x))
  const out = {}
  for (const [key, value] of Object.entries(input)) {
    const field = fields[key]
    if (key === 'AND' || key === 'OR' || key === 'NOT') out[key] = tagInput(model, value)
    else if (!field) out[key] = value
    else if (field.type === 'Json') {
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        const inner = {}
        for (const [k, v] of Object.entries(value)) inner[k] = JSON_FILTER_KEYS.has(k) ? tagJson(v) : v
        out[key] = inner
      } else out[key] = tagJson(value)
    } else if (MODELS[field.type] && value && typeof value === 'object') {
      // a relation: nested writes (create, connectOrCreate, update, upsert, ...) and relation filters
      const nested = {}
      for (const [k, v] of Object.entries(value)) nested[k] = tagNested(field.type, v)
      out[key] = nested
    } else out[key] = value
  }
  return out
}

function tagNested(model, value) {
  if (Array.isArray(value)) return value.map((v) => tagNested(model, v))
  if (!value || typeof value !== 'object') return value
  const out = {}
  for (const [k, v] of Object.entries(value)) {
    if (['create', 'update', 'data', 'where', 'is', 'isNot', 'some', 'every', 'none'].includes(k)) out[k] = tagInput(model, v)
    else if (k === 'connectOrCreate' || k === 'upsert') out[k] = tagNested(model, v)
    else out[k] = v
  }
  return Object.keys(MODELS[model] || {}).some((f) => f in value) ? tagInput(model, value) : out
}

function tagArguments(model, args) {
  if (!model) return args
  const out = {}
  for (const [key, value] of Object.entries(args)) {
    out[key] = ['data', 'create', 'update', 'where', 'having'].includes(key) ? tagInput(model, value) : value
  }
  return out
}

function toJsonQuery(graphql) {
  const doc = new Parser(graphql).document()
  if (doc.selection.length !== 1) throw new Error('expected exactly one root field')
  const root = doc.selection[0]
  const { action, modelName } = operationOf(root.name)
  const query = { arguments: tagArguments(modelName, root.args || {}), selection: selectionToJson(root.selection) }
  const out = { action, query }
  if (modelName) out.modelName = modelName
  return { json: out, alias: root.alias || root.name }
}

function untag(value) {
  if (Array.isArray(value)) return value.map(untag)
  if (value && typeof value === 'object') {
    if (typeof value.$type === 'string' && 'value' in value && Object.keys(value).length === 2) {
      return value.value
    }
    const out = {}
    for (const [k, v] of Object.entries(value)) out[k] = untag(v)
    return out
  }
  return value
}

function reshape(answer, alias) {
  if (answer.errors) return { errors: answer.errors }
  const data = answer.data || {}
  const keys = Object.keys(data)
  return { data: { [alias]: untag(keys.length ? data[keys[0]] : null) } }
}

// ---------------------------------------------------------------- the engine
async function loadEngine() {
  const modules = process.env.SHIM_NODE_MODULES || path.join(HERE, 'node_modules')
  const wasmDir = path.join(modules, '@prisma', 'query-engine-wasm', 'postgresql')
  const bg = await import(pathToFileURL(path.join(wasmDir, 'query_engine_bg.js')).href)
  const bytes = fs.readFileSync(path.join(wasmDir, 'query_engine_bg.wasm'))
  const { instance } = await WebAssembly.instantiate(bytes, { './query_engine_bg.js': bg })
  bg.__wbg_set_wasm(instance.exports)
  const { default: pg } = await import(pathToFileURL(path.join(modules, 'pg', 'lib', 'index.js')).href)
  const { PrismaPg } = await import(pathToFileURL(path.join(modules, '@prisma', 'adapter-pg', 'dist', 'index.mjs')).href)
  const { bindAdapter } = await import(
    pathToFileURL(path.join(modules, '@prisma', 'driver-adapter-utils', 'dist', 'index.mjs')).href)
  return { QueryEngine: bg.QueryEngine, pg, PrismaPg, bindAdapter }
}

function datasourceUrl() {
  if (process.env.OVERWRITE_DATASOURCES) {
    const list = JSON.parse(process.env.OVERWRITE_DATASOURCES)
    if (list.length && list[0].url) return list[0].url
  }
  return process.env.DATABASE_URL
}

function poolSize(url) {
  try {
    const limit = new URL(url).searchParams.get('connection_limit')
    if (limit) return Number(limit)
  } catch { /* not a URL */ }
  return Number(process.env.SHIM_POOL_SIZE || 5)
}

async function main() {
  const portIndex = Math.max(argv.indexOf('-p'), argv.indexOf('--port'))
  const port = portIndex >= 0 ? Number(argv[portIndex + 1]) : 0
  const datamodel = process.env.PRISMA_DML || fs.readFileSync(process.env.PRISMA_DML_PATH, 'utf8')
  MODELS = parseSchema(datamodel)
  const { QueryEngine, pg, PrismaPg, bindAdapter } = await loadEngine()
  const url = datasourceUrl()
  const cleanUrl = new URL(url)
  for (const k of ['connection_limit', 'pool_timeout', 'connect_timeout', 'schema', 'pgbouncer']) {
    cleanUrl.searchParams.delete(k)
  }
  const pool = new pg.Pool({ connectionString: cleanUrl.toString(), max: poolSize(url) })
  const adapter = bindAdapter(new PrismaPg(pool))
  const logQueries = !!process.env.LOG_QUERIES
  const engine = new QueryEngine(
    { datamodel, logLevel: 'error', logQueries, env: process.env },
    (line) => { if (logQueries || /"level":"(ERROR|error)"/.test(line)) process.stderr.write(line + '\n') },
    adapter,
  )
  await engine.connect('{}')

  const TRACE = '{}'

  async function query(body, txId) {
    const request = JSON.parse(body)
    if (request.batch) {
      const items = request.batch.map((q) => toJsonQuery(q.query))
      const jsonBody = { batch: items.map((x) => x.json) }
      if (request.transaction) jsonBody.transaction = typeof request.transaction === 'object' ? request.transaction : {}
      const answer = JSON.parse(await engine.query(stringify(jsonBody), TRACE, txId))
      if (answer.errors) return answer
      return { batchResult: answer.batchResult.map((r, i) => reshape(r, items[i].alias)) }
    }
    const { json, alias } = toJsonQuery(request.query)
    const answer = JSON.parse(await engine.query(stringify(json), TRACE, txId))
    return reshape(answer, alias)
  }

  async function handle(req, body) {
    const u = new URL(req.url, 'http://localhost')
    const p = u.pathname
    if (req.method === 'GET' && p === '/status') return [200, { status: 'ok' }]
    if (p === '/metrics') return [200, u.searchParams.get('format') === 'prometheus' ? '' : { counters: [], gauges: [], histograms: [] }]
    if (req.method === 'POST' && p === '/') {
      const txId = req.headers['x-transaction-id']
      return [200, await query(body, txId || undefined)]
    }
    if (req.method === 'POST' && p === '/transaction/start') {
      const answer = JSON.parse(await engine.startTransaction(body || '{}', TRACE))
      return [answer.errors ? 400 : 200, answer]
    }
    const m = /^\/transaction\/([^/]+)\/(commit|rollback)$/.exec(p)
    if (req.method === 'POST' && m) {
      const fn = m[2] === 'commit' ? engine.commitTransaction : engine.rollbackTransaction
      const answer = JSON.parse((await fn.call(engine, m[1], TRACE)) || '{}')
      return [answer.errors ? 400 : 200, answer]
    }
    return [404, { errors: [{ error: `no route ${req.method} ${p}` }] }]
  }

  const onRequest = (req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', async () => {
      let status = 200
      let out
      try {
        ;[status, out] = await handle(req, Buffer.concat(chunks).toString('utf8'))
      } catch (err) {
        status = 200
        out = { errors: [{ error: String(err && err.stack || err), user_facing_error: { is_panic: false, message: String(err && err.message || err), meta: {} } }] }
        process.stderr.write(`shim error: ${err && err.stack || err}\n`)
      }
      const text = typeof out === 'string' ? out : JSON.stringify(out)
      res.writeHead(status, { 'content-type': typeof out === 'string' ? 'text/plain' : 'application/json' })
      res.end(text)
    })
  }
  // the Python client connects to http://localhost:PORT: answer on both loopback addresses
  const servers = []
  for (const host of ['127.0.0.1', '::1']) {
    const server = http.createServer({ keepAlive: true }, onRequest)
    server.keepAliveTimeout = 60_000
    await new Promise((resolve) => {
      server.once('error', (err) => { process.stderr.write(`shim: cannot listen on ${host}: ${err.message}\n`); resolve() })
      server.listen(port, host, resolve)
    })
    servers.push(server)
  }
  const stop = async () => {
    for (const s of servers) s.close()
    try { await engine.disconnect('{}') } catch { /* already gone */ }
    await pool.end().catch(() => {})
    process.exit(0)
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((err) => {
  process.stderr.write(`prisma engine shim failed: ${err && err.stack || err}\n`)
  process.exit(1)
})

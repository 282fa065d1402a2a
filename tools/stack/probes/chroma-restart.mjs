// A probe, not a test: how Chroma behaves when SIGTERMed and restarted under load. It starts its own Chroma
// (the stack's binary) on a spare port with its own data directory, seeds it, runs 8 clients that add one vector
// each and delete a third of them again, SIGTERMs Chroma after 3 s, restarts it, runs 3 s more, and reports which
// writes that failed on the client side applied anyway, and which acknowledged ones did not survive the restarts.
//   node tools/stack/probes/chroma-restart.mjs tools/stack/node_modules/.bin/chroma "$(mktemp -d)" 58921
// (SEED=5000 DIM=128 by default.) Findings: packages/chroma/README.md, "What happened when Chroma was SIGTERMed".
// Chroma under load, SIGTERMed and restarted: which acknowledged writes survive, which failed writes applied?
import { ChromaClient } from "chromadb"
import { spawn } from "node:child_process"
const bin = process.argv[2], dir = process.argv[3], port = Number(process.argv[4] ?? 58921)
const seedCount = Number(process.env.SEED ?? 5000), dim = Number(process.env.DIM ?? 128), clients = 8
const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a)
let proc
const start = async () => {
  proc = spawn(bin, ["run", "--path", dir, "--host", "127.0.0.1", "--port", String(port)], {
    stdio: ["ignore", "ignore", "ignore"]
  })
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/v2/heartbeat`)
      if (r.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error("chroma did not start")
}
const vec = () => Array.from({ length: dim }, () => Math.random())
await start()
const client = new ChromaClient({ host: "127.0.0.1", port })
await client.deleteCollection({ name: "probe" }).catch(() => {})
const col = await client.createCollection({ name: "probe", embeddingFunction: null })
for (let i = 0; i < seedCount; i += 500) {
  const ids = Array.from({ length: Math.min(500, seedCount - i) }, (_, j) => `seed-${i + j}`)
  await col.add({ ids, embeddings: ids.map(vec), metadatas: ids.map(() => ({ k: 1 })) })
}
log("seeded", await col.count())
const outcome = new Map() // id -> { add: "ok"|"error", del?: "ok"|"error"|undefined }
let stop = false, n = 0
const timed = (p, ms) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error("client timeout")), ms))])
const worker = async (w) => {
  while (!stop) {
    const id = `t-${w}-${n++}`
    const o = { add: "ok" }
    outcome.set(id, o)
    try {
      await timed(col.add({ ids: [id], embeddings: [vec()], metadatas: [{ w }] }), 2000)
    } catch (e) {
      o.add = "error"
      o.addError = String(e.message).slice(0, 60)
    }
    // like a saga: a third are compensated (deleted) after the add succeeded; the rest are kept
    if (o.add === "ok" && n % 3 === 0) {
      try {
        await timed(col.delete({ ids: [id] }), 2000)
        o.del = "ok"
      } catch (e) {
        o.del = "error"
        o.delError = String(e.message).slice(0, 60)
      }
    }
    if (o.add === "error" || o.del === "error") await new Promise((r) => setTimeout(r, 50))
  }
}
const workers = Array.from({ length: clients }, (_, w) => worker(w))
await new Promise((r) => setTimeout(r, 3000))
const t0 = Date.now()
log("SIGTERM chroma", proc.pid)
const exited = new Promise((r) => proc.once("exit", (code, signal) => r({ code, signal })))
proc.kill("SIGTERM")
const how = await exited
log("exited after", Date.now() - t0, "ms", JSON.stringify(how))
await start()
log("restarted after", Date.now() - t0, "ms")
await new Promise((r) => setTimeout(r, 3000))
stop = true
await Promise.all(workers)
// what Chroma holds now, and after one more restart (durability of what it answered since)
const check = async (label) => {
  const c = await client.getCollection({ name: "probe", embeddingFunction: null })
  const ids = [...outcome.keys()]
  const present = new Set()
  for (let i = 0; i < ids.length; i += 500) {
    for (const id of (await c.get({ ids: ids.slice(i, i + 500), include: [] })).ids) {
      present.add(id)
    }
  }
  const count = {
    total: ids.length,
    addOk: 0,
    addError: 0,
    addErrorButPresent: 0,
    ackAddMissing: 0,
    delOk: 0,
    delOkButPresent: 0,
    delError: 0,
    delErrorPresent: 0
  }
  const examples = { addErrorButPresent: [], delOkButPresent: [], ackAddMissing: [] }
  for (const [id, o] of outcome) {
    const here = present.has(id)
    if (o.add === "error") {
      count.addError++
      if (here) {
        count.addErrorButPresent++
        examples.addErrorButPresent.push(`${id} (${o.addError})`)
      }
      continue
    }
    count.addOk++
    if (o.del === "ok") {
      count.delOk++
      if (here) {
        count.delOkButPresent++
        examples.delOkButPresent.push(id)
      }
    } else if (o.del === "error") {
      count.delError++
      if (here) count.delErrorPresent++
    } else if (!here) {
      count.ackAddMissing++
      examples.ackAddMissing.push(id)
    }
  }
  log(label, JSON.stringify(count))
  for (const [k, v] of Object.entries(examples)) if (v.length) log("  e.g.", k, v.slice(0, 5).join(", "))
  log("  collection count", await c.count())
}
await check("after restart under load")
proc.kill("SIGTERM")
await new Promise((r) => proc.once("exit", r))
await start()
await check("after a second, idle SIGTERM + restart")
proc.kill("SIGTERM")
await new Promise((r) => proc.once("exit", r))
process.exit(0)

// The operator console: a page over the service's JSON API (/v1/*), nothing else. The API key is entered once and
// kept in sessionStorage for this browser tab's session; without an accepted key nothing is fetched or shown.
// Every value from the API is put in the page as text (textContent / attributes), never parsed as HTML.

const KEY = "polysaga.apiKey"
const main = document.getElementById("main")
const nav = document.getElementById("nav")

class Unauthorized extends Error {}

/** An element: `h("td", { class: "x" }, "text", child)`; strings become text nodes. */
const h = (tag, attributes = {}, ...children) => {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value)
    else element.setAttribute(name, value === true ? "" : String(value))
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue
    element.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return element
}

const svg = (tag, attributes = {}, ...children) => {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag)
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value))
  for (const child of children) element.append(child instanceof Node ? child : document.createTextNode(String(child)))
  return element
}

const show = (...children) => main.replaceChildren(...children.filter((child) => child !== false))

const api = async (path, options = {}) => {
  const key = options.key ?? sessionStorage.getItem(KEY)
  if (key === null) throw new Unauthorized()
  const response = await fetch(path, {
    method: options.method ?? "GET",
    headers: {
      authorization: `Bearer ${key}`,
      ...(options.body === undefined ? {} : { "content-type": "application/json" })
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
  })
  if (response.status === 401) throw new Unauthorized()
  const body = await response.json().catch(() => undefined)
  if (!response.ok) {
    const error = body?.error
    throw new Error(error === undefined ? `HTTP ${response.status}` : `${error.code}: ${error.message}`)
  }
  return body
}

// ---------------------------------------------------------------------------------------------------------------
// formatting

const time = (iso) => iso === undefined ? "" : new Date(iso).toLocaleString(undefined, { hour12: false })
/** With milliseconds: the journal's entries of one saga are often within the same second. */
const instant = (iso) =>
  iso === undefined ?
    "" :
    `${new Date(iso).toLocaleDateString()} ${
      new Date(iso).toLocaleTimeString(undefined, { hour12: false, fractionalSecondDigits: 3 })
    }`
const ms = (n) => n === undefined ? "" : n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(2)} s`
const badge = (status, resolution) =>
  h(
    "span",
    { class: `badge ${status}${resolution === undefined ? "" : " resolved"}` },
    resolution === undefined ? status : `${status} · resolved`
  )
const needsPerson = (saga) => saga.status === "failed" && saga.resolution === undefined

// ---------------------------------------------------------------------------------------------------------------
// login

const login = (message) => {
  sessionStorage.removeItem(KEY)
  nav.hidden = true
  const input = h("input", {
    id: "key",
    type: "password",
    autocomplete: "current-password",
    required: true,
    placeholder: "API key"
  })
  const form = h(
    "form",
    { id: "login-form", class: "login" },
    h("h1", {}, "Log in"),
    h("p", {}, "Enter one of the service's API keys. It is kept for this browser session only."),
    message === undefined ? false : h("p", { id: "login-error", class: "error", role: "alert" }, message),
    h("label", {}, "API key ", input),
    h("button", { type: "submit" }, "Log in")
  )
  form.addEventListener("submit", async (event) => {
    event.preventDefault()
    const key = input.value.trim()
    try {
      await api("/v1/overview", { key })
    } catch (error) {
      return login(error instanceof Unauthorized ? "That key was not accepted." : String(error.message))
    }
    sessionStorage.setItem(KEY, key)
    route()
  })
  show(form)
  input.focus()
}

// ---------------------------------------------------------------------------------------------------------------
// overview and list

const statuses = ["running", "completed", "compensated", "failed"]

const overviewSection = (overview) => {
  const perMinute = overview.lastHour.startedPerMinute
  const started = perMinute.reduce((a, b) => a + b, 0)
  const peak = Math.max(1, ...perMinute)
  const spark = svg(
    "svg",
    { class: "spark", viewBox: "0 0 120 30", preserveAspectRatio: "none", role: "img" },
    svg("title", {}, "sagas started per minute, last 60 minutes"),
    ...perMinute.map((n, i) => svg("rect", { x: i * 2, y: 30 - (n / peak) * 30, width: 1.6, height: (n / peak) * 30 }))
  )
  const latency = overview.lastHour.latency
  return h(
    "section",
    { id: "overview", class: "cards" },
    ...statuses.map((status) =>
      h(
        "a",
        { class: `card ${status}`, href: `#/?status=${status}` },
        h("span", { class: "count", id: `count-${status}` }, overview.counts[status]),
        h("span", { class: "label" }, status)
      )
    ),
    h(
      "a",
      { class: `card attention${overview.needsPerson > 0 ? " alert" : ""}`, href: "#/?status=failed&resolved=false" },
      h("span", { class: "count", id: "count-needs-person" }, overview.needsPerson),
      h("span", { class: "label" }, "need a person")
    ),
    h(
      "div",
      { class: "card wide" },
      h("span", { class: "count", id: "per-minute" }, (started / 60).toFixed(2)),
      h("span", { class: "label" }, `sagas / minute, last hour (${started} started)`),
      spark
    ),
    h(
      "div",
      { class: "card wide", id: "latency" },
      latency === undefined
        ? h("span", { class: "label" }, "latency: no saga ended in the last hour")
        : h(
          "dl",
          { class: "latency" },
          ...["p50", "p95", "p99", "max"].flatMap((p) => [h("dt", {}, p), h("dd", {}, ms(latency[p]))])
        ),
      h("span", { class: "label" }, `latency of the ${overview.lastHour.ended} sagas ended in the last hour`)
    )
  )
}

const toLocalInput = (iso) => {
  if (iso === null) return undefined
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return undefined
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16)
}

const filterForm = (query) => {
  const choice = query.get("status") === "failed" && query.get("resolved") === "false"
    ? "needs-person"
    : query.get("status") ?? ""
  const select = h(
    "select",
    { id: "filter-status", name: "status" },
    h("option", { value: "" }, "any status"),
    ...statuses.map((status) => h("option", { value: status }, status)),
    h("option", { value: "needs-person" }, "needs a person")
  )
  select.value = choice
  const from = h("input", { id: "filter-from", type: "datetime-local", value: toLocalInput(query.get("from")) })
  const to = h("input", { id: "filter-to", type: "datetime-local", value: toLocalInput(query.get("to")) })
  const id = h("input", { id: "filter-id", type: "search", placeholder: "id contains", value: query.get("id") })
  const form = h(
    "form",
    { id: "filter", class: "filter" },
    h("label", {}, "Status ", select),
    h("label", {}, "Started from ", from),
    h("label", {}, "to ", to),
    h("label", {}, "Id ", id),
    h("button", { type: "submit" }, "Filter")
  )
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    const next = new URLSearchParams()
    if (select.value === "needs-person") {
      next.set("status", "failed")
      next.set("resolved", "false")
    } else if (select.value !== "") next.set("status", select.value)
    if (from.value !== "") next.set("from", new Date(from.value).toISOString())
    if (to.value !== "") next.set("to", new Date(to.value).toISOString())
    if (id.value.trim() !== "") next.set("id", id.value.trim())
    location.hash = `#/?${next}`
  })
  return form
}

const listSection = (query, page) => {
  const rows = page.transactions.map((saga) =>
    h(
      "tr",
      { "data-id": saga.id, class: needsPerson(saga) ? "attention" : undefined },
      h("td", {}, h("a", { href: `#/saga/${encodeURIComponent(saga.id)}` }, saga.id)),
      h("td", {}, saga.name),
      h("td", {}, badge(saga.status, saga.resolution)),
      h("td", {}, time(saga.startedAt)),
      h("td", {}, time(saga.endedAt)),
      h("td", {}, saga.endedAt === undefined ? "" : ms(Date.parse(saga.endedAt) - Date.parse(saga.startedAt))),
      h(
        "td",
        { class: "error" },
        saga.resolution === undefined ? saga.error ?? "" : `resolved: ${saga.resolution.reason}`
      )
    )
  )
  const first = new URLSearchParams(query)
  first.delete("cursor")
  const next = new URLSearchParams(query)
  if (page.next !== undefined) next.set("cursor", page.next)
  return h(
    "section",
    { id: "list" },
    h("h2", {}, "Sagas"),
    filterForm(query),
    rows.length === 0
      ? h("p", { id: "empty" }, "No saga matches.")
      : h(
        "table",
        { id: "sagas" },
        h(
          "thead",
          {},
          h("tr", {}, ...["Id", "Name", "Status", "Started", "Ended", "Duration", "Error"].map((t) => h("th", {}, t)))
        ),
        h("tbody", {}, rows)
      ),
    h(
      "p",
      { class: "pager" },
      query.has("cursor") ? h("a", { href: `#/?${first}`, id: "first-page" }, "← newest") : false,
      page.next === undefined ? false : h("a", { href: `#/?${next}`, id: "next-page" }, "older →")
    )
  )
}

const home = async (query) => {
  const params = new URLSearchParams()
  for (const name of ["status", "resolved", "from", "to", "id", "cursor"]) {
    const value = query.get(name)
    if (value !== null && value !== "") params.set(name, value)
  }
  params.set("limit", "50")
  const [overview, page] = await Promise.all([api("/v1/overview"), api(`/v1/transactions?${params}`)])
  show(h("h1", {}, "Overview"), overviewSection(overview), listSection(query, page))
}

// ---------------------------------------------------------------------------------------------------------------
// a saga

const timeline = (saga) => {
  const start = Date.parse(saga.startedAt)
  const ends = [saga.endedAt, ...saga.events.map((event) => event.at)].filter(Boolean).map(Date.parse)
  const span = Math.max(1, Math.max(start + 1, ...ends) - start)
  const bar = (from, to, kind, label) => {
    const element = h("span", { class: `bar ${kind}`, title: label })
    const left = ((Date.parse(from) - start) / span) * 100
    const right = to === undefined ? 100 : ((Date.parse(to) - start) / span) * 100
    element.style.left = `${left}%`
    element.style.width = `${Math.max(0.5, right - left)}%`
    return element
  }
  return h(
    "section",
    { id: "timeline" },
    h("h2", {}, "Timeline"),
    h("p", { class: "axis" }, h("span", {}, time(saga.startedAt)), h("span", {}, `+${ms(span)}`)),
    ...saga.steps.map((step) =>
      h(
        "div",
        { class: "lane", "data-step": step.id },
        h(
          "span",
          { class: "lane-label" },
          `${step.id} ${step.operation ?? ""} ${step.entity ?? ""}`,
          step.attempts > 1
            ? h("span", { class: "retries" }, ` ${step.attempts - 1} retr${step.attempts > 2 ? "ies" : "y"}`)
            : false
        ),
        h(
          "span",
          { class: "track" },
          bar(
            step.startedAt,
            step.endedAt,
            step.status === "failed" ? "failed" : "action",
            `${step.id}: ${step.status}`
          ),
          step.compensation === undefined
            ? false
            : bar(
              step.compensation.startedAt,
              step.compensation.endedAt,
              step.compensation.status === "failed" ? "undo-failed" : "undo",
              `undo of ${step.id}: ${step.compensation.status}`
            )
        )
      )
    ),
    h(
      "p",
      { class: "legend" },
      h("span", { class: "bar action" }),
      " action ",
      h("span", { class: "bar undo" }),
      " undo ",
      h("span", { class: "bar undo-failed" }),
      " undo failed ",
      h("span", { class: "bar failed" }),
      " failed"
    )
  )
}

const stepsTable = (saga) =>
  h(
    "section",
    { id: "steps" },
    h("h2", {}, "Steps"),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...[
            "Step",
            "Source",
            "Engine",
            "Entity",
            "Operation",
            "Status",
            "Attempts",
            "Started",
            "Ended",
            "Records",
            "Error",
            "Its undo record will",
            "Undo"
          ].map((t) => h("th", {}, t))
        )
      ),
      h(
        "tbody",
        {},
        ...saga.steps.map((step) =>
          h(
            "tr",
            { "data-step": step.id },
            h("td", {}, step.id),
            h("td", {}, step.tag ?? ""),
            h("td", {}, step.engine ?? ""),
            h("td", {}, step.entity ?? ""),
            h("td", {}, step.operation ?? ""),
            h("td", {}, h("span", { class: `badge ${step.status}` }, step.status)),
            h("td", {}, step.attempts),
            h("td", {}, instant(step.startedAt)),
            h("td", {}, instant(step.endedAt), step.duration === undefined ? "" : ` (${ms(step.duration)})`),
            h("td", {}, step.affectedRows ?? ""),
            h("td", { class: "error" }, step.error ?? ""),
            h(
              "td",
              { class: "undo" },
              step.undo === undefined ? "" : h("ul", {}, ...step.undo.map((u) => h("li", {}, u)))
            ),
            h(
              "td",
              { class: step.compensation?.status === "failed" ? "error" : undefined },
              step.compensation === undefined
                ? ""
                : `${step.compensation.status}${
                  step.compensation.error === undefined ? "" : `: ${step.compensation.error}`
                }`
            )
          )
        )
      )
    )
  )

const eventsTable = (saga) =>
  h(
    "section",
    { id: "events" },
    h("h2", {}, "Journal entries"),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ...["At", "Entry", "Step", "Attempt", "Status", "Detail"].map((t) => h("th", {}, t)))),
      h(
        "tbody",
        {},
        ...saga.events.map((event) =>
          h(
            "tr",
            {},
            h("td", {}, instant(event.at)),
            h("td", {}, event.type),
            h("td", {}, event.stepId ?? ""),
            h("td", {}, event.attempt ?? ""),
            h("td", {}, event.status ?? ""),
            h(
              "td",
              { class: event.error === undefined || event.type === "SagaReopened" ? undefined : "error" },
              event.error ?? event.reason ?? ""
            )
          )
        )
      )
    )
  )

const actions = (saga, message) => {
  if (!needsPerson(saga)) return message === undefined ? false : h("p", { id: "action-result" }, message)
  const retry = h("button", { id: "retry", type: "button" }, "Retry compensation now")
  const reason = h("textarea", { id: "resolve-reason", rows: 2, required: true, placeholder: "what was done by hand" })
  const form = h(
    "form",
    { id: "resolve-form" },
    h("label", {}, "Mark resolved by hand, because: ", reason),
    h("button", { id: "resolve-submit", type: "submit" }, "Mark resolved")
  )
  const result = message === undefined ? false : h("p", { id: "action-result" }, message)
  const busy = (on) => {
    retry.disabled = on
    form.querySelector("button").disabled = on
  }
  retry.addEventListener("click", async () => {
    busy(true)
    try {
      const outcome = await api(`/v1/transactions/${encodeURIComponent(saga.id)}/compensate`, { method: "POST" })
      await sagaPage(
        saga.id,
        outcome.status === "compensated"
          ? `Compensation retried: ${outcome.status}.`
          : `Compensation retried and failed again: ${outcome.error ?? "see the steps"}`
      )
    } catch (error) {
      if (error instanceof Unauthorized) return login("The key is no longer accepted.")
      await sagaPage(saga.id, `Retry refused: ${error.message}`)
    }
  })
  form.addEventListener("submit", async (event) => {
    event.preventDefault()
    busy(true)
    try {
      await api(`/v1/transactions/${encodeURIComponent(saga.id)}/resolve`, {
        method: "POST",
        body: { reason: reason.value }
      })
      await sagaPage(saga.id, "Marked resolved by hand.")
    } catch (error) {
      if (error instanceof Unauthorized) return login("The key is no longer accepted.")
      await sagaPage(saga.id, `Not resolved: ${error.message}`)
    }
  })
  return h(
    "section",
    { id: "actions", class: "actions" },
    h("h2", {}, "This saga needs a person"),
    h(
      "p",
      {},
      "Its compensation failed: ",
      h("strong", {}, saga.pendingCompensations.join(", ")),
      " not undone. ",
      "Fix the cause, then retry; or repair by hand and mark it resolved."
    ),
    retry,
    form,
    result
  )
}

const sagaPage = async (id, message) => {
  const saga = await api(`/v1/transactions/${encodeURIComponent(id)}`)
  const facts = [
    ["Name", saga.name],
    ["Started", time(saga.startedAt)],
    ["Ended", time(saga.endedAt)],
    ["Execution time", ms(saga.executionTime)],
    ["Error", saga.error],
    ["Undone", saga.compensatedSteps.join(", ")],
    ["Left to undo", saga.pendingCompensations.join(", ")],
    ["In doubt", saga.inDoubt.join(", ")]
  ].filter(([, value]) => value !== undefined && value !== "")
  show(
    h("p", {}, h("a", { href: "#/" }, "← all sagas")),
    h(
      "h1",
      {},
      "Saga ",
      h("code", { id: "saga-id" }, saga.id),
      " ",
      h("span", { id: "saga-status" }, badge(saga.status, saga.resolution))
    ),
    h("dl", { class: "facts" }, ...facts.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
    saga.resolution === undefined ? false : h(
      "p",
      { id: "resolution", class: "resolution" },
      `Resolved by hand at ${time(saga.resolution.at)}: `,
      h("q", {}, saga.resolution.reason)
    ),
    actions(saga, message),
    timeline(saga),
    stepsTable(saga),
    eventsTable(saga)
  )
}

// ---------------------------------------------------------------------------------------------------------------
// routing

const route = async () => {
  if (sessionStorage.getItem(KEY) === null) return login()
  nav.hidden = false
  const hash = location.hash.replace(/^#/, "") || "/"
  try {
    if (hash.startsWith("/saga/")) await sagaPage(decodeURIComponent(hash.slice("/saga/".length)))
    else await home(new URLSearchParams(hash.split("?")[1] ?? ""))
  } catch (error) {
    if (error instanceof Unauthorized) return login("That key was not accepted.")
    show(
      h("p", { class: "error", id: "page-error", role: "alert" }, error.message),
      h("p", {}, h("a", { href: "#/" }, "← overview"))
    )
  }
}

document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY)
  location.hash = "#/"
  login()
})
window.addEventListener("hashchange", route)
route()

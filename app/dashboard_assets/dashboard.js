// The operator dashboard: first state from the JSON routes, then live from the WebSocket
// feeds (/tasks/updates, /workers/updates). The session cookie authenticates both; changes
// send the page's CSRF token in X-CSRFToken. Data is written with textContent only.
"use strict";

(function () {
  const page = document.body.dataset;
  const CSRF_TOKEN = page.csrfToken;
  const LOGIN_URL = page.loginUrl;
  const BUCKET_MS = 30 * 1000;          // one bar of the sentiment chart
  const HISTORY_MS = 10 * 60 * 1000;    // replayed from the event stream on load
  const REFRESH_MS = 10 * 1000;         // aggregates the feeds cannot carry (response times)
  const ALERTS_KEPT = 20;
  const PRIORITIES = ["high", "normal", "low"];
  const KNOWN_LABELS = ["positive", "neutral", "negative", "mixed", "unknown"];
  const COLORS = {positive: "#2f9e5b", neutral: "#98a2ad", negative: "#d64545",
                  mixed: "#e0a030", unknown: "#6f6f80"};
  const EXTRA_COLORS = ["#7b61ff", "#1f8fbf", "#b35c9e", "#8d6e63", "#4c9a2a"];
  const SVG = "http://www.w3.org/2000/svg";

  const state = {
    channels: {},             // name -> GET /channels entry, kept live by task events
    queues: {},               // priority -> tasks waiting
    workers: new Map(),       // id -> worker, with lastBeat (local clock) and interval
    series: {},               // channel -> Map(bucket start ms -> {label: count})
    labels: [],               // every sentiment label seen, in display order
    taskStatus: new Map(),    // task id -> last status seen, for exact transitions
    lastEventId: null,        // resume point of /tasks/updates
    liveFrom: 0,              // events before this (stream time) are history: chart only
    clockOffset: 0,           // server clock minus ours, from the Date header
  };

  // ---- helpers -----------------------------------------------------------------------
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function replaceRows(tbody, rows, emptyText, columns) {
    tbody.replaceChildren(...rows);
    if (!rows.length) {
      const cell = el("td", emptyText);
      cell.colSpan = columns;
      const row = el("tr", null, "empty");
      row.append(cell);
      tbody.append(row);
    }
  }

  function badge(text, kind) {
    return el("span", text, "badge " + (kind || text));
  }

  function serverNow() {
    return Date.now() + state.clockOffset;
  }

  function showProblem(message) {
    const box = document.getElementById("problem");
    box.hidden = !message;
    box.textContent = message || "";
  }

  function timeOf(iso) {
    const at = iso ? new Date(iso) : null;
    return at && !isNaN(at) ? at.toLocaleTimeString() : "–";
  }

  function labelColor(label) {
    if (COLORS[label]) return COLORS[label];
    const extra = state.labels.filter((name) => !COLORS[name]);
    return EXTRA_COLORS[Math.max(extra.indexOf(label), 0) % EXTRA_COLORS.length];
  }

  function noteLabel(label) {
    if (state.labels.includes(label)) return;
    state.labels.push(label);
    const rank = (name) => (KNOWN_LABELS.includes(name) ? KNOWN_LABELS.indexOf(name) : 99);
    state.labels.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    renderLegend();
  }

  // ---- the JSON routes ---------------------------------------------------------------
  async function api(path, options) {
    const response = await fetch(path, Object.assign({credentials: "same-origin"}, options, {
      headers: Object.assign({"Accept": "application/json"}, (options || {}).headers)}));
    if (response.status === 401) {  // the session ended (expiry, logout elsewhere)
      window.location.assign(LOGIN_URL);
      throw new Error("signed out");
    }
    const date = Date.parse(response.headers.get("Date"));
    if (!isNaN(date)) state.clockOffset = date - Date.now();
    const body = await response.json();
    if (!response.ok && !(path.startsWith("/health") && body.status)) {
      const error = body.error || {};
      throw new Error(`${path}: ${error.code || response.status} ${error.message || ""}`);
    }
    return body;
  }

  async function refresh() {
    try {
      const [channels, workers, health, metrics] = await Promise.all(
        ["/channels", "/workers", "/health", "/metrics"].map((path) => api(path)));
      state.channels = channels.channels;
      for (const name of Object.keys(state.channels)) state.series[name] = state.series[name] || new Map();
      const waiting = ((health.components || {}).queues || {}).tasks || {};
      state.queues = Object.assign({}, waiting.by_priority || {});
      mergeWorkers(workers.workers);
      renderHealth(health);
      renderMetrics(metrics, waiting);
      renderChannels();
      renderQueues();
      renderWorkers();
      renderCharts();
      showProblem(health.status === "unhealthy" ? "Redis is unreachable: figures are stale." : "");
    } catch (error) {
      if (error.message !== "signed out") showProblem(`Could not refresh: ${error.message}`);
    }
  }

  function mergeWorkers(list) {
    const seen = new Set();
    for (const worker of list) {
      const key = String(worker.id);
      seen.add(key);
      const known = state.workers.get(key) || {lastBeat: Date.now(), interval: 2};
      state.workers.set(key, Object.assign(known, {
        id: worker.id, node: worker.hostname, status: worker.status, busy: worker.busy,
        concurrency: worker.concurrency, load: worker.current_load,
        tasks_processed: worker.tasks_processed, queues: worker.queues,
        last_seen: worker.last_seen}));
    }
    for (const key of [...state.workers.keys()]) if (!seen.has(key)) state.workers.delete(key);
  }

  async function setPaused(channel, paused) {
    try {
      await api(`/channels/${encodeURIComponent(channel)}/${paused ? "pause" : "resume"}`, {
        method: "POST", headers: {"X-CSRFToken": CSRF_TOKEN}});
      await refresh();
    } catch (error) {
      showProblem(`Could not ${paused ? "pause" : "resume"} ${channel}: ${error.message}`);
    }
  }

  // ---- the WebSocket feeds -----------------------------------------------------------
  function feed(path, query, onMessage, statusName) {
    let attempt = 0;
    const open = () => {
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      const socket = new WebSocket(`${scheme}//${window.location.host}${path}${query()}`);
      socket.onopen = () => { attempt = 0; setFeedStatus(statusName, true); };
      socket.onmessage = (message) => onMessage(JSON.parse(message.data));
      socket.onclose = () => {
        setFeedStatus(statusName, false);
        // Backoff with jitter; a refused handshake (session gone) is caught by refresh().
        const delay = Math.min(15000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
        attempt += 1;
        window.setTimeout(open, delay);
      };
    };
    open();
  }

  const feedsUp = {};
  function setFeedStatus(name, up) {
    feedsUp[name] = up;
    const all = Object.values(feedsUp).every(Boolean);
    const status = document.getElementById("feed-status");
    status.textContent = all ? "live" : "reconnecting…";
    status.className = "badge " + (all ? "live" : "degraded");
  }

  function taskQuery() {
    // First connection: the last HISTORY_MS of the stream (ids are Redis's ms clock), so the
    // chart starts with history; later ones resume after the last event seen.
    const from = state.lastEventId || `${Math.floor(serverNow() - HISTORY_MS)}-0`;
    if (!state.lastEventId) state.liveFrom = serverNow();
    return `?last_event_id=${encodeURIComponent(from)}`;
  }

  function onTaskEvent(event) {
    if (event.type === "gap") return;  // older history was trimmed; nothing to redraw
    state.lastEventId = event.id;
    const at = Number(event.id.split("-")[0]);
    if (event.type === "escalation") {
      const channel = state.channels[event.channel];
      if (channel && at >= state.liveFrom && channel.escalated !== undefined) {
        channel.escalated += 1;
        schedule(renderChannels);
      }
      return;
    }
    if (event.type !== "task") return;
    if (at >= state.liveFrom) applyTransition(event);
    if (event.status === "completed" && event.result) {
      const label = String(event.result.sentiment || "unknown");
      noteLabel(label);
      const series = state.series[event.channel] = state.series[event.channel] || new Map();
      const bucket = Math.floor(at / BUCKET_MS) * BUCKET_MS;
      const counts = series.get(bucket) || {};
      counts[label] = (counts[label] || 0) + 1;
      series.set(bucket, counts);
      if (event.priority === "high" && label === "negative") addAlert(event);
      scheduleCharts();
    }
  }

  // Moves the live counts as each task changes state; refresh() re-reads them every 10 s.
  function applyTransition(event) {
    const before = state.taskStatus.get(event.task_id) ||
      ({processing: "queued", completed: "processing", failed: "processing",
        cancelled: "queued"})[event.status];
    state.taskStatus.set(event.task_id, event.status);
    if (state.taskStatus.size > 5000) state.taskStatus.delete(state.taskStatus.keys().next().value);
    const channel = state.channels[event.channel];
    const move = (status, delta) => {
      if (status === "queued") {
        state.queues[event.priority] = Math.max(0, (state.queues[event.priority] || 0) + delta);
        if (channel) channel.queued = Math.max(0, channel.queued + delta);
      } else if (status === "processing" && channel) {
        channel.processing = Math.max(0, channel.processing + delta);
      }
    };
    if (before !== event.status) {
      move(before, -1);
      move(event.status, +1);
    }
    if (channel) {
      channel.current_load = channel.queued + channel.processing;
      if (event.status === "completed") channel.completed += 1;
      if (event.status === "failed") channel.failed += 1;
    }
    schedule(renderChannels);
    schedule(renderQueues);
  }

  function onWorkerEvent(event) {
    if (event.type !== "worker") return;
    const key = String(event.id);
    const worker = state.workers.get(key) || {id: event.id, queues: []};
    Object.assign(worker, {node: event.node || worker.node, status: event.status,
                           busy: event.busy, load: event.load, concurrency: event.concurrency,
                           tasks_processed: event.tasks_processed, last_seen: event.at,
                           lastBeat: Date.now(), interval: event.heartbeat_seconds || 2});
    state.workers.set(key, worker);
    schedule(renderWorkers);
  }

  function markSilentWorkers() {  // offline after 3 missed beats, as GET /workers says
    let changed = false;
    for (const worker of state.workers.values()) {
      if (worker.status !== "offline" && Date.now() - worker.lastBeat > 3000 * worker.interval) {
        Object.assign(worker, {status: "offline", busy: 0, load: 0});
        changed = true;
      }
    }
    if (changed) renderWorkers();
  }

  function addAlert(event) {
    const tbody = document.getElementById("alerts");
    tbody.querySelector("tr.empty")?.remove();
    const scores = event.result.scores || {};
    const row = el("tr", null, "alert");
    row.dataset.taskId = event.task_id;
    const link = el("a", event.task_id);
    link.href = `/task/${encodeURIComponent(event.task_id)}`;
    link.target = "_blank";
    const taskCell = el("td");
    taskCell.append(link);
    row.append(el("td", timeOf(event.at)), el("td", event.channel),
               el("td", event.customer_id || "–"), taskCell,
               el("td", scores.compound ?? "–"), el("td", event.result.confidence ?? "–"));
    tbody.prepend(row);
    while (tbody.rows.length > ALERTS_KEPT) tbody.deleteRow(-1);
  }

  // ---- rendering ---------------------------------------------------------------------
  function renderHealth(health) {
    const node = document.getElementById("health");
    const reasons = (health.reasons || []).join("; ");
    node.textContent = `health: ${health.status}`;
    node.className = "badge " + health.status;
    node.title = reasons;
  }

  function renderMetrics(metrics, waiting) {
    const times = metrics.response_times || {};
    const ms = (value) => (value === null || value === undefined ? "–" : `${value} ms`);
    const figures = [
      ["response p50", ms(times.p50)], ["response p95", ms(times.p95)],
      ["requests/s", metrics.throughput.requests_per_second],
      ["tasks/s", metrics.throughput.tasks_per_second],
      ["error rate", `${(metrics.error_rates.total * 100).toFixed(2)}%`],
      ["oldest wait", waiting.oldest_wait_seconds == null ? "–" : `${waiting.oldest_wait_seconds} s`],
    ];
    document.getElementById("metrics").replaceChildren(
      ...figures.flatMap(([name, value]) => [el("dt", name), el("dd", value)]));
  }

  function renderChannels() {
    const rows = Object.entries(state.channels).map(([name, channel]) => {
      const row = el("tr");
      row.dataset.channel = name;
      const paused = channel.status === "paused";
      const button = el("button", paused ? "Resume" : "Pause", "small");
      button.addEventListener("click", () => setPaused(name, !paused));
      const statusCell = el("td");
      statusCell.append(badge(channel.status));
      const actions = el("td");
      actions.append(button);
      row.append(el("th", name), statusCell, el("td", channel.current_load, "load"),
                 el("td", channel.queued), el("td", channel.processing),
                 el("td", channel.workers), el("td", channel.response_time || "–"),
                 el("td", channel.response_time_p95_ms == null ? "–"
                   : `${Math.round(channel.response_time_p95_ms)} ms`),
                 el("td", channel.completed), el("td", channel.failed),
                 el("td", channel.escalated ?? "–", "escalated"), actions);
      return row;
    });
    replaceRows(document.getElementById("channels"), rows, "no channels", 12);
  }

  function renderQueues() {
    const most = Math.max(1, ...PRIORITIES.map((p) => state.queues[p] || 0));
    const rows = PRIORITIES.map((priority) => {
      const depth = state.queues[priority] || 0;
      const row = el("div", null, "bar-row");
      row.dataset.priority = priority;
      const track = el("div", null, "bar-track");
      const fill = el("div", null, `bar-fill ${priority}`);
      fill.style.width = `${(100 * depth) / most}%`;
      track.append(fill);
      row.append(el("span", priority, "bar-label"), track, el("span", depth, "bar-value"));
      return row;
    });
    document.getElementById("queues").replaceChildren(...rows);
    document.getElementById("queue-note").textContent =
      "Tasks waiting in each priority step, all channels together.";
  }

  function renderWorkers() {
    const rows = [...state.workers.values()].map((worker) => {
      const row = el("tr");
      row.dataset.workerId = String(worker.id);
      const statusCell = el("td");
      statusCell.append(badge(worker.status));
      const loadCell = el("td");
      const meter = el("meter");
      meter.min = 0; meter.max = 1; meter.value = worker.load || 0;
      loadCell.append(meter, el("span", ` ${Math.round((worker.load || 0) * 100)}%`));
      row.append(el("th", worker.id), el("td", worker.node), statusCell,
                 el("td", `${worker.busy ?? 0}/${worker.concurrency ?? "?"}`), loadCell,
                 el("td", worker.tasks_processed), el("td", (worker.queues || []).join(", ")),
                 el("td", timeOf(worker.last_seen)));
      return row;
    });
    replaceRows(document.getElementById("workers"), rows, "no worker seen", 8);
  }

  function renderLegend() {
    document.getElementById("legend").replaceChildren(...state.labels.map((label) => {
      const item = el("span", null, "legend-item");
      const swatch = el("span", null, "swatch");
      swatch.style.background = labelColor(label);
      item.append(swatch, el("span", label));
      return item;
    }));
  }

  // At most one redraw of a panel per animation frame, however many events arrive.
  const pending = new Set();
  function schedule(render) {
    if (pending.has(render)) return;
    pending.add(render);
    window.requestAnimationFrame(() => { pending.delete(render); render(); });
  }

  function scheduleCharts() {
    schedule(renderCharts);
  }

  function renderCharts() {
    const now = serverNow();
    const last = Math.floor(now / BUCKET_MS) * BUCKET_MS;
    const buckets = [];
    for (let start = last - HISTORY_MS + BUCKET_MS; start <= last; start += BUCKET_MS) buckets.push(start);
    const charts = Object.keys(state.series).sort().map((channel) => {
      const series = state.series[channel];
      for (const start of [...series.keys()]) if (start < buckets[0]) series.delete(start);
      return chart(channel, buckets, series);
    });
    document.getElementById("sentiment-charts").replaceChildren(...charts);
  }

  function chart(channel, buckets, series) {
    const width = 360, height = 150, left = 34, bottom = 18, top = 8;
    const plotWidth = width - left - 6, plotHeight = height - bottom - top;
    const totals = buckets.map((start) =>
      Object.values(series.get(start) || {}).reduce((a, b) => a + b, 0));
    const most = Math.max(1, ...totals);
    const figure = el("figure", null, "chart");
    figure.dataset.channel = channel;
    const graphic = svg("svg", {viewBox: `0 0 ${width} ${height}`, role: "img",
                                 "aria-label": `sentiment of ${channel} over time`});
    graphic.append(svg("line", {x1: left, y1: top + plotHeight, x2: width - 6,
                                y2: top + plotHeight, class: "axis"}));
    graphic.append(svg("text", {x: left - 4, y: top + 8, class: "tick", "text-anchor": "end"}, most));
    graphic.append(svg("text", {x: left - 4, y: top + plotHeight, class: "tick",
                                "text-anchor": "end"}, 0));
    graphic.append(svg("text", {x: left, y: height - 4, class: "tick"}, "−10 min"));
    graphic.append(svg("text", {x: width - 6, y: height - 4, class: "tick",
                                "text-anchor": "end"}, "now"));
    const slot = plotWidth / buckets.length;
    buckets.forEach((start, index) => {
      const counts = series.get(start) || {};
      let y = top + plotHeight;
      for (const label of state.labels) {
        const count = counts[label] || 0;
        if (!count) continue;
        const barHeight = (plotHeight * count) / most;
        y -= barHeight;
        const bar = svg("rect", {x: left + index * slot + 1, y, width: Math.max(slot - 2, 1),
                                 height: barHeight, fill: labelColor(label),
                                 "data-label": label, "data-count": count});
        bar.append(svg("title", {}, `${label}: ${count} at ${new Date(start).toLocaleTimeString()}`));
        graphic.append(bar);
      }
    });
    const total = [...series.values()].reduce(
      (sum, counts) => sum + Object.values(counts).reduce((a, b) => a + b, 0), 0);
    figure.append(graphic, el("figcaption", `${channel} · ${total} in 10 min`));
    return figure;
  }

  // ---- start -------------------------------------------------------------------------
  refresh().then(() => {
    feed("/tasks/updates", taskQuery, onTaskEvent, "tasks");
    feed("/workers/updates", () => "", onWorkerEvent, "workers");
  });
  window.setInterval(refresh, REFRESH_MS);
  window.setInterval(markSilentWorkers, 1000);
  window.setInterval(scheduleCharts, BUCKET_MS / 3);  // bars slide left as time passes
})();

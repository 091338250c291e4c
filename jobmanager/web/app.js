// app.js - the dashboard (docs/dashboard.md): reads the JobManager's REST
// API (docs/rest.md) and draws the cluster, its jobs and a job's graph.
// No framework, no build step: DOM built with h(), hash routing, a poll
// every POLL_MS while the tab is visible. Every string from the API goes
// in through textContent or an attribute, never as HTML.
'use strict';

(function () {
  const POLL_MS = 1500;
  const TOKEN_KEY = 'weir.token';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  // Flink's levels of the share of time blocked on full outputs
  const BP_LOW = 0.10, BP_HIGH = 0.5;
  const HISTORY_ROWS = 20; // checkpoints shown (the API keeps 64)

  let page = null;     // {kind, id, el, update}: what is shown
  let timer = null;
  let busy = false;    // a refresh is running
  const rates = {};    // "jid/vid" -> {t, in, out, rin, rout}

  // ---- small helpers ----

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    return fill(el, attrs, kids);
  }

  function s(tag, attrs, ...kids) {
    return fill(document.createElementNS(SVG_NS, tag), attrs, kids);
  }

  function fill(el, attrs, kids) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const k of kids.flat()) {
      if (k === null || k === undefined || k === false) continue;
      el.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return el;
  }

  function replace(el, ...kids) {
    el.replaceChildren();
    fill(el, {}, kids);
  }

  function fmtTime(ms) {
    if (!ms || ms < 0) return '-';
    const d = new Date(ms);
    const p = (n, w) => String(n).padStart(w || 2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
      `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  function fmtClock(ms) {
    const d = new Date(ms);
    const p = (n, w) => String(n).padStart(w || 2, '0');
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.` +
      p(d.getMilliseconds(), 3);
  }

  function fmtDur(ms) {
    if (ms === null || ms === undefined || ms < 0) return '-';
    if (ms < 1000) return ms + ' ms';
    let sec = Math.floor(ms / 1000);
    if (sec < 60) return (ms / 1000).toFixed(1) + ' s';
    const hh = Math.floor(sec / 3600), mm = Math.floor(sec % 3600 / 60);
    sec %= 60;
    return (hh ? hh + 'h ' : '') + mm + 'm ' + sec + 's';
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return '-';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + ' ' + u[i];
  }

  function fmtRate(r) {
    if (r === null || r === undefined) return '-';
    if (r >= 1e6) return (r / 1e6).toFixed(2) + 'M';
    if (r >= 1e4) return (r / 1e3).toFixed(1) + 'k';
    return r.toFixed(r < 10 ? 1 : 0);
  }

  function badge(state) {
    return h('span', { class: 'badge s-' + state }, state);
  }

  function bpLevel(ratio) {
    if (ratio === null || ratio === undefined) return 'none';
    return ratio <= BP_LOW ? 'ok' : ratio <= BP_HIGH ? 'low' : 'high';
  }

  function table(head, rows, empty) {
    if (!rows.length) return h('p', { class: 'muted' }, empty || 'None.');
    return h('table', {},
      h('thead', {}, h('tr', {}, head.map((c) => h('th', {}, c)))),
      h('tbody', {}, rows));
  }

  function td(v, num) {
    return h('td', num ? { class: 'num' } : {}, v);
  }

  function setStatus(text, error) {
    const el = document.getElementById('status');
    el.textContent = text;
    el.className = error ? 'error' : '';
  }

  // ---- the API, with the token ----

  class AuthError extends Error {}

  async function api(path, method, body) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, { method: method || 'GET', headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store' });
    let doc = null;
    try { doc = await res.json(); } catch (e) { doc = null; }
    if (res.status === 401) {
      askToken(token ? 'The token was refused: check it and try again.'
        : 'This cluster requires its token (security.token_file) on ' +
          'every API call.');
      throw new AuthError('authentication required');
    }
    if (!res.ok) {
      let msg = (doc && doc.errors) ? doc.errors.join('; ') : res.statusText;
      if (doc && doc.leader) msg += ' (leader: ' + doc.leader + ')';
      const err = new Error(`${method || 'GET'} ${path}: ${res.status} ${msg}`);
      err.status = res.status;
      throw err;
    }
    return doc;
  }

  function askToken(why) {
    document.getElementById('login-why').textContent = why;
    document.getElementById('login').hidden = false;
    document.getElementById('login-token').focus();
  }

  function onLogin(ev) {
    ev.preventDefault();
    const input = document.getElementById('login-token');
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = '';
    document.getElementById('login').hidden = true;
    refresh();
  }

  // ---- the cluster overview ----

  function overviewPage() {
    const cards = h('div', { class: 'cards', id: 'cluster-cards' });
    const leader = h('p', { id: 'leader' });
    const tms = h('div', { id: 'taskmanagers' });
    const el = h('div', {}, h('h1', {}, 'Cluster'), cards, leader,
      h('h2', {}, 'TaskManagers'), tms);
    let ha = null; // high_availability.mode, read once
    async function update() {
      if (ha === null) {
        const cfg = await api('/jobmanager/config');
        const e = cfg.find((x) => x.key === 'high_availability.mode');
        ha = e ? e.value : 'none';
      }
      const [ov, tm] = await Promise.all([api('/overview'),
        api('/taskmanagers')]);
      const card = (k, v, id) => h('div', { class: 'card', id },
        h('div', { class: 'v' }, v), h('div', { class: 'k' }, k));
      replace(cards,
        card('TaskManagers', ov.taskmanagers, 'c-tms'),
        card('TaskManagers lost', ov['taskmanagers-lost']),
        card('Slots total', ov['slots-total'], 'c-slots-total'),
        card('Slots available', ov['slots-available'], 'c-slots-free'),
        card('Jobs running', ov['jobs-running']),
        card('Jobs finished', ov['jobs-finished']),
        card('Jobs cancelled', ov['jobs-cancelled']),
        card('Jobs failed', ov['jobs-failed']));
      replace(leader, 'JobManager ', h('code', {}, ov['jm-instance']),
        ` (weir ${ov['weir-version']}, up since ${fmtTime(ov['start-time'])})`,
        ov.role === 'leader' ? ' is the leader' : ' is a standby',
        '; leader: ', h('code', { id: 'leader-addr' }, ov.leader || '-'),
        '; high availability: ', h('span', { id: 'ha-mode' },
          ha === 'none' ? 'off (one JobManager)' : ha));
      replace(tms, table(['ID', 'State', 'Slots free / total', 'RPC',
        'Data', 'Metrics', 'Last heartbeat'],
      tm.taskmanagers.map((t) => h('tr', { 'data-tm': t.id },
        td(t.id), h('td', {}, badge(t.state)),
        td(`${t.slots_free} / ${t.slots_total}`, true), td(t.address),
        td(t.data_address), td(t.metrics_address),
        td(t.time_since_last_heartbeat_ms + ' ms ago', true))),
      'No TaskManager registered.'));
    }
    return { el, update };
  }

  // ---- the jobs list ----

  function jobsPage() {
    const list = h('div', { id: 'jobs' });
    const el = h('div', {}, h('h1', {}, 'Jobs'), list);
    async function update() {
      const jobs = (await api('/jobs/overview')).jobs;
      jobs.sort((a, b) => b['start-time'] - a['start-time']);
      replace(list, table(['Name', 'State', 'Started', 'Duration', 'Tasks',
        'ID'], jobs.map((j) => h('tr', { 'data-jid': j.jid },
        h('td', {}, h('a', { href: '#/jobs/' + j.jid }, j.name)),
        h('td', {}, badge(j.state)), td(fmtTime(j['start-time'])),
        td(fmtDur(j.duration), true),
        td(`${j.tasks.running} / ${j.tasks.total}`, true),
        h('td', {}, h('code', {}, j.jid)))), 'No jobs.'));
    }
    return { el, update };
  }

  // ---- a job ----

  // Per-vertex figures from /jobs/{id}: rates from the counters' change
  // since the last poll, back-pressure from the worst subtask, the
  // watermark as the lowest subtask's.
  function vertexStats(jid, v, now) {
    const key = jid + '/' + v.id;
    const m = v.metrics || {};
    const cur = { t: now, in: m['read-records'], out: m['write-records'] };
    const prev = rates[key];
    if (prev && cur.t > prev.t && cur.in >= prev.in && cur.out >= prev.out) {
      const dt = (cur.t - prev.t) / 1000;
      cur.rin = (cur.in - prev.in) / dt;
      cur.rout = (cur.out - prev.out) / dt;
    } else if (prev && cur.t === prev.t) {
      cur.rin = prev.rin;
      cur.rout = prev.rout;
    }
    rates[key] = cur;
    let bp = null, wm = null;
    for (const st of v.subtasks || []) {
      const sm = st.metrics || {};
      if (sm.backPressuredTimeMsPerSecond !== undefined)
        bp = Math.max(bp || 0, sm.backPressuredTimeMsPerSecond / 1000);
      if (sm.currentInputWatermark !== undefined)
        wm = wm === null ? sm.currentInputWatermark
          : Math.min(wm, sm.currentInputWatermark);
    }
    return { rin: cur.rin, rout: cur.rout, bp, level: bpLevel(bp), wm };
  }

  // Columns by longest path from a source, rows in plan order.
  function layout(nodes) {
    const byId = {};
    nodes.forEach((n) => { byId[n.id] = n; });
    const col = {};
    const depth = (n, seen) => {
      if (col[n.id] !== undefined) return col[n.id];
      if (seen.has(n.id)) return 0;
      seen.add(n.id);
      let d = 0;
      for (const i of n.inputs || [])
        if (byId[i.id]) d = Math.max(d, depth(byId[i.id], seen) + 1);
      col[n.id] = d;
      return d;
    };
    nodes.forEach((n) => depth(n, new Set()));
    const rows = {}, pos = {};
    nodes.forEach((n) => {
      const c = col[n.id];
      rows[c] = (rows[c] || 0) + 1;
      pos[n.id] = { c, r: rows[c] - 1 };
    });
    return { pos, cols: Math.max(0, ...Object.values(col)) + 1,
      rows: Math.max(1, ...Object.values(rows)) };
  }

  const BOX_W = 230, BOX_H = 104, GAP_X = 90, GAP_Y = 30, PAD = 16;

  function drawGraph(plan, stats) {
    const { pos, cols, rows } = layout(plan.nodes);
    const W = PAD * 2 + cols * BOX_W + (cols - 1) * GAP_X;
    const H = PAD * 2 + rows * BOX_H + (rows - 1) * GAP_Y;
    const xy = (id) => ({ x: PAD + pos[id].c * (BOX_W + GAP_X),
      y: PAD + pos[id].r * (BOX_H + GAP_Y) });
    const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`,
      id: 'job-graph', role: 'img', 'aria-label': 'job graph' },
    s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10,
      refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto' },
    s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }))));
    for (const n of plan.nodes) {
      for (const i of n.inputs || []) {
        if (!pos[i.id]) continue;
        const a = xy(i.id), b = xy(n.id);
        const x1 = a.x + BOX_W, y1 = a.y + BOX_H / 2;
        const x2 = b.x, y2 = b.y + BOX_H / 2;
        const mx = (x1 + x2) / 2;
        svg.append(s('path', { class: 'edge', 'marker-end': 'url(#arrow)',
          'data-from': i.id, 'data-to': n.id,
          d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }),
        s('text', { class: 'elabel', x: mx, y: (y1 + y2) / 2 - 6,
          'text-anchor': 'middle' }, i.ship_strategy));
      }
    }
    for (const n of plan.nodes) {
      const { x, y } = xy(n.id);
      const st = stats[n.id] || {};
      const lvl = st.level || 'none';
      const name = n.description.length > 34
        ? n.description.slice(0, 33) + '\u2026' : n.description;
      svg.append(s('g', { class: 'vertex', 'data-vid': n.id,
        'data-bp': lvl.toUpperCase(), 'data-in-rate': st.rin,
        'data-out-rate': st.rout, transform: `translate(${x},${y})` },
      s('title', {}, n.description),
      s('rect', { class: 'vbox', width: BOX_W, height: BOX_H, rx: 6 }),
      s('text', { class: 'vtitle', x: 10, y: 20 }, name),
      s('text', { x: 10, y: 40 }, `parallelism ${n.parallelism}`),
      s('text', { x: 10, y: 58, class: 'rates' },
        `in ${fmtRate(st.rin)}/s \u00b7 out ${fmtRate(st.rout)}/s`),
      s('text', { x: 10, y: 76, class: 'wm' }, 'watermark ' +
        (st.wm === null || st.wm === undefined ? '-' : fmtClock(st.wm))),
      s('rect', { class: 'bp-' + lvl, x: 10, y: 84, width: BOX_W - 20,
        height: 14, rx: 3 }),
      s('text', { class: 'bpt', x: 16, y: 95 }, 'back-pressure ' +
        (lvl === 'none' ? '-' : lvl.toUpperCase()) +
        (st.bp === null || st.bp === undefined ? ''
          : ` (${Math.round(st.bp * 100)}%)`))));
    }
    return svg;
  }

  function subtaskRows(job) {
    const rows = [];
    for (const v of job.vertices) {
      for (const st of v.subtasks || []) {
        const m = st.metrics || {};
        const pct = (x) => x === undefined ? '-' : Math.round(x / 10) + '%';
        const ratio = m.backPressuredTimeMsPerSecond;
        const lvl = ratio === undefined ? 'none' : bpLevel(ratio / 1000);
        rows.push(h('tr', {}, td(v.name),
          td(`${st.subtask + 1}/${v.parallelism}`, true),
          h('td', {}, badge(st.status)), td(st.attempt, true),
          h('td', { class: 'tm' }, st['taskmanager-id'] || '-'),
          td(m['read-records'] === undefined ? '-' : m['read-records'], true),
          td(m['write-records'] === undefined ? '-' : m['write-records'], true),
          h('td', {}, h('span', { class: 'badge bp-' + lvl },
            lvl === 'none' ? '-' : lvl.toUpperCase()), ' ', pct(ratio)),
          td(pct(m.busyTimeMsPerSecond), true),
          td(pct(m.idleTimeMsPerSecond), true),
          td(m.currentInputWatermark === undefined ? '-'
            : fmtClock(m.currentInputWatermark))));
      }
    }
    return table(['Vertex', 'Subtask', 'Status', 'Attempt', 'TaskManager',
      'Records in', 'Records out', 'Back-pressure', 'Busy', 'Idle',
      'Watermark'], rows, 'No subtasks.');
  }

  function checkpointView(jid, ck) {
    const c = ck.counts, latest = ck.latest;
    const rest = latest.restored;
    const line = (k, e) => h('p', {}, h('b', {}, k + ': '), e
      ? `#${e.id} ${e.external_path || ''}` : 'none');
    return h('div', {},
      h('p', {}, `completed ${c.completed}, failed ${c.failed}, ` +
        `in progress ${c.in_progress}, restored ${c.restored}; ` +
        `restarts ${ck.restarts}`),
      line('Latest completed', latest.completed),
      line('Latest savepoint', latest.savepoint),
      h('p', { id: 'restored-from' }, h('b', {}, 'Restored from: '),
        rest ? `#${rest.id} ${rest.external_path || rest.path || ''}`
          : 'nothing (started fresh)'),
      table(['ID', 'Type', 'Status', 'Triggered', 'Duration', 'State size',
        'Alignment', 'Acknowledged', 'Path / failure'],
      ck.history.slice(0, HISTORY_ROWS).map((e) => h('tr', { 'data-ckpt': e.id },
        td(e.id, true), td(e.is_savepoint ? 'savepoint' : 'checkpoint'),
        h('td', {}, badge(e.status)), td(fmtTime(e.trigger_timestamp)),
        td(e.status === 'IN_PROGRESS' ? '-' : fmtDur(e.end_to_end_duration),
          true),
        td(fmtBytes(e.state_size), true),
        td(fmtDur(e.alignment_duration), true),
        td(`${e.num_acknowledged_subtasks} / ${e.num_subtasks}`, true),
        td(e.failure_message || e.external_path || ''))),
      'No checkpoints yet.'),
      ck.history.length > HISTORY_ROWS ? h('p', { class: 'muted' },
        `${ck.history.length - HISTORY_ROWS} older entries in ` +
        `/jobs/${jid}/checkpoints`) : null);
  }

  function exceptionView(ex) {
    const ents = ex.exceptionHistory.entries;
    const one = (e) => h('div', {},
      h('pre', { class: 'cause' }, e.stacktrace),
      e.taskName ? h('div', { class: 'muted' }, 'task ' + e.taskName) : null,
      e.taskManagerId
        ? h('div', { class: 'muted' }, 'TaskManager ' + e.taskManagerId)
        : null);
    return h('div', {},
      h('p', { id: 'root-exception' }, h('b', {}, 'Root exception: '),
        ex['root-exception'] || 'none'),
      table(['Time', 'Kind', 'Cause', 'With it'], ents.map((e) =>
        h('tr', { class: 'exception' }, td(fmtTime(e.timestamp)),
          td(e.exceptionName), h('td', {}, one(e)),
          h('td', {}, e.concurrentExceptions.map(one)))),
      'No failures: the job has not restarted.'));
  }

  function jobPage(jid) {
    const title = h('h1', {}, jid);
    const info = h('p', { id: 'job-info' });
    const op = h('span', { id: 'op' });
    const btn = (id, label, fn, cls) => h('button', { id, class: cls,
      type: 'button', onclick: () => fn().catch(opError) }, label);
    const actions = h('div', { class: 'actions' },
      btn('btn-savepoint', 'Trigger savepoint', savepoint),
      btn('btn-stop', 'Stop with savepoint', stop),
      btn('btn-cancel', 'Cancel job', cancel, 'danger'), op);
    const graph = h('div', { class: 'graph', id: 'graph' });
    const subtasks = h('div', { id: 'subtasks' });
    const ckpts = h('div', { id: 'checkpoints' });
    const excs = h('div', { id: 'exceptions' });
    const el = h('div', {}, title, info, actions, h('h2', {}, 'Job graph'),
      graph, h('h2', {}, 'Subtasks'), subtasks,
      h('h2', {}, 'Checkpoints'), ckpts,
      h('h2', {}, 'Exceptions and restarts'), excs);
    let pending = null; // {rid, what}: a savepoint being followed

    function opError(e) {
      if (e instanceof AuthError) return;
      op.textContent = e.message;
      op.className = 'error';
    }
    // one savepoint at a time: its buttons wait for it (update())
    function setButtons(ended, stoppable) {
      const busy = pending !== null;
      document.getElementById('btn-savepoint').disabled = ended || busy;
      document.getElementById('btn-stop').disabled =
        ended || busy || !stoppable;
      document.getElementById('btn-cancel').disabled = ended;
    }
    async function trigger(path, what) {
      const r = await api(`/jobs/${jid}/${path}`, 'POST', {});
      pending = { rid: r['request-id'], what };
      op.className = '';
      op.dataset.requestId = pending.rid;
      op.textContent = `${what} ${pending.rid} in progress (${r.path})`;
      setButtons(false, true);
    }
    function savepoint() { return trigger('savepoints', 'savepoint'); }
    async function stop() {
      if (!confirm('Stop the job with a savepoint?')) return;
      await trigger('stop', 'stop-with-savepoint');
    }
    async function cancel() {
      if (!confirm('Cancel the job? Its state is kept only in its ' +
        'checkpoints.')) return;
      await api(`/jobs/${jid}?mode=cancel`, 'PATCH');
      op.className = '';
      op.textContent = 'cancel requested';
    }
    async function followSavepoint() {
      if (!pending) return;
      const st = await api(`/jobs/${jid}/savepoints/${pending.rid}`);
      if (st.status.id !== 'COMPLETED') return;
      const o = st.operation || {};
      op.dataset.done = pending.rid;
      if (o['failure-cause']) {
        op.className = 'error';
        op.textContent = `${pending.what} ${pending.rid} failed: ` +
          o['failure-cause']['stack-trace'];
      } else {
        op.className = '';
        op.textContent = `${pending.what} ${pending.rid} completed: ` +
          o.location;
      }
      pending = null;
    }
    async function update() {
      const [job, ck, ex] = await Promise.all([api('/jobs/' + jid),
        api(`/jobs/${jid}/checkpoints`), api(`/jobs/${jid}/exceptions`)]);
      const stats = {};
      for (const v of job.vertices) stats[v.id] = vertexStats(jid, v, job.now);
      replace(title, job.name, ' ', badge(job.state));
      replace(info, h('code', {}, job.jid), ` started ${fmtTime(
        job['start-time'])}, running for ${fmtDur(job.duration)}` +
        (job['end-time'] > 0 ? `, ended ${fmtTime(job['end-time'])}` : ''));
      const ended = ['FINISHED', 'CANCELED', 'FAILED'].includes(job.state);
      replace(graph, drawGraph(job.plan, stats));
      replace(subtasks, subtaskRows(job));
      replace(ckpts, checkpointView(jid, ck));
      replace(excs, exceptionView(ex));
      await followSavepoint().catch(opError);
      setButtons(ended, job.isStoppable);
    }
    return { el, update };
  }

  // ---- routing and polling ----

  function route() {
    const m = location.hash.match(/^#\/jobs\/([0-9a-fA-F]+)/);
    const kind = m ? 'job' : location.hash.startsWith('#/jobs')
      ? 'jobs' : 'overview';
    for (const a of document.querySelectorAll('header nav a'))
      a.classList.toggle('active', a.dataset.nav === (m ? 'jobs' : kind));
    page = kind === 'job' ? jobPage(m[1])
      : kind === 'jobs' ? jobsPage() : overviewPage();
    replace(document.getElementById('main'), page.el);
    refresh();
  }

  async function refresh() {
    clearTimeout(timer);
    timer = null;
    if (document.hidden) return; // visibilitychange resumes
    if (busy) return;
    busy = true;
    document.body.dataset.busy = 'true'; // for tests: a refresh runs
    const shown = page;
    try {
      await shown.update();
      if (shown === page) setStatus('updated ' + fmtClock(Date.now()));
      document.body.dataset.updated = String(Date.now());
    } catch (e) {
      if (!(e instanceof AuthError))
        setStatus(e.message, true);
    } finally {
      busy = false;
      document.body.dataset.busy = 'false';
      // a page routed to meanwhile is drawn at once
      // the token prompt waits for the user: onLogin refreshes
      const asking = !document.getElementById('login').hidden;
      if (!document.hidden && !asking)
        timer = setTimeout(refresh, shown === page ? POLL_MS : 0);
    }
  }

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresh();
    else clearTimeout(timer);
  });
  window.addEventListener('hashchange', route);
  document.getElementById('login-form').addEventListener('submit', onLogin);
  route();
}());

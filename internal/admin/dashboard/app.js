// usher dashboard: plain JavaScript, no dependencies, no build step.
//
// It polls /api/overview and /api/http/services every POLL_MS, reads the
// routers, middlewares and entrypoints when the configuration changes, and
// listens to /api/events (Server-Sent Events) for health transitions, reloads
// and drains. Every value from the API goes into the page as text, never as
// HTML.
'use strict';

(() => {
  const POLL_MS = 1500;
  const CONFIG_MS = 10000;
  const SERIES_SECONDS = 60; // observe.StatsWindow
  const MAX_EVENTS = 200;
  const API = '../api/';
  // Event types the stream may send (its "event:" field). Unnamed events
  // arrive as "message" and are shown too.
  const EVENT_TYPES = ['health', 'reload', 'drain', 'message'];

  const state = {
    overview: null,
    services: [],
    totals: [], // client-side history of overview.traffic: {rps, p50Ms, p99Ms, errorRate}
    configKey: '',
    configAt: 0,
    events: [],
    eventKeys: new Set(),
    busy: new Set(), // servers with a drain request in flight
  };

  // ---- DOM helpers

  const $ = (id) => document.getElementById(id);

  // h builds an element: h('td', {class: 'num', title: 't'}, 'text', childNode...).
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, kids);
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.setAttribute('class', v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function append(el, kids) {
    for (const kid of kids.flat(Infinity)) {
      if (kid === undefined || kid === null || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function s(tag, attrs) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    return el;
  }

  // ---- formatting

  function fmtRate(x) {
    if (!isFinite(x) || x <= 0) return '0';
    if (x >= 10000) return (x / 1000).toFixed(0) + 'k';
    if (x >= 1000) return (x / 1000).toFixed(1) + 'k';
    if (x >= 100) return x.toFixed(0);
    if (x >= 10) return x.toFixed(1);
    return x.toFixed(2);
  }

  function fmtMs(ms) {
    if (!isFinite(ms) || ms <= 0) return '–';
    if (ms >= 1000) return (ms / 1000).toFixed(ms >= 10000 ? 0 : 2) + ' s';
    if (ms >= 100) return ms.toFixed(0) + ' ms';
    if (ms >= 10) return ms.toFixed(1) + ' ms';
    return ms.toFixed(2) + ' ms';
  }

  function fmtPct(frac) {
    if (!isFinite(frac) || frac <= 0) return '0%';
    const p = frac * 100;
    if (p >= 10) return p.toFixed(0) + '%';
    if (p >= 1) return p.toFixed(1) + '%';
    return p.toFixed(2) + '%';
  }

  function fmtCount(n) {
    n = Number(n) || 0;
    if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
    if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    return String(n);
  }

  function fmtDuration(sec) {
    sec = Math.max(0, Math.floor(sec));
    const d = Math.floor(sec / 86400), hr = Math.floor(sec / 3600) % 24, m = Math.floor(sec / 60) % 60, s = sec % 60;
    if (d > 0) return `${d}d ${hr}h`;
    if (hr > 0) return `${hr}h ${m}m`;
    if (m > 0) return `${m}m ${s}s`;
    return `${s}s`;
  }

  function ago(t) {
    const ms = Date.now() - new Date(t).getTime();
    if (!isFinite(ms)) return '';
    if (ms < 5000) return 'just now';
    return fmtDuration(ms / 1000) + ' ago';
  }

  function clock(t) {
    const d = new Date(t);
    if (isNaN(d)) return '';
    return d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false});
  }

  // ---- sparklines

  // spark draws series (arrays of numbers, oldest first) as lines over a
  // shared scale; the first also gets a filled area.
  function spark(series, classes, opts = {}) {
    const W = 120, H = 32, pad = 2;
    const svg = s('svg', {class: 'spark', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img'});
    const n = Math.max(...series.map((a) => a.length), 0);
    let max = opts.min || 0;
    for (const a of series) for (const v of a) if (isFinite(v) && v > max) max = v;
    if (max <= 0) max = 1;
    svg.append(s('line', {class: 'base', x1: 0, x2: W, y1: H - 0.5, y2: H - 0.5}));
    if (n < 2) return svg;
    const x = (i) => (i / (n - 1)) * W;
    const y = (v) => H - pad - (Math.max(0, isFinite(v) ? v : 0) / max) * (H - 2 * pad);
    series.forEach((a, k) => {
      const off = n - a.length;
      const pts = a.map((v, i) => `${x(i + off).toFixed(2)},${y(v).toFixed(2)}`);
      if (k === 0) {
        const area = `M${x(off).toFixed(2)},${H} L${pts.join(' L')} L${x(n - 1).toFixed(2)},${H} Z`;
        svg.append(s('path', {class: 'area ' + (classes[k] || ''), d: area}));
      }
      svg.append(s('polyline', {class: 'line ' + (classes[k] || ''), points: pts.join(' ')}));
    });
    return svg;
  }

  // ---- data

  async function getJSON(path) {
    const r = await fetch(API + path, {headers: {Accept: 'application/json'}, cache: 'no-store'});
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
    return body;
  }

  async function poll() {
    try {
      const [o, svcs] = await Promise.all([getJSON('overview'), getJSON(`http/services?series=${SERIES_SECONDS}`)]);
      state.overview = o;
      state.services = svcs;
      state.totals.push(o.traffic || {});
      if (state.totals.length > SERIES_SECONDS) state.totals.shift();
      renderOverview();
      renderServices();
      // Decision counts move with traffic: the middlewares are read each poll.
      getJSON('http/middlewares').then(renderMiddlewares).catch(() => {});
      getJSON('cache').then((c) => { state.caches = c; renderCacheRatios(); }).catch(() => {});
      getJSON('http/deployments').then(renderDeployments).catch(() => {});
      getJSON('autoscale').then(renderAutoscale).catch(() => {});
      const key = `${o.configLoaded}|${o.reload && o.reload.error}`;
      if (key !== state.configKey || Date.now() - state.configAt > CONFIG_MS) {
        state.configKey = key;
        state.configAt = Date.now();
        loadConfig();
      }
      if (!eventsLive) setConn('polling', 'polling');
    } catch (e) {
      setConn('offline', 'offline');
      console.warn('usher dashboard: poll failed:', e);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  async function loadConfig() {
    try {
      const [eps, routers, mws] = await Promise.all([getJSON('entrypoints'), getJSON('http/routers'), getJSON('http/middlewares')]);
      renderEntrypoints(eps);
      renderRouters(routers);
      renderMiddlewares(mws);
    } catch (e) {
      console.warn('usher dashboard: reading the configuration failed:', e);
    }
  }

  // ---- connection state

  let eventsLive = false;
  function setConn(st, text) {
    const c = $('conn');
    c.dataset.state = st;
    $('conn-text').textContent = text;
  }

  // ---- overview

  function card(label, value, sub, extra) {
    return h('div', {class: 'card'}, h('div', {class: 'card-label'}, label), value, sub ? h('div', {class: 'card-sub'}, sub) : null, extra);
  }

  function renderOverview() {
    const o = state.overview;
    $('version').textContent = o.version;
    const rl = o.reload || {};
    const pill = $('reload-pill');
    if (rl.ok) {
      pill.className = 'reload-pill ok';
      pill.textContent = rl.lastGood ? `config applied ${ago(rl.lastGood)}` : 'config applied';
    } else {
      pill.className = 'reload-pill bad';
      pill.textContent = 'last reload refused';
    }
    const banner = $('banner');
    banner.hidden = rl.ok;
    if (!rl.ok) $('banner-text').textContent = rl.error || '';

    const t = o.traffic || {};
    const hist = state.totals;
    const sv = o.servers || {};
    const total = sv.total || 0;
    const meter = h('div', {class: 'meter', title: `${sv.healthy} up · ${sv.draining} draining · ${sv.unhealthy} down or ejected`});
    for (const [cls, n] of [['m-up', sv.healthy], ['m-drain', sv.draining], ['m-down', sv.unhealthy]]) {
      if (n > 0) {
        const seg = h('span', {class: cls});
        seg.style.width = (100 * n / total) + '%';
        meter.append(seg);
      }
    }
    const errBad = (t.errorRate || 0) >= 0.01;
    $('cards').replaceChildren(
      card('Requests / s', h('div', {class: 'card-value'}, fmtRate(t.rps)), `${fmtCount(t.requests)} in the last minute`,
        spark([hist.map((p) => p.rps || 0)], [''])),
      card('Latency', h('div', {class: 'card-value'}, fmtMs(t.p50Ms), h('small', {}, 'p50')),
        h('span', {}, 'p99 ', h('b', {}, fmtMs(t.p99Ms))),
        spark([hist.map((p) => p.p50Ms || 0), hist.map((p) => p.p99Ms || 0)], ['', 'p99'])),
      card('Errors', h('div', {class: 'card-value' + (errBad ? ' bad' : '')}, fmtPct(t.errorRate)), '5xx and failed requests',
        spark([hist.map((p) => p.errorRate || 0)], ['err'], {min: 0.01})),
      card('Servers', h('div', {class: 'card-value' + (sv.unhealthy > 0 ? ' bad' : '')}, String(sv.healthy || 0), h('small', {}, `/ ${total} up`)),
        [sv.draining ? `${sv.draining} draining` : null, sv.unhealthy ? `${sv.unhealthy} down` : null].filter(Boolean).join(' · ') || 'all healthy', meter),
      card('Routing', h('div', {class: 'card-value'}, String(o.routers.total), h('small', {}, 'routers')),
        `${o.services.total} services · ${o.middlewares.total} middlewares`,
        h('div', {class: 'card-sub'}, `${(o.entrypoints || []).length} entrypoints`)),
      card('Uptime', h('div', {class: 'card-value'}, fmtDuration(o.uptimeSeconds)),
        `reloads: ${(rl.counts && rl.counts.ok) || 0} ok · ${(rl.counts && rl.counts.error) || 0} refused`,
        h('div', {class: 'card-sub'}, `config from ${clock(o.configLoaded)}`)),
    );
  }

  // ---- services

  function statusBadge(item) {
    const st = item.status || 'enabled';
    return h('span', {class: 'badge ' + st, title: item.error || ''}, st);
  }

  function serviceKind(svc) {
    const lb = svc.loadBalancer;
    if (lb) {
      const parts = [lb.algorithm || 'round-robin'];
      if (lb.sticky) parts.push('sticky');
      if (lb.healthCheck) parts.push('health checks');
      if (lb.passiveHealthCheck) parts.push('outlier ejection');
      if (lb.retry) parts.push('retries');
      return 'load balancer · ' + parts.join(' · ');
    }
    return {weighted: 'weighted', mirror: 'mirror', failover: 'failover'}[svc.type] || svc.type || '';
  }

  function serviceDesc(svc) {
    if (svc.weighted) {
      const arms = svc.weighted.services || [];
      const sum = arms.reduce((a, w) => a + (w.weight === undefined ? 1 : w.weight), 0) || 1;
      return h('div', {class: 'svc-desc chips'}, arms.map((w) => {
        const wt = w.weight === undefined ? 1 : w.weight;
        return h('span', {class: 'chip'}, `${w.name} · ${Math.round(100 * wt / sum)}%`);
      }));
    }
    if (svc.mirror) {
      return h('div', {class: 'svc-desc'}, 'serves from ', h('code', {}, svc.mirror.service), ', copies to ',
        (svc.mirror.mirrors || []).map((m, i) => [i ? ', ' : '', h('code', {}, m.name), ` (${m.percent === undefined ? 100 : m.percent}%)`]));
    }
    if (svc.failover) {
      return h('div', {class: 'svc-desc'}, 'serves from ', h('code', {}, svc.failover.service), ', falls back to ', h('code', {}, svc.failover.fallback));
    }
    return null;
  }

  // A mirror's comparisons with the main response (mirror.compare), a chip
  // per mirror and field: how many of those compared differed.
  function mirrorCompare(svc) {
    if (!Array.isArray(svc.compare) || !svc.compare.length) return null;
    const chips = [];
    for (const m of svc.compare) {
      const fields = [];
      if (m.status) fields.push(['status', m.status]);
      if (m.body) fields.push(['body', m.body]);
      for (const name of Object.keys(m.headers || {}).sort()) fields.push([name, m.headers[name]]);
      for (const [field, c] of fields) {
        const compared = c.match + c.differ;
        chips.push(h('span', {class: 'chip' + (c.differ ? ' differ' : ' gray'), 'data-mirror': m.mirror, 'data-field': field,
          title: `${fmtCount(c.match)} match, ${fmtCount(c.differ)} differ, ${fmtCount(c.skipped)} not comparable`},
          `${m.mirror} ${field}: ${fmtCount(c.differ)} of ${fmtCount(compared)} differ`));
      }
    }
    return h('div', {class: 'svc-desc chips mirror-compare'}, h('span', {class: 'faint'}, 'compared: '), chips);
  }

  function chart(label, valueNode, svg) {
    return h('div', {class: 'chart'}, h('div', {class: 'chart-head'}, h('span', {class: 'chart-label'}, label), h('span', {class: 'chart-value'}, valueNode)), svg);
  }

  function serverKey(svc, url) { return svc + '|' + url; }

  async function setDrain(svc, url, on) {
    if (on && !window.confirm(`Drain ${url}?\n\nIt takes no new request until undrained; requests in flight finish.`)) return;
    const key = serverKey(svc, url);
    state.busy.add(key);
    renderServices();
    try {
      const path = `http/services/${encodeURIComponent(svc)}/servers/${encodeURIComponent(url)}/${on ? 'drain' : 'undrain'}`;
      const r = await fetch(API + path, {method: 'POST', headers: {Accept: 'application/json'}});
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        window.alert(`Could not ${on ? 'drain' : 'undrain'} ${url}: ${body.error || r.status}`);
      }
    } finally {
      state.busy.delete(key);
    }
    try {
      state.services = await getJSON(`http/services?series=${SERIES_SECONDS}`);
    } catch (e) { /* the next poll tells */ }
    renderServices();
  }

  function serverRow(svc, sv) {
    const key = serverKey(svc.name, sv.url);
    const badges = [h('span', {class: 'badge ' + sv.health}, sv.health)];
    if (sv.health !== 'down' && !sv.healthy) badges.push(h('span', {class: 'badge down'}, 'down'));
    if (sv.health !== 'ejected' && sv.ejected) badges.push(h('span', {class: 'badge ejected'}, 'ejected'));
    if (sv.agent) {
      badges.push(h('span', {class: 'badge plain', title: 'what the server itself reported in its last health probe'},
        `agent: ${sv.agent.state}${sv.agent.weight !== 100 ? ' ' + sv.agent.weight + '%' : ''}`));
    }
    let probe = '';
    if (sv.lastProbe) probe = `last probe ${sv.lastProbe.ok ? 'passed' : 'failed'} in ${fmtMs(sv.lastProbe.latencyMs)} at ${clock(sv.lastProbe.at)}`;
    if (sv.ejectedUntil) probe += (probe ? '; ' : '') + `ejected until ${clock(sv.ejectedUntil)}`;
    return h('tr', {class: sv.health === 'up' ? '' : 'is-off', 'data-server': sv.url, 'data-health': sv.health},
      h('td', {class: 'url', title: sv.url}, sv.url),
      h('td', {class: 'num'}, String(sv.weight)),
      h('td', {title: probe}, h('span', {class: 'chips'}, badges)),
      h('td', {class: 'num'}, String(sv.inFlight)),
      h('td', {class: 'num'}, fmtCount(sv.requests)),
      h('td', {class: 'num' + (sv.failures > 0 ? ' bad-num' : '')}, fmtCount(sv.failures)),
      h('td', {class: 'num'}, fmtRate(sv.rps)),
      h('td', {class: 'num'}, fmtMs(sv.p50Ms)),
      h('td', {class: 'num'}, fmtMs(sv.p99Ms)),
      h('td', {class: 'num' + (sv.errorRate >= 0.01 ? ' bad-num' : '')}, fmtPct(sv.errorRate)),
      h('td', {class: 'num'}, h('button', {
        class: 'btn', type: 'button', disabled: state.busy.has(key),
        title: sv.draining ? 'let the server take new requests again' : 'stop sending new requests to the server',
        onclick: () => setDrain(svc.name, sv.url, !sv.draining),
      }, sv.draining ? 'Undrain' : 'Drain')),
    );
  }

  function renderService(svc) {
    const head = h('div', {class: 'svc-head'},
      h('span', {class: 'svc-name'}, svc.name),
      statusBadge(svc),
      svc.available === false ? h('span', {class: 'badge down', title: 'no server can take a request'}, 'no server available') : null,
      h('span', {class: 'svc-kind'}, serviceKind(svc)),
      h('span', {class: 'svc-used'}, (svc.usedBy || []).length ? ['used by ', h('b', {}, svc.usedBy.join(', '))] : 'not used by a router'),
    );
    const el = h('div', {class: 'svc', 'data-service': svc.name}, head, serviceDesc(svc), mirrorCompare(svc));
    if (svc.error) el.append(h('div', {class: 'err-text svc-error'}, svc.error));
    if (svc.servers) {
      const st = svc.stats || {};
      // Seconds before usher started are not zero traffic: leave them out.
      const since = state.overview ? new Date(state.overview.started).getTime() - 1000 : 0;
      const ser = (svc.series || []).filter((p) => new Date(p.time).getTime() >= since);
      el.append(h('div', {class: 'charts'},
        chart('Requests / s', fmtRate(st.rps), spark([ser.map((p) => p.rps)], [''])),
        chart('Latency', [h('span', {title: 'median'}, fmtMs(st.p50Ms)), ' · ', h('span', {class: 'p99', title: '99th percentile'}, fmtMs(st.p99Ms))],
          spark([ser.map((p) => p.p50Ms), ser.map((p) => p.p99Ms)], ['', 'p99'])),
        chart('Errors', fmtPct(st.errorRate), spark([ser.map((p) => p.errorRate)], ['err'], {min: 0.01})),
      ));
      const rows = svc.servers.map((sv) => serverRow(svc, sv));
      el.append(h('div', {class: 'servers table-wrap'}, h('table', {class: 'table'},
        h('thead', {}, h('tr', {},
          h('th', {}, 'Server'), h('th', {class: 'num'}, 'Weight'), h('th', {}, 'Health'), h('th', {class: 'num'}, 'In flight'),
          h('th', {class: 'num'}, 'Requests'), h('th', {class: 'num'}, 'Failures'), h('th', {class: 'num'}, 'Req/s'),
          h('th', {class: 'num'}, 'p50'), h('th', {class: 'num'}, 'p99'), h('th', {class: 'num'}, 'Errors'), h('th', {}, ''))),
        h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', {colspan: 11, class: 'muted'}, 'no server'))))));
    }
    return el;
  }

  function renderServices() {
    const svcs = state.services || [];
    let servers = 0;
    for (const svc of svcs) servers += (svc.servers || []).length;
    $('services-note').textContent = `${svcs.length} services · ${servers} servers`;
    $('services-body').replaceChildren(...(svcs.length ? svcs.map(renderService) : [h('p', {class: 'empty'}, 'No service.')]));
  }

  // ---- deployments (GET /api/http/deployments): shown only when a weighted
  // service exists; canary and switch actions stay with the CLI and the API.

  const CANARY_CLASS = {progressing: 'draining', promoted: 'up', rolledBack: 'down', aborted: 'down'};

  function renderDeployments(ds) {
    const shown = Array.isArray(ds) && ds.length > 0;
    $('deployments').hidden = !shown;
    $('deployments-nav').hidden = !shown;
    if (!shown) return;
    $('deployments-body').replaceChildren(...ds.map((d) => {
      const c = d.canary;
      return h('tr', {'data-deployment': d.service},
        h('td', {class: 'name'}, d.service),
        h('td', {}, h('span', {class: 'badge plain'}, d.mode)),
        h('td', {}, h('span', {class: 'chips'}, (d.services || []).map((a) =>
          h('span', {class: 'chip' + (a.state === 'serving' ? '' : ' gray'), title: `${a.state}, ${a.inFlight} in flight`},
            `${a.name} ${fmtPct(a.share)}${a.state === 'draining' ? ' · draining' : ''}`)))),
        h('td', {}, c ? [h('span', {class: 'badge ' + (CANARY_CLASS[c.state] || 'plain')}, c.state), ' ',
          h('span', {class: 'faint'}, `${c.service}: step ${c.step} of ${c.steps.length} (${c.weight}%), ${fmtCount(c.current.requests)} req, ${fmtPct(c.current.errorRate)} errors`)] : h('span', {class: 'faint'}, '–')),
        h('td', {class: 'muted'}, c ? c.reason : ((d.history || []).slice(-1)[0] || {}).reason || ''));
    }));
  }

  // ---- autoscale (GET /api/autoscale): shown only when a service is
  // autoscaled.

  function renderAutoscale(as) {
    const shown = Array.isArray(as) && as.length > 0;
    $('autoscale').hidden = !shown;
    $('autoscale-nav').hidden = !shown;
    if (!shown) return;
    $('autoscale-body').replaceChildren(...as.map((a) => {
      const last = (a.history || []).slice(-1)[0];
      const why = a.lastError ? `actuator: ${a.lastError}` : (last ? `${last.direction} ${last.previous} → ${last.desired}: ${last.reason}` : (a.last ? a.last.reason : ''));
      return h('tr', {'data-autoscale': a.service},
        h('td', {class: 'name'}, a.service),
        h('td', {'data-desired': String(a.desired)}, `${a.desired}`, h('span', {class: 'faint'}, ` (${a.min}–${a.max})`)),
        h('td', {'data-ready': String(a.ready)}, `${a.ready}`, a.held ? h('span', {class: 'faint'}, ` · ${a.held} waiting`) : ''),
        h('td', {}, h('span', {class: 'badge ' + (a.mode === 'panic' ? 'down' : 'plain'), 'data-mode': a.mode}, a.mode),
          a.actuating ? h('span', {class: 'faint'}, ' · scaling') : ''),
        h('td', {class: 'muted'}, `${a.target} ${a.metric} per server`),
        h('td', {class: a.lastError ? 'down' : 'muted'}, why));
    }));
  }

  // ---- entrypoints, routers, middlewares

  function renderEntrypoints(eps) {
    if (!eps.length) {
      $('entrypoints-body').replaceChildren(h('p', {class: 'empty'}, 'No entrypoint.'));
      return;
    }
    $('entrypoints-body').replaceChildren(h('ul', {class: 'eps'}, eps.map((ep) => h('li', {class: 'ep', 'data-entrypoint': ep.name},
      h('div', {}, h('div', {class: 'ep-name'}, ep.name), h('div', {class: 'ep-addr'}, ep.address || '')),
      h('div', {class: 'ep-meta'},
        ep.tls ? h('span', {class: 'badge plain'}, 'TLS') : null,
        ep.http3 ? h('span', {class: 'badge plain'}, 'HTTP/3') : null,
        ep.redirectTo ? h('span', {class: 'badge plain'}, `→ ${ep.redirectTo}`) : h('span', {class: 'badge plain'}, `${(ep.routers || []).length} routers`),
        ep.status === 'error' ? statusBadge(ep) : null),
    ))));
  }

  function renderRouters(routers) {
    const body = $('routers-body');
    if (!routers.length) {
      body.replaceChildren(h('tr', {}, h('td', {colspan: 8, class: 'muted'}, 'No router.')));
      return;
    }
    body.replaceChildren(...routers.map((r) => {
      const chain = r.chain || r.middlewares || [];
      return h('tr', {'data-router': r.name},
        h('td', {class: 'name'}, r.name, ' ', r.provider ? h('span', {class: 'chip gray provider', title: 'defined by the ' + r.provider + ' provider'}, r.provider) : null),
        h('td', {}, r.rule ? h('code', {class: 'rule'}, r.rule) : h('span', {class: 'faint'}, '–'),
          r.error ? h('div', {class: 'err-text'}, r.error) : null),
        h('td', {}, chain.length ? h('span', {class: 'chips'}, chain.map((m) => h('span', {class: 'chip gray'}, m))) : h('span', {class: 'faint'}, '–')),
        h('td', {}, r.service ? [h('span', {class: 'arrow'}, '→'), ' ', h('a', {href: '#services'}, r.service)] : ''),
        h('td', {}, h('span', {class: 'chips'}, (r.entrypoints || []).map((e) => h('span', {class: 'chip'}, e)), r.tlsOnly ? h('span', {class: 'chip gray'}, 'TLS only') : null)),
        h('td', {class: 'num'}, r.priority === undefined ? '' : String(r.priority)),
        h('td', {class: 'num cache-ratio faint'}, '–'),
        h('td', {}, statusBadge(r)));
    }));
    renderCacheRatios();
  }

  // renderCacheRatios shows, per router, the share of its GETs and HEADs
  // that its cache middlewares answered from their stores (GET /api/cache).
  function renderCacheRatios() {
    const by = {};
    for (const c of state.caches || []) {
      for (const [name, rs] of Object.entries(c.routers || {})) {
        const t = by[name] || (by[name] = {requests: 0, hits: 0});
        t.requests += rs.requests;
        t.hits += rs.hits;
      }
    }
    for (const cell of document.querySelectorAll('#routers-body tr[data-router] td.cache-ratio')) {
      const t = by[cell.parentElement.getAttribute('data-router')];
      cell.textContent = t && t.requests ? fmtPct(t.hits / t.requests) : '–';
      cell.title = t ? `${fmtCount(t.hits)} of ${fmtCount(t.requests)} GETs and HEADs from the cache` : 'no cache middleware';
      cell.classList.toggle('faint', !t || !t.requests);
    }
  }

  // summarize renders a middleware's configuration as "key: value" lines.
  function summarize(cfg, prefix = '') {
    const out = [];
    for (const [k, v] of Object.entries(cfg || {})) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...summarize(v, prefix + k + '.'));
      else out.push(`${prefix}${k}: ${Array.isArray(v) ? v.join(', ') : v}`);
    }
    return out;
  }

  function renderMiddlewares(mws) {
    const body = $('middlewares-body');
    if (!mws.length) {
      body.replaceChildren(h('tr', {}, h('td', {colspan: 6, class: 'muted'}, 'No middleware.')));
      return;
    }
    body.replaceChildren(...mws.map((m) => h('tr', {'data-middleware': m.name},
      h('td', {class: 'name'}, m.name),
      h('td', {}, m.type ? h('span', {class: 'chip'}, m.type) : ''),
      h('td', {class: 'mono muted'}, summarize(m.config).slice(0, 6).map((line) => h('div', {}, line)),
        m.error ? h('div', {class: 'err-text'}, m.error) : null),
      h('td', {}, (m.usedBy || []).length ? m.usedBy.join(', ') : h('span', {class: 'faint'}, 'unused')),
      h('td', {class: 'decisions'}, decisionsCell(m.decisions)),
      h('td', {}, statusBadge(m)))));
  }

  // What a guarding middleware decided since usher started: requests let
  // through, refused (limited, blocked, unauthenticated) and undecided.
  function decisionsCell(d) {
    if (!d) return h('span', {class: 'faint'}, '—');
    const n = (v) => Number(v || 0).toLocaleString('en-US');
    return h('span', {class: 'mono'},
      h('span', {class: 'd-allow', title: 'allowed'}, `${n(d.allow)} allowed`), ' · ',
      h('span', {class: 'd-deny', 'data-denied': String(d.deny || 0), title: 'limited, blocked or refused'}, `${n(d.deny)} refused`),
      d.error ? [' · ', h('span', {class: 'd-fail', title: 'could not decide'}, `${n(d.error)} failed`)] : []);
  }

  // ---- events

  // The colour of an event's badge, from the state it went to.
  const STATE_CLASS = {
    up: 'up', healthy: 'up', readmitted: 'up', undrained: 'up', ok: 'up', applied: 'up',
    down: 'down', unhealthy: 'down', error: 'down', refused: 'down', failed: 'down',
    ejected: 'ejected', draining: 'draining', drained: 'draining',
    promoted: 'up', rolledback: 'down', aborted: 'down', step: 'draining',
  };

  function eventBadge(ev) {
    const type = ev.type || 'event';
    const to = String(ev.to || '').split(' ')[0].toLowerCase(); // canary: "rolledBack (0%)"
    const cls = STATE_CLASS[to] || (type === 'drain' ? 'draining' : 'plain');
    return h('span', {class: 'badge ' + cls}, type);
  }

  const SKIP = new Set(['type', 'time', 'service', 'server', 'from', 'to', 'reason']);

  function eventText(ev) {
    const parts = [];
    if (ev.from && ev.to) parts.push(`${ev.from} → ${ev.to}`);
    else if (ev.to || ev.from) parts.push(ev.to || ev.from);
    if (ev.reason) parts.push(ev.reason);
    for (const [k, v] of Object.entries(ev)) {
      if (!SKIP.has(k) && v !== '' && v !== null && v !== undefined) parts.push(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`);
    }
    return parts.join(' · ');
  }

  function addEvent(ev, fresh) {
    const key = JSON.stringify(ev); // the stream sends the recent events again on each reconnect
    if (state.eventKeys.has(key)) return;
    state.eventKeys.add(key);
    const t = ev.time;

    const li = h('li', {class: 'event' + (fresh ? ' new' : ''), 'data-type': ev.type || ''},
      h('span', {class: 'event-time', title: t ? new Date(t).toLocaleString() : ''}, t ? clock(t) : ''),
      h('div', {class: 'event-body'},
        h('div', {class: 'event-title'}, eventBadge(ev), ev.service ? h('b', {}, ev.service) : null),
        ev.server ? h('div', {class: 'url event-server'}, ev.server) : null,
        h('div', {class: 'event-msg'}, eventText(ev))));
    const list = $('events-body');
    list.prepend(li);
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
    $('events-empty').hidden = true;
  }

  function listen() {
    if (!window.EventSource) return;
    const es = new EventSource(API + 'events');
    es.onopen = () => { eventsLive = true; setConn('live', 'live'); };
    es.onerror = () => { eventsLive = false; setConn('reconnecting', 'reconnecting'); };
    const onEvent = (msg) => {
      let ev;
      try { ev = JSON.parse(msg.data); } catch (e) { return; }
      if (!ev.type && msg.type !== 'message') ev.type = msg.type;
      addEvent(ev, true);
      if (ev.type === 'reload' || ev.type === 'config') state.configAt = 0; // read the configuration again
    };
    for (const t of EVENT_TYPES) es.addEventListener(t, onEvent);
  }

  // ---- start

  setConn('connecting', 'connecting');
  listen();
  poll();
})();

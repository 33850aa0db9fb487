// virtwall's dashboard page: renders the state the daemon pushes over server-sent events
// (/events). Every name shown (ports, filters, hostnames from DHCP) is untrusted text: it is
// only ever set as textContent, never parsed as HTML.
// biome-ignore lint/suspicious/noRedundantUseStrict: index.html loads this as a classic script, not a module, so the directive is what makes it strict
'use strict';

const SVG = 'http://www.w3.org/2000/svg';

function el(tag, attrs, ...children) {
  const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

const time = (ms) => new Date(ms).toLocaleTimeString();
const ruleName = (r) => `${r.path} prio=${r.priority}`;
const isDrop = (r) => r.verdict === 'drop' || r.verdict === 'reject';

function renderHealth(h) {
  const rows = [
    ['version', `${h.version} (Node.js ${h.nodejs})`],
    ['backends', `nwfilter ${h.nwfilterBackend}, network ${h.networkBackend}`],
    ['started', new Date(h.started).toLocaleString()],
    [
      'last reconcile',
      h.lastReconcile
        ? `${time(h.lastReconcile.time)} ${h.lastReconcile.part} (${h.lastReconcile.reason}), ${(h.lastReconcile.seconds * 1000).toFixed(0)} ms`
        : 'none yet',
    ],
    [
      'last heal',
      h.lastHeal
        ? `${time(h.lastHeal.time)} ${h.lastHeal.part} (${h.lastHeal.reason}): ${h.lastHeal.error ? `failed: ${h.lastHeal.error}` : `${h.lastHeal.repairs} repaired`}`
        : 'nothing needed repair',
    ],
  ];
  if (h.countersError) rows.push(['rule counters', h.countersError]);
  document.getElementById('health').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

/** Three columns: networks, ports, filters; a line from each port to its network and its filter. */
function renderTopology(s) {
  const ROW = 34,
    W = 180,
    H = 24,
    X = [10, 300, 590];
  const networks = s.networks.map((n) => n.name);
  if (s.ports.some((p) => p.network === undefined)) networks.push('');
  const filters = [...new Set(s.ports.map((p) => p.filter).filter(Boolean))].sort();
  const rows = Math.max(networks.length, s.ports.length, filters.length, 1);
  const svg = el('svg:svg', { width: X[2] + W + 10, height: rows * ROW + 10, role: 'img', 'aria-label': 'topology' });
  const y = (i) => 10 + i * ROW;
  const box = (cls, i, col, label, extra) => {
    const g = el('svg:g', { class: cls, transform: `translate(${X[col]},${y(i)})` });
    g.append(el('svg:rect', { width: W, height: H, rx: 4 }), el('svg:text', { x: 8, y: 16 }, label));
    if (extra !== undefined) g.append(el('svg:text', { x: W - 8, y: 16, 'text-anchor': 'end', class: 'count' }, extra));
    return g;
  };
  const edge = (i, j, colA) =>
    el('svg:path', {
      class: 'edge',
      d: `M${X[colA] + W},${y(i) + H / 2} C${X[colA] + W + 50},${y(i) + H / 2} ${X[colA + 1] - 50},${y(j) + H / 2} ${X[colA + 1]},${y(j) + H / 2}`,
    });
  s.ports.forEach((p, j) => {
    svg.append(edge(networks.indexOf(p.network ?? ''), j, 0));
    if (p.filter) svg.append(edge(j, filters.indexOf(p.filter), 1));
  });
  networks.forEach((name, i) => {
    const n = s.networks.find((x) => x.name === name);
    svg.append(
      box(
        `network${n && !n.active ? ' inactive' : ''}`,
        i,
        0,
        name ? `${name}${n?.bridge ? ` (${n.bridge})` : ''}` : 'no network port',
      ),
    );
  });
  s.ports.forEach((p, j) => {
    const g = box(
      `port${p.dropped > 0 ? ' dropping' : ''}`,
      j,
      1,
      p.port,
      p.dropped > 0 ? `${p.dropped}${p.sharedWith ? '*' : ''}` : undefined,
    );
    g.setAttribute('data-port', p.port);
    svg.append(g);
  });
  filters.forEach((f, k) => {
    svg.append(box('filter', k, 2, f));
  });
  const nodes = [svg];
  if (s.morePorts > 0) nodes.push(el('p', { class: 'note' }, `and ${s.morePorts} more bound ports`));
  if (s.ports.some((p) => p.sharedWith > 0))
    nodes.push(
      el('p', { class: 'note' }, '* counted for every port whose filter has the same shape (their rules share chains)'),
    );
  document.getElementById('topology').replaceChildren(...nodes);
}

function renderPortDrops(s) {
  const rows = [];
  for (const p of s.ports) {
    for (const r of s.rules.filter((x) => x.shape === p.shape && isDrop(x) && x.packets > 0)) {
      const tr = el(
        'tr',
        { 'data-port': p.port, 'data-rule': ruleName(r) },
        el('td', {}, p.port),
        el('td', {}, r.path),
        el('td', { class: 'num' }, r.priority),
        el('td', {}, r.chain),
        el('td', {}, r.verdict),
        el('td', { class: 'num drop' }, r.packets),
        el('td', { class: 'num' }, r.bytes),
        el(
          'td',
          { class: 'muted' },
          p.sharedWith ? `shared with ${p.sharedWith} other port${p.sharedWith > 1 ? 's' : ''}` : "this port's own",
        ),
      );
      rows.push(tr);
    }
  }
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 8, class: 'muted' }, 'no drops')));
  document.querySelector('#port-drops tbody').replaceChildren(...rows);
}

function renderDrops(s) {
  const items = s.drops.map((d) => {
    const where = d.ports.length === 1 ? `port ${d.ports[0]}` : `one of ports ${d.ports.join(', ')}`;
    return el(
      'li',
      { 'data-port': d.ports.length === 1 ? d.ports[0] : '', 'data-rule': ruleName(d) },
      `${time(d.time)}: rule `,
      el('span', { class: 'drop' }, ruleName(d)),
      ` (chain ${d.chain}) on ${where} ${d.verdict === 'reject' ? 'rejected' : 'dropped'} ${d.packets} packet${d.packets === 1 ? '' : 's'}`,
    );
  });
  if (items.length === 0) items.push(el('li', { class: 'muted' }, 'none seen since the daemon started'));
  document.getElementById('drops').replaceChildren(...items);
}

function renderDropSamples(s) {
  const items = s.dropSamples.map((l) =>
    el(
      'li',
      { 'data-port': l.port, 'data-rule': l.filter !== undefined ? `${l.filter} prio=${l.priority}` : l.by },
      `${time(Date.parse(l.time))}: ${l.packet} ${l.direction} port ${l.port} dropped by `,
      el('span', { class: 'drop' }, l.filter !== undefined ? `${l.filter} prio=${l.priority}` : l.by),
      ...(l.rules ?? []).map((r) => el('code', {}, ` ${r}`)),
    ),
  );
  if (items.length === 0) items.push(el('li', { class: 'muted' }, 'none sampled'));
  document.getElementById('drop-samples').replaceChildren(...items);
}

function renderLeases(s) {
  const rows = s.networks.flatMap((n) =>
    n.leases.map((l) =>
      el(
        'tr',
        {},
        el('td', {}, n.name),
        el('td', {}, l.ip),
        el('td', {}, l.mac || ''),
        el('td', {}, l.hostname || ''),
        el('td', {}, l.expiry ? new Date(l.expiry * 1000).toLocaleString() : 'never'),
      ),
    ),
  );
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'no leases')));
  document.querySelector('#leases tbody').replaceChildren(...rows);
}

function render(s) {
  renderHealth(s.health);
  renderTopology(s);
  renderPortDrops(s);
  renderDrops(s);
  renderDropSamples(s);
  renderLeases(s);
  document.body.dataset.updated = String(s.time);
}

const live = document.getElementById('live');
const events = new EventSource('/events');
events.onmessage = (m) => {
  live.textContent = `live, ${time(Date.now())}`;
  live.className = 'status live';
  render(JSON.parse(m.data));
};
events.onerror = () => {
  live.textContent = 'disconnected: retrying';
  live.className = 'status down';
};

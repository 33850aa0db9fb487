// Seeded mutations of XML documents, for proving that parsers fail only with their own
// structured errors whatever they are fed.

/** mulberry32: small, fast, deterministic PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTILE_VALUES = [
  '',
  ' ',
  '-1',
  '0',
  '65536',
  '4294967296',
  '99999999999999999999',
  '0x',
  '0xfffffffff',
  '1.5',
  'nan',
  '$',
  '$X',
  '$X[',
  '$X[-1]',
  '$X[@]',
  '$X[@99999999]',
  '$MAC[1]',
  'yes',
  'no',
  'on',
  'off',
  '00:11:22:33:44',
  '00:11:22:33:44:55:66',
  'zz:zz:zz:zz:zz:zz',
  '256.1.1.1',
  '1.2.3',
  '::1',
  ':::',
  'fe80::1/129',
  '10.0.0.0/33',
  '255.255.0.255',
  'a'.repeat(300),
  'x;rm -rf /',
  "'",
  '"',
  '&amp;',
  '\u00e9\u4e2d',
  'SYN,ACK/ALL',
  'NEW,BOGUS',
  'src,dst,src',
  'eth0 -j ACCEPT',
  '--',
  '*',
];

type Mutation = (doc: string, r: () => number) => string;

function pick<T>(items: readonly T[], r: () => number): T {
  return items[Math.floor(r() * items.length)]!;
}

const ATTR = /([A-Za-z_:][\w:.-]*)=(['"])(.*?)\2/g;

function attrMatches(doc: string): RegExpExecArray[] {
  return [...doc.matchAll(ATTR)];
}

const replaceAttrValue: Mutation = (doc, r) => {
  const m = attrMatches(doc);
  if (m.length === 0) return doc;
  const a = pick(m, r);
  const value = pick(HOSTILE_VALUES, r).replace(/[<&'"]/g, '');
  return `${doc.slice(0, a.index!)}${a[1]}='${value}'${doc.slice(a.index! + a[0].length)}`;
};

const dropAttr: Mutation = (doc, r) => {
  const m = attrMatches(doc);
  if (m.length === 0) return doc;
  const a = pick(m, r);
  return doc.slice(0, a.index!) + doc.slice(a.index! + a[0].length);
};

const duplicateAttrElsewhere: Mutation = (doc, r) => {
  const m = attrMatches(doc);
  if (m.length < 2) return doc;
  const from = pick(m, r);
  const to = pick(m, r);
  return `${doc.slice(0, to.index!) + from[0]} ${doc.slice(to.index!)}`;
};

const ELEMENT_LINE = /^\s*<[^/!?][^\n]*$/gm;

const duplicateLine: Mutation = (doc, r) => {
  const lines = doc.split('\n');
  const i = Math.floor(r() * lines.length);
  lines.splice(i, 0, lines[i]!);
  return lines.join('\n');
};

const deleteLine: Mutation = (doc, r) => {
  const lines = doc.split('\n');
  lines.splice(Math.floor(r() * lines.length), 1);
  return lines.join('\n');
};

const swapLines: Mutation = (doc, r) => {
  const lines = doc.split('\n');
  const i = Math.floor(r() * lines.length);
  const j = Math.floor(r() * lines.length);
  [lines[i], lines[j]] = [lines[j]!, lines[i]!];
  return lines.join('\n');
};

const renameElement: Mutation = (doc, r) => {
  const names = [...doc.matchAll(/<([A-Za-z][\w:-]*)/g)];
  if (names.length === 0) return doc;
  const n = pick(names, r);
  const replacement = pick(['rule', 'ip', 'tcp', 'filterref', 'bogus', 'dhcp', 'host', 'forward', 'nat', 'x'], r);
  return doc.slice(0, n.index! + 1) + replacement + doc.slice(n.index! + 1 + n[1]!.length);
};

const insertElementLine: Mutation = (doc, r) => {
  const lines = [...doc.matchAll(ELEMENT_LINE)];
  if (lines.length === 0) return doc;
  const l = pick(lines, r);
  return `${doc.slice(0, l.index!) + l[0]}\n${doc.slice(l.index!)}`;
};

const truncate: Mutation = (doc, r) => doc.slice(0, Math.floor(r() * doc.length));

const flipChar: Mutation = (doc, r) => {
  const i = Math.floor(r() * doc.length);
  return doc.slice(0, i) + pick(['<', '>', '/', "'", '=', ' ', 'a', '0', '$', '&'], r) + doc.slice(i + 1);
};

const MUTATIONS: Mutation[] = [
  replaceAttrValue,
  replaceAttrValue,
  replaceAttrValue,
  dropAttr,
  duplicateAttrElsewhere,
  duplicateLine,
  deleteLine,
  swapLines,
  renameElement,
  insertElementLine,
  truncate,
  flipChar,
];

/** Applies 1-3 random mutations. */
export function mutate(doc: string, r: () => number): string {
  let out = doc;
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++) out = pick(MUTATIONS, r)(out, r);
  return out;
}

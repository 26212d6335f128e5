#!/usr/bin/env node
// Spec coverage: which numbered normative statements of MQTT 3.1.1 and 5.0 have tests.
//
// A statement counts as tested when its id, e.g. [MQTT-3.3.2-2], appears in the name of a test: the first
// string argument of test(), it(), describe() or suite() in test/**/*.ts. A name may carry several ids.
// Ids in src/**/*.ts (comments, and MqttError specIds) are counted as "cited". Every id found anywhere
// in src/ or test/ must exist in at least one of the two specifications; the others are reported with
// file and line.
//
// The 3.1.1 and 5.0 id spaces overlap (MQTT-3.1.2-22 is a different statement in each). An id counts for
// every version that defines it, unless it carries a version suffix: [MQTT-3.1.2-22/3.1.1] or [MQTT-3.1.2-22/5.0].
//
// Usage: node scripts/spec-coverage.mjs [--version 5.0|3.1.1] [--area codec|broker|client|transport]
//                                      [--missing] [--json] [--check]
//   --missing  list only the statements without tests
//   --json     machine-readable output
//   --check    exit 1 when an unknown id is found in src/ or test/ (for CI)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SPECS = [
  { version: '3.1.1', file: 'spec/mqtt-v3.1.1-statements.json' },
  { version: '5.0', file: 'spec/mqtt-v5.0-statements.json' },
];
const AREAS = ['codec', 'broker', 'client', 'transport'];
const VERSION_ALIASES = { '3.1.1': '3.1.1', 311: '3.1.1', 4: '3.1.1', '5.0': '5.0', 5: '5.0' };

// ---------------------------------------------------------------------------------------------- options

function usage(message) {
  if (message) console.error(`spec-coverage: ${message}`);
  console.error(
    'usage: node scripts/spec-coverage.mjs [--version 5.0|3.1.1] [--area codec|broker|client|transport] [--missing] [--json] [--summary] [--check]',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { version: undefined, area: undefined, missing: false, json: false, check: false, summary: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined) usage(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case '--version': {
        const v = VERSION_ALIASES[value().replace(/^v/, '')];
        if (!v) usage('--version must be 5.0 or 3.1.1');
        opts.version = v;
        break;
      }
      case '--area': {
        const a = value();
        if (!AREAS.includes(a)) usage(`--area must be one of ${AREAS.join(', ')}`);
        opts.area = a;
        break;
      }
      case '--missing':
        opts.missing = true;
        break;
      case '--json':
        opts.json = true;
        break;
      case '--check':
        opts.check = true;
        break;
      case '--summary':
        opts.summary = true;
        break;
      case '-h':
      case '--help':
        usage();
        break;
      default:
        usage(`unknown option ${arg}`);
    }
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------- files

function listTs(dir) {
  const out = [];
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listTs(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function lineOf(text, index) {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

// ---------------------------------------------------------------------------------------------- ids

// Anything that looks like a statement id, including malformed ones (MQTT-3.1.2.7, MQTT-3-8.3-4), so typos are caught.
// A range, MQTT-3.3.2-15..20, stands for each id from 15 to 20.
const ID_LIKE = /MQTT-\d(?:[\d-]|\.(?!\.))*\d(?:\.\.\d+)?(?:\/(?:3\.1\.1|5\.0|5))?/g;
const WELL_FORMED = /^MQTT-\d+\.\d+\.\d+-\d+$/;
const RANGE = /^(MQTT-\d+\.\d+\.\d+-)(\d+)\.\.(\d+)$/;

// One token as found in the text -> the ids it names ({ id, version }).
function splitRef(token) {
  const slash = token.indexOf('/');
  const version = slash === -1 ? undefined : VERSION_ALIASES[token.slice(slash + 1)];
  const body = slash === -1 ? token : token.slice(0, slash);
  const range = RANGE.exec(body);
  if (range && Number(range[3]) > Number(range[2]) && Number(range[3]) - Number(range[2]) < 50) {
    const ids = [];
    for (let n = Number(range[2]); n <= Number(range[3]); n++) ids.push({ id: `${range[1]}${n}`, version });
    return ids;
  }
  return [{ id: body, version }];
}

// Blank out comments (keeping newlines and string literals) so commented-out tests are not counted.
function codeOnly(text) {
  const out = text.split('');
  let i = 0;
  const n = text.length;
  const blank = (from, to) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  const skipString = (quote) => {
    i++;
    while (i < n && text[i] !== quote) {
      if (text[i] === '\\') i++;
      else if (quote === '`' && text[i] === '$' && text[i + 1] === '{') {
        // ${ ... } inside a template literal: skip to the matching brace (strings inside are rare in names).
        let depth = 0;
        for (; i < n; i++) {
          if (text[i] === '{') depth++;
          else if (text[i] === '}' && --depth === 0) break;
        }
      }
      i++;
    }
    i++;
  };
  while (i < n) {
    const c = text[i];
    if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      const stop = end === -1 ? n : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? n : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === "'" || c === '"' || c === '`') {
      skipString(c);
    } else {
      i++;
    }
  }
  return out.join('');
}

// Reads the string literal starting at text[start] (a quote); returns its raw content, or undefined.
function readLiteral(text, start) {
  const quote = text[start];
  if (quote !== "'" && quote !== '"' && quote !== '`') return undefined;
  let i = start + 1;
  let value = '';
  while (i < text.length && text[i] !== quote) {
    if (text[i] === '\\') {
      value += text[i + 1] ?? '';
      i += 2;
      continue;
    }
    if (quote !== '`' && text[i] === '\n') return undefined;
    value += text[i];
    i++;
  }
  return i < text.length ? value : undefined;
}

const TEST_CALL = /(?<![\w$])(?:(?:[A-Za-z_$][\w$]*\.)?test|it|describe|suite)(?:\.(?:only|skip|todo))?\s*\(\s*/g;
// Table-driven tests: a fixture's `name: '...'` becomes the name of the test generated from it.
const FIXTURE_NAME = /(?<![\w$])name\s*:\s*/g;

function scanTestNames(file, text) {
  const code = codeOnly(text);
  const names = [];
  const calls = [...code.matchAll(TEST_CALL)];
  if (/fixtures?\.ts$/.test(file)) calls.push(...code.matchAll(FIXTURE_NAME));
  for (const m of calls) {
    // `x.it(` and `foo.describe(` are not test calls; `t.test(` (a subtest) is.
    const before = code[m.index - 1];
    if (before === '.') continue;
    const name = readLiteral(code, m.index + m[0].length);
    if (name === undefined) continue;
    const refs = [...name.matchAll(ID_LIKE)].flatMap((r) => splitRef(r[0]));
    if (refs.length > 0) names.push({ file, line: lineOf(text, m.index), name, refs });
  }
  return names;
}

function scanAllIds(file, text) {
  const found = [];
  for (const m of text.matchAll(ID_LIKE)) {
    const line = lineOf(text, m.index);
    for (const ref of splitRef(m[0])) found.push({ ...ref, file, line });
  }
  return found;
}

// For a malformed id, the well-formed id it most likely means (MQTT-3.1.2.7 -> MQTT-3.1.2-7).
function suggest(id, known) {
  const digits = id.slice(5).split(/[.-]/);
  if (digits.length !== 4) return '';
  const guess = `MQTT-${digits[0]}.${digits[1]}.${digits[2]}-${digits[3]}`;
  return known.has(guess) ? `; did you mean ${guess}?` : '';
}

// ---------------------------------------------------------------------------------------------- main

function load() {
  const specs = SPECS.map(({ version, file }) => {
    const statements = JSON.parse(readFileSync(join(root, file), 'utf8'));
    return { version, file, statements, byId: new Map(statements.map((s) => [s.id, s])) };
  });
  const known = new Set(specs.flatMap((s) => s.statements.map((st) => st.id)));

  const testFiles = listTs(join(root, 'test'));
  const srcFiles = listTs(join(root, 'src'));
  const tests = [];
  const all = [];
  for (const path of testFiles) {
    const text = readFileSync(path, 'utf8');
    const rel = relative(root, path);
    tests.push(...scanTestNames(rel, text));
    all.push(...scanAllIds(rel, text));
  }
  const cited = [];
  for (const path of srcFiles) {
    const text = readFileSync(path, 'utf8');
    const found = scanAllIds(relative(root, path), text);
    cited.push(...found);
    all.push(...found);
  }

  const unknown = all
    .filter((r) => !known.has(r.id) || (r.version !== undefined && !specs.find((s) => s.version === r.version).byId.has(r.id)))
    .map((r) => ({
      id: r.id,
      file: r.file,
      line: r.line,
      reason: !WELL_FORMED.test(r.id)
        ? `malformed id${suggest(r.id, known)}`
        : known.has(r.id)
          ? `not a statement of MQTT ${r.version}`
          : 'not in MQTT 3.1.1 or 5.0',
    }));

  return { specs, tests, cited, unknown, testFiles, srcFiles };
}

function report(opts) {
  const { specs, tests, cited, unknown, testFiles, srcFiles } = load();
  const selected = specs.filter((s) => opts.version === undefined || s.version === opts.version);

  const versions = selected.map((spec) => {
    const testedBy = new Map();
    for (const t of tests) {
      for (const r of t.refs) {
        if (!spec.byId.has(r.id) || (r.version !== undefined && r.version !== spec.version)) continue;
        if (!testedBy.has(r.id)) testedBy.set(r.id, []);
        testedBy.get(r.id).push(`${t.file}:${t.line}`);
      }
    }
    const citedIn = new Map();
    for (const c of cited) {
      if (!spec.byId.has(c.id) || (c.version !== undefined && c.version !== spec.version)) continue;
      if (!citedIn.has(c.id)) citedIn.set(c.id, []);
      citedIn.get(c.id).push(`${c.file}:${c.line}`);
    }
    const areas = AREAS.filter((a) => opts.area === undefined || a === opts.area).map((area) => {
      const statements = spec.statements.filter((s) => s.area === area);
      const untested = statements.filter((s) => !testedBy.has(s.id));
      return {
        area,
        statements: statements.length,
        tested: statements.length - untested.length,
        cited: statements.filter((s) => citedIn.has(s.id)).length,
        untested: untested.map((s) => ({ id: s.id, text: s.text, cited: citedIn.has(s.id) })),
        tests: Object.fromEntries(statements.filter((s) => testedBy.has(s.id)).map((s) => [s.id, testedBy.get(s.id)])),
      };
    });
    const sum = (k) => areas.reduce((acc, a) => acc + a[k], 0);
    return { version: spec.version, statements: sum('statements'), tested: sum('tested'), cited: sum('cited'), areas };
  });

  if (opts.summary) {
    // One line per version, and the problems: what `npm test` prints.
    for (const v of versions) {
      const areas = v.areas.map((a) => `${a.area} ${a.tested}/${a.statements}`).join(', ');
      console.log(`spec coverage MQTT ${v.version}: ${v.tested}/${v.statements} statements tested (${areas})`);
    }
    if (unknown.length > 0) printUnknown(unknown, console.error);
  } else if (opts.json) {
    const out = {
      scanned: { testFiles: testFiles.length, srcFiles: srcFiles.length, testNamesWithIds: tests.length },
      versions: opts.missing ? versions.map((v) => ({ ...v, areas: v.areas.map(({ tests: _t, ...rest }) => rest) })) : versions,
      unknown,
    };
    console.log(JSON.stringify(out, null, 2));
  } else if (opts.missing) {
    for (const v of versions) {
      for (const a of v.areas) {
        for (const s of a.untested) console.log(`${v.version}\t${a.area}\t${s.id}\t${s.text}`);
      }
    }
    if (unknown.length > 0) printUnknown(unknown, console.error);
  } else {
    console.log(`Scanned ${testFiles.length} test files (${tests.length} test names with spec ids) and ${srcFiles.length} source files.`);
    for (const v of versions) {
      console.log('');
      console.log(
        `MQTT ${v.version}: ${v.tested}/${v.statements} statements tested (${pct(v.tested, v.statements)}), ${v.cited} cited in src/`,
      );
      console.log(`  ${'area'.padEnd(10)} ${'statements'.padStart(10)} ${'tested'.padStart(7)} ${'cited'.padStart(6)}   coverage`);
      for (const a of v.areas) {
        console.log(
          `  ${a.area.padEnd(10)} ${String(a.statements).padStart(10)} ${String(a.tested).padStart(7)} ${String(a.cited).padStart(6)}   ${pct(a.tested, a.statements)}`,
        );
      }
      for (const a of v.areas) {
        if (a.untested.length === 0) continue;
        console.log(`  untested ${a.area} (${a.untested.length}; * = cited in src/):`);
        const items = a.untested.map((s) => `${s.id}${s.cited ? '*' : ''}`);
        for (let i = 0; i < items.length; i += 6) console.log(`    ${items.slice(i, i + 6).join('  ')}`);
      }
    }
    console.log('');
    printUnknown(unknown, console.log);
  }

  if (opts.check && unknown.length > 0) process.exitCode = 1;
}

function pct(n, d) {
  return d === 0 ? '-' : `${((100 * n) / d).toFixed(1)}%`;
}

function printUnknown(unknown, log) {
  if (unknown.length === 0) {
    log('Unknown ids: none');
    return;
  }
  log(`Unknown ids (${unknown.length}): not a numbered statement of MQTT 3.1.1 or 5.0`);
  for (const u of unknown) log(`  ${u.file}:${u.line}  ${u.id}  (${u.reason})`);
}

report(parseArgs(process.argv.slice(2)));

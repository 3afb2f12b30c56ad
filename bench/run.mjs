// Runs every bench/*.bench.mjs and bench/contention.mjs, one after the other, each in its own
// child process (each gets its own shared arena, and no JIT or GC state leaks between them),
// prints their output, and ends with a Markdown summary of their TARGET lines, also written to
// bench/results/summary.md.
//
//   node bench/run.mjs              all of them (what `npm run bench` runs, after building)
//   node bench/run.mjs get scale    only get.bench.mjs and scale.bench.mjs
//
// Exit code 0 when every benchmark ran, whether or not its targets were met: benchmarks are
// reports, not tests. 1 if a benchmark crashed or printed no TARGET line.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULTS_DIR } from './common.mjs';

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TARGET_LINE = /^TARGET (.+?): ratio (\S+) \(target (<=|>=) (\S+)\) (PASS|FAIL)\s*$/;

let files = readdirSync(BENCH_DIR)
  .filter((f) => f.endsWith('.bench.mjs'))
  .sort()
  .concat('contention.mjs');
const only = process.argv.slice(2);
if (only.length > 0) {
  files = files.filter((f) => only.some((o) => f === o || f.startsWith(`${o}.`)));
  if (files.length === 0) {
    console.error(`no benchmark matches ${only.join(', ')}`);
    process.exit(2);
  }
}

/** Runs one file; resolves to { code, signal, lines } with its stdout lines. */
function runOne(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(BENCH_DIR, file)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      out += chunk;
    });
    child.stderr.on('data', (chunk) => process.stderr.write(chunk));
    child.on('error', (err) => resolve({ code: -1, signal: null, lines: [], error: err }));
    child.on('close', (code, signal) => resolve({ code, signal, lines: out.split(/\r?\n/) }));
  });
}

const rows = [];
let broken = 0;
const started = performance.now();
// Other processes on the machine skew the ratios: the summary reports the load around the run.
const loadBefore = loadavg()[0];
for (const file of files) {
  console.log(`\n━━ ${file} ${'━'.repeat(Math.max(0, 60 - file.length))}`);
  const t0 = performance.now();
  const { code, signal, lines, error } = await runOne(file);
  const seconds = (performance.now() - t0) / 1000;
  const targets = [];
  for (const line of lines) {
    // Strip colour codes, in case a library printed some before the line.
    const m = TARGET_LINE.exec(line.replace(/\x1b\[[0-9;]*m/g, ''));
    if (m) targets.push({ file, name: m[1], ratio: m[2], target: `${m[3]} ${m[4]}`, result: m[5] });
  }
  if (code !== 0 || targets.length === 0) {
    broken++;
    const why = error ? error.message : signal ? `killed by ${signal}` : code !== 0 ? `exit code ${code}` : 'no TARGET line';
    targets.push({ file, name: basename(file, '.mjs'), ratio: '–', target: '–', result: `ERROR (${why})` });
  }
  rows.push(...targets);
  console.log(`── ${file}: ${seconds.toFixed(1)} s`);
}
const totalSeconds = (performance.now() - started) / 1000;

function table(rows) {
  const head = ['benchmark', 'ratio', 'target', 'result'];
  const body = rows.map((r) => [`${r.name} (${r.file})`, r.ratio, r.target, r.result]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(width[i])).join(' | ')} |`;
  return [line(head), `| ${width.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

const passed = rows.filter((r) => r.result === 'PASS').length;
const failed = rows.filter((r) => r.result === 'FAIL').length;
const cpu = cpus();
const summary = [
  `Benchmarks of native-keyshare, ${new Date().toISOString()}: Node ${process.version}, ${cpu.length} × ${cpu[0]?.model?.trim() ?? 'unknown CPU'}, ${totalSeconds.toFixed(0)} s, load average ${loadBefore.toFixed(2)} before, ${loadavg()[0].toFixed(2)} after.`,
  'Each ratio compares two cases measured in the same process and run (mean time per op);',
  'the contention ratios are bad or stale reads per read.',
  '',
  table(rows),
  '',
  `${passed} passed, ${failed} failed${broken ? `, ${broken} benchmark(s) broken` : ''}.`,
  '',
].join('\n');

console.log(`\n━━ summary ${'━'.repeat(52)}\n`);
console.log(summary);
mkdirSync(RESULTS_DIR, { recursive: true });
writeFileSync(join(RESULTS_DIR, 'summary.md'), summary);
console.log(`Written to ${join(RESULTS_DIR, 'summary.md')}`);
process.exitCode = broken > 0 ? 1 : 0;

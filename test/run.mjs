#!/usr/bin/env node
// Test runner for native-keyshare (plain Node ESM, no dependencies).
//
// Usage:  node test/run.mjs [filter ...]
//
//   Runs every `*.test.mjs` / `*.test.cjs` file directly inside the test
//   directory (not subdirectories; `fixtures/` holds worker scripts), sorted by
//   name. Filters are substrings of the file name; a file runs if its name
//   contains any of them (`node test/run.mjs lock ttl`).
//
//   Each file runs in its own child process (`node <file>`) because each
//   process has its own shared-memory arena and workers. Up to TEST_JOBS files
//   run at once. A file's output is buffered and printed as one block when it
//   finishes, followed by a status line:
//     ✔ name  N passed
//     ✘ name  N passed, M failed (exit code 1 | timeout after X ms | ...)
//   The very last line of output is always `N passed, N failed` (totals).
//   Exit code: 1 if anything failed (or no test file matched), else 0.
//
// Environment:
//   TEST_DIR              directory holding the test files
//                         (default: the directory containing this script)
//   TEST_FILE_TIMEOUT_MS  per-file timeout in ms (default 120000); on timeout
//                         the file's whole process group is killed (SIGKILL)
//   TEST_JOBS             files run in parallel (default 2)
//
// Counting. uvu 0.5.6 (node_modules/uvu/dist/index.mjs) prints, once per
// process after every suite queued by `.run()` has finished (all suites
// `.run()` in the same tick share one summary):
//
//     \n  Total:     <tests run>\n  Passed:    <n>\n  Skipped:   <n>\n  Duration:  <t>ms\n\n
//
// possibly wrapped in ANSI colour codes (kleur: on when stdout is a TTY or
// FORCE_COLOR is set; off under NO_COLOR), so codes are stripped before
// parsing. `Total` counts only tests that were executed: `test.skip(...)`
// tests and the tests left out by `test.only(...)` are reported in `Skipped`
// but are NOT part of `Total`, so failed = Total − Passed (subtracting
// Skipped as well would hide failures). uvu sets exit code 1 when a test
// throws. A `before`/`after` hook that throws makes the suite report e.g.
// `(0 / 2)` yet leaves the exit code at 0 — Total − Passed still counts those
// as failed. If `.run()` is called again after the first summary was printed
// (e.g. after a top-level await), uvu prints another summary for the new
// suites; all summaries of a file are summed.
//
// A file whose process exits non-zero, is killed, times out or prints no
// summary counts one extra failure when its parsed failures are 0, so a crash
// never looks green (no double counting when failures were already parsed).

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const out = (s) => process.stdout.write(s);
// A closed reader (e.g. `| head`) must not crash the run or hide its exit code.
process.stdout.on('error', (err) => {
  if (err.code !== 'EPIPE') throw err;
});

function positiveInt(name, fallback) {
  const raw = process.env[name];
  if (raw == null || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (Number.isInteger(n) && n > 0) return n;
  out(`warning: ignoring invalid ${name}=${JSON.stringify(raw)}, using ${fallback}\n`);
  return fallback;
}

const TEST_DIR = process.env.TEST_DIR
  ? path.resolve(process.env.TEST_DIR)
  : path.dirname(fileURLToPath(import.meta.url));
const TIMEOUT_MS = positiveInt('TEST_FILE_TIMEOUT_MS', 120_000);
const JOBS = positiveInt('TEST_JOBS', 2);
const KILL_GRACE_MS = 5_000; // wait for pipes to close after exit / kill
const IS_WIN = process.platform === 'win32';

const totalsLine = (passed, failed) => `${passed} passed, ${failed} failed\n`;

// ---------------------------------------------------------------- discovery

function findTestFiles(filters) {
  let entries;
  try {
    entries = readdirSync(TEST_DIR, { withFileTypes: true });
  } catch (err) {
    out(`cannot read test directory ${TEST_DIR}: ${err.message}\n`);
    return [];
  }
  return entries
    .filter((d) => !d.isDirectory() && /\.test\.(mjs|cjs)$/.test(d.name))
    .map((d) => d.name)
    .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

// ------------------------------------------------------------------ parsing

// CSI sequences (colours, cursor moves) and OSC sequences.
const ANSI = /\x1b\[[0-9;?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;
const stripAnsi = (s) => s.replace(ANSI, '');

/** Sum of every uvu summary block in `text`, or null if there is none. */
function parseUvuSummary(text) {
  const lines = stripAnsi(text).replace(/\r/g, '').split('\n');
  const blocks = [];
  let cur = null;
  for (const line of lines) {
    let m;
    if ((m = /^\s*Total:\s+(\d+)\s*$/.exec(line))) {
      cur = { total: +m[1], passed: null, skipped: 0 };
      blocks.push(cur);
    } else if (cur && cur.passed === null && (m = /^\s*Passed:\s+(\d+)\s*$/.exec(line))) {
      cur.passed = +m[1];
    } else if (cur && (m = /^\s*Skipped:\s+(\d+)\s*$/.exec(line))) {
      cur.skipped = +m[1];
      cur = null;
    }
  }
  const valid = blocks.filter((b) => b.passed !== null);
  if (valid.length === 0) return null;
  return valid.reduce(
    (acc, b) => ({
      total: acc.total + b.total,
      passed: acc.passed + b.passed,
      skipped: acc.skipped + b.skipped,
      blocks: acc.blocks + 1,
    }),
    { total: 0, passed: 0, skipped: 0, blocks: 0 },
  );
}

// ---------------------------------------------------------------- processes

const running = new Set();

function killTree(child, signal = 'SIGKILL') {
  if (child.pid == null) return;
  try {
    if (IS_WIN) {
      spawn('taskkill', ['/pid', String(child.pid), '/T', '/F'], { stdio: 'ignore' });
    } else {
      process.kill(-child.pid, signal); // whole process group (detached below)
    }
  } catch {
    try { child.kill(signal); } catch { /* already gone */ }
  }
}

function runFile(name) {
  const file = path.join(TEST_DIR, name);
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks = [];
    let stdoutText = '';
    let timedOut = false;
    let exitCode = null;
    let exitSignal = null;
    let spawnError = null;
    let done = false;
    let graceTimer = null;

    const child = spawn(process.execPath, [file], {
      cwd: process.cwd(),
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: !IS_WIN, // own process group, so the whole tree can be killed
      windowsHide: true,
    });
    running.add(child);

    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s) => { stdoutText += s; chunks.push(s); });
    child.stderr.on('data', (s) => { chunks.push(s); });

    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      running.delete(child);
      killTree(child); // reap leftovers of the process group, if any
      resolve({
        name,
        output: chunks.join(''),
        stdoutText,
        timedOut,
        exitCode,
        exitSignal,
        spawnError,
        ms: Date.now() - started,
      });
    };

    const timer = setTimeout(() => {
      timedOut = true;
      killTree(child);
      graceTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }, KILL_GRACE_MS);
    }, TIMEOUT_MS);

    child.on('error', (err) => {
      spawnError = err;
      finish();
    });
    child.on('exit', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      // A grandchild may still hold the pipes open; don't wait for it forever.
      clearTimeout(graceTimer);
      graceTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }, KILL_GRACE_MS);
    });
    child.on('close', (code, signal) => {
      if (exitCode === null && exitSignal === null) {
        exitCode = code;
        exitSignal = signal;
      }
      finish();
    });
  });
}

function evaluate(r) {
  const summary = parseUvuSummary(r.stdoutText);
  const passed = summary ? summary.passed : 0;
  let failed = summary ? Math.max(0, summary.total - summary.passed) : 0;
  const skipped = summary ? summary.skipped : 0;

  const reasons = [];
  if (r.spawnError) reasons.push(`spawn error: ${r.spawnError.message}`);
  if (r.timedOut) reasons.push(`timeout after ${TIMEOUT_MS} ms`);
  else if (r.exitSignal) reasons.push(`killed by ${r.exitSignal}`);
  else if (r.exitCode !== 0 && r.exitCode !== null) reasons.push(`exit code ${r.exitCode}`);
  if (!summary) reasons.push('no uvu summary');

  // reasons non-empty means the process itself did not end cleanly
  if (reasons.length > 0 && failed === 0) failed = 1;
  return { ...r, summary, passed, failed, skipped, reasons };
}

function statusLine(e) {
  if (e.failed === 0) {
    return `✔ ${e.name}  ${e.passed} passed${e.summary && e.summary.total === 0 ? ' (no tests)' : ''}`;
  }
  const why = e.reasons.length ? ` (${e.reasons.join(', ')})` : '';
  return `✘ ${e.name}  ${e.passed} passed, ${e.failed} failed${why}`;
}

function printGroup(e) {
  const title = `── ${path.relative(process.cwd(), path.join(TEST_DIR, e.name)) || e.name} (${(e.ms / 1000).toFixed(2)} s) `;
  out(`${title}${'─'.repeat(Math.max(4, 72 - title.length))}\n`);
  let body = e.output;
  if (body.length && !body.endsWith('\n')) body += '\n';
  out(body);
  out(`${statusLine(e)}\n\n`);
}

// --------------------------------------------------------------------- main

async function main() {
  const filters = process.argv.slice(2).filter((a) => a !== '');
  const files = findTestFiles(filters);

  if (files.length === 0) {
    out(`No test files (*.test.mjs, *.test.cjs) in ${TEST_DIR}` +
      (filters.length ? ` matching ${filters.map((f) => JSON.stringify(f)).join(' or ')}` : '') + '\n');
    out(totalsLine(0, 1));
    process.exitCode = 1;
    return;
  }

  out(`Running ${files.length} test file(s), ${Math.min(JOBS, files.length)} at a time, timeout ${TIMEOUT_MS} ms each\n\n`);

  const results = new Map();
  let next = 0;
  async function worker() {
    while (next < files.length) {
      const name = files[next++];
      const e = evaluate(await runFile(name));
      results.set(name, e);
      printGroup(e);
    }
  }
  await Promise.all(Array.from({ length: Math.min(JOBS, files.length) }, worker));

  let passed = 0;
  let failed = 0;
  out('Summary:\n');
  for (const name of files) {
    const e = results.get(name);
    passed += e.passed;
    failed += e.failed;
    out(`  ${statusLine(e)}\n`);
  }
  out('\n');
  out(totalsLine(passed, failed));
  process.exitCode = failed > 0 ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const child of running) killTree(child);
    out(`\ninterrupted by ${sig}\n`);
    out(totalsLine(0, 1));
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

main().catch((err) => {
  out(`test runner crashed: ${err && err.stack ? err.stack : err}\n`);
  out(totalsLine(0, 1));
  process.exitCode = 1;
});

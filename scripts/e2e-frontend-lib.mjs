// Shared pieces of the front-end checks (scripts/e2e-frontend*.mjs): start our server with a built front end,
// drive headless Chromium through playwright-core, record what the page and its WebSocket did, and report
// PASS/FAIL checks. Nothing here ships a front end or a browser; see docs/frontend-e2e.md.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** playwright-core from `dir` (a folder whose node_modules holds it) or from this repository. */
export function loadPlaywright(dir) {
  const bases = [dir && join(resolve(dir), 'package.json'), join(repoRoot, 'package.json')];
  for (const base of bases.filter(Boolean)) {
    try {
      return createRequire(base)('playwright-core');
    } catch {}
  }
  console.error('playwright-core not found: npm install it in some folder and pass --playwright <folder>');
  process.exit(2);
}

/** Starts `tsx src/cli.ts serve` on a free port with a fresh data folder; resolves once it is listening. */
export function startServer(frontEnd) {
  const dataDir = mkdtempSync(join(tmpdir(), 'fe-e2e-data-'));
  const child = spawn(
    process.execPath,
    [
      join(repoRoot, 'node_modules/tsx/dist/cli.mjs'),
      join(repoRoot, 'src/cli.ts'),
      'serve',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--front-end',
      resolve(frontEnd),
      '--log',
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log = [];
  return new Promise((resolveUrl, reject) => {
    const onData = (chunk) => {
      const text = chunk.toString();
      log.push(text);
      const m = /listening on (http:\/\/\S+)/.exec(text);
      if (m) resolveUrl({ url: m[1], child, log, dataDir });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited (${code}):\n${log.join('')}`)));
  });
}

/** Headless Chromium with a fresh profile, and a page whose errors, responses and WebSocket frames are recorded. */
export async function openPage(playwright, chromiumPath) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'fe-e2e-profile-'));
  const context = await playwright.chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1600, height: 1000 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const record = {
    consoleErrors: [],
    consoleWarnings: [],
    pageErrors: [],
    badResponses: [],
    failedRequests: [],
    wsFrames: [],
  };
  page.on('console', (msg) => {
    if (msg.type() === 'error') record.consoleErrors.push(msg.text());
    if (msg.type() === 'warning') record.consoleWarnings.push(msg.text());
  });
  page.on('pageerror', (err) => record.pageErrors.push(String(err?.stack ?? err)));
  page.on('requestfailed', (req) =>
    record.failedRequests.push(`${req.method()} ${req.url()} ${req.failure()?.errorText}`),
  );
  page.on('response', (res) => {
    if (res.status() >= 400)
      record.badResponses.push(`${res.status()} ${res.request().method()} ${res.url()}`);
  });
  page.on('websocket', (ws) => {
    ws.on('framereceived', (f) => record.wsFrames.push({ dir: 'in', payload: f.payload, t: Date.now() }));
    ws.on('framesent', (f) => record.wsFrames.push({ dir: 'out', payload: f.payload, t: Date.now() }));
  });
  /** Received JSON frames, optionally of one type. */
  record.jsonFrames = (type) =>
    record.wsFrames
      .filter((f) => f.dir === 'in' && typeof f.payload === 'string')
      .map((f) => {
        try {
          return JSON.parse(f.payload);
        } catch {
          return null;
        }
      })
      .filter((m) => m && (!type || m.type === type));
  return { context, page, record };
}

/** Waits until the front end has booted: an app with a graph and the server's node types registered. */
export async function waitForBoot(page, nodeType = 'KSampler') {
  await page.waitForFunction(
    (type) => {
      const app = window.app || window.comfyAPI?.app?.app;
      return app?.graph && globalThis.LiteGraph?.registered_node_types?.[type];
    },
    nodeType,
    { timeout: 120_000 },
  );
}

/** Presses the front end's "fit view" shortcut so every node is in the screenshot. */
export async function fitView(page) {
  await page.mouse.click(1500, 120); // empty canvas, top right: focuses the canvas without hitting a node
  await page.keyboard.press('.');
  await page.waitForTimeout(500);
}

/** PASS/FAIL/WARN lines as they happen, kept for the report. */
export function createChecks() {
  const checks = [];
  const warnings = [];
  return {
    checks,
    warnings,
    check(name, ok, detail = '') {
      checks.push({ name, ok: Boolean(ok), detail });
      console.log(`${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? ` — ${detail}` : ''}`);
    },
    warn(name, detail = '') {
      warnings.push({ name, detail });
      console.log(`WARN  ${name}${detail ? ` — ${detail}` : ''}`);
    },
    allPassed: () => checks.length > 0 && checks.every((c) => c.ok),
  };
}

// Page errors a front-end build raises by itself whatever the server does: reported as WARN, not FAIL.
const KNOWN_FRONT_END_ERRORS = [
  {
    pattern: /at Proxy\.updateInkBar /,
    why: "front end 1.3.x bug: PrimeVue's TabList in the always-mounted, hidden bottom panel has no tabs in a browser",
  },
];

/** One check that no page error happened, except the known front-end bugs above, which are warnings. */
export function checkPageErrors({ check, warn }, name, errors) {
  const known = (e) => KNOWN_FRONT_END_ERRORS.find((k) => k.pattern.test(e));
  for (const e of errors.filter(known)) warn(`known front-end error: ${known(e).why}`, e.split('\n')[0]);
  const rest = errors.filter((e) => !known(e));
  check(name, rest.length === 0, rest[0] ?? '');
}

/** Writes `report.json` into `outDir` (with `extra` fields, e.g. timings) and prints the page's errors and a summary. */
export function writeReport(outDir, { checks, warnings }, record, extra = {}) {
  const report = {
    checks,
    warnings,
    ...extra,
    consoleErrors: record.consoleErrors,
    consoleWarnings: record.consoleWarnings,
    pageErrors: record.pageErrors,
    badResponses: record.badResponses,
    failedRequests: record.failedRequests,
    wsFrames: record.wsFrames.map((f) => ({
      ...f,
      payload:
        typeof f.payload === 'string'
          ? f.payload.slice(0, 2000)
          : `<binary event ${f.payload.readUInt32BE(0)}, ${f.payload.length} bytes>`,
    })),
  };
  writeFileSync(join(outDir, 'report.json'), JSON.stringify(report, null, 2));
  const list = (title, items) => {
    console.log(`${title} (${items.length}):`);
    for (const item of items.slice(0, 30)) console.log(`  ${item.slice(0, 300)}`);
  };
  console.log('');
  list('console errors', record.consoleErrors);
  list('page errors', record.pageErrors);
  list('HTTP ≥400 responses', record.badResponses);
  list('failed requests', record.failedRequests);
  const passed = checks.filter((c) => c.ok).length;
  console.log(
    `\n${passed}/${checks.length} checks passed → ${passed === checks.length && passed > 0 ? 'PASS' : 'FAIL'}`,
  );
  console.log(`report: ${join(outDir, 'report.json')}`);
}

/** One record of several pages (e.g. one per server), for a single report. */
export function mergeRecords(records) {
  const keys = [
    'consoleErrors',
    'consoleWarnings',
    'pageErrors',
    'badResponses',
    'failedRequests',
    'wsFrames',
  ];
  return Object.fromEntries(keys.map((key) => [key, records.flatMap((r) => r[key])]));
}

/**
 * Opens a workflow file the way a user does: the menu's Open entry (1.4-era front ends: Workflow → Open in the
 * top bar; current ones: the Comfy logo menu → File → Open; older ones: the floating menu's Load button), then
 * the file chooser. Falls back to the Ctrl+O shortcut. Resolves to the path taken.
 */
export async function openWorkflowFile(page, file) {
  const visible = (locator) => locator.isVisible().catch(() => false);
  const choose = async (how, act) => {
    const chooser = page.waitForEvent('filechooser', { timeout: 10_000 });
    await act();
    await (await chooser).setFiles(file);
    return how;
  };
  const workflowMenu = page.getByRole('menuitem', { name: 'Workflow', exact: true }).first();
  if (await visible(workflowMenu)) {
    await workflowMenu.click();
    const open = page.getByRole('menuitem', { name: 'Open', exact: true }).first();
    if (await visible(open)) return choose('Workflow → Open menu', () => open.click());
    await page.keyboard.press('Escape');
  }
  const logoMenu = page.locator('.comfy-menu-button-wrapper:visible').first();
  if (await visible(logoMenu)) {
    await logoMenu.click();
    const fileMenu = page.getByRole('menuitem', { name: 'File', exact: true }).first();
    if (await visible(fileMenu)) {
      await fileMenu.hover();
      const open = page.getByRole('menuitem', { name: 'Open', exact: true }).first();
      if (await visible(open)) return choose('Comfy menu → File → Open', () => open.click());
    }
    await page.keyboard.press('Escape');
  }
  // Front ends before 1.4 (and pre-1.0) keep the legacy floating menu, whose Load button opens the chooser.
  const legacyLoad = page.locator('#comfy-load-button:visible').first();
  if (await visible(legacyLoad)) return choose('legacy menu → Load', () => legacyLoad.click());
  await page.mouse.click(1500, 120);
  return choose('Ctrl+O shortcut', () => page.keyboard.press('Control+o'));
}

/** Presses the action bar's Queue/Run button; falls back to `app.queuePrompt(0)`. Resolves to the path taken. */
export async function pressQueue(page) {
  const button = page
    .locator(
      '[data-testid="queue-button"]:visible, button[aria-label="Queue"]:visible, button.comfy-queue-btn:visible',
    )
    .first();
  if (await button.isVisible().catch(() => false)) {
    await button.click();
    return 'the Queue/Run button';
  }
  await page.evaluate(() => (window.app || window.comfyAPI.app.app).queuePrompt(0));
  return 'app.queuePrompt(0)';
}

#!/usr/bin/env node
// Black-box check of the Cones front-end extension (web/, served from dist/web) in a real ComfyUI front end:
// builds a small graph (Load Checkpoint → Load Subject Photos → Extract Concept in `--rounds` rounds → Concept
// Info + Save Concept), queues it, and checks the live loss curve, the text shown on the nodes, the fixed seed
// and the concept embed/strip menu entries. Not part of `npm test`; run `npm run build` first. See docs/frontend-e2e.md.
//
//   node scripts/e2e-frontend-cones.mjs --front-end DIR [--chromium /usr/bin/chromium] [--playwright DIR]
//        [--out DIR] [--steps 6] [--rounds 2] [--timeout-s 600]
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  checkPageErrors,
  createChecks,
  fitView,
  loadPlaywright,
  openPage,
  startServer,
  waitForBoot,
  writeReport,
} from './e2e-frontend-lib.mjs';

const { values: opts } = parseArgs({
  options: {
    'front-end': { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    playwright: { type: 'string' },
    out: { type: 'string' },
    steps: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '2' },
    'timeout-s': { type: 'string', default: '600' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opts.help || !opts['front-end']) {
  console.log(
    'usage: node scripts/e2e-frontend-cones.mjs --front-end DIR [--chromium PATH] [--playwright DIR]\n' +
      '       [--out DIR] [--steps N] [--rounds N] [--timeout-s N]',
  );
  process.exit(opts.help ? 0 : 2);
}
const outDir = resolve(opts.out ?? mkdtempSync(join(tmpdir(), 'fe-e2e-cones-')));
mkdirSync(outDir, { recursive: true });
const steps = Number(opts.steps);
const rounds = Number(opts.rounds);
// Each round runs `steps` steps; progress and cones.loss count the steps of all rounds.
const totalSteps = steps * rounds;
const timeoutMs = Number(opts['timeout-s']) * 1000;

const playwright = loadPlaywright(opts.playwright);
const server = await startServer(opts['front-end']);
const base = server.url.replace(/\/$/, '');
console.log(`server: ${base}   screenshots: ${outDir}`);
const { context, page, record } = await openPage(playwright, opts.chromium);
const checks = createChecks();
const { check, warn } = checks;

/** Runs `fn(helpers, arg)` in the page; the helpers (app, widget lookup) are installed after boot. */
const inApp = (fn, arg) =>
  page.evaluate(
    ({ source, arg }) =>
      new Function('helpers', 'arg', `return (${source})(helpers, arg);`)(window.__conesE2e, arg),
    { source: fn.toString(), arg },
  );

try {
  await page.goto(`${base}/`, { waitUntil: 'load', timeout: 60_000 });
  await waitForBoot(page, 'ConesExtractConcept');
  await page.waitForTimeout(2000);
  await page.keyboard.press('Escape'); // newer front ends open a templates dialog on first start
  await page.evaluate(() => {
    window.__conesE2e = {
      app: window.app || window.comfyAPI?.app?.app,
      widget: (node, name) => node?.widgets?.find((w) => w.name === name),
    };
  });
  const listed = await page.evaluate(async () => (await fetch('api/extensions')).json());
  check(
    'GET /api/extensions lists the Cones extension',
    listed.includes('/extensions/cones-nodes/cones-nodes.js'),
    JSON.stringify(listed),
  );
  check(
    'the extension loaded (window.conesNodes set by cones.nodes)',
    await page.evaluate(() => typeof window.conesNodes?.curveOf === 'function'),
  );
  checkPageErrors(checks, 'no uncaught page errors during boot', record.pageErrors);

  const built = await inApp(
    ({ app, widget }, { steps, rounds }) => {
      const LG = globalThis.LiteGraph;
      app.graph.clear();
      const add = (type, pos, values = {}) => {
        const node = LG.createNode(type);
        node.pos = pos;
        app.graph.add(node);
        for (const [name, value] of Object.entries(values)) {
          const w = widget(node, name);
          if (w) w.value = value;
        }
        return node;
      };
      const link = (from, slot, to, input) =>
        from.connect(
          slot,
          to,
          to.inputs.findIndex((i) => i.name === input),
        );
      const ckpt = add('CheckpointLoaderSimple', [40, 80], { ckpt_name: 'tiny-sd1-demo.safetensors' });
      const photos = add('ConesLoadSubjectImages', [40, 330], { subject: 'green-dotted-star', size: 64 });
      const extract = add('ConesExtractConcept', [420, 80], {
        identifier: 'sks',
        class_noun: 'star',
        steps,
        learning_rate: 0.05,
        prior_count: 0,
        resolution: 64,
        hflip: false,
        rounds,
      });
      const info = add('ConesConceptInfo', [900, 60]);
      const save = add('ConesSaveConcept', [900, 520], { filename_prefix: 'e2e/sks_star' });
      link(ckpt, 0, extract, 'model');
      link(ckpt, 1, extract, 'clip');
      link(ckpt, 2, extract, 'vae');
      link(photos, 0, extract, 'images');
      link(extract, 0, info, 'concept');
      link(extract, 0, save, 'concept');
      app.graph.setDirtyCanvas(true, true);
      return {
        ids: { extract: extract.id, info: info.id, save: save.id },
        control: widget(extract, 'control_after_generate')?.value ?? null,
        seed: widget(extract, 'seed')?.value ?? null,
        rounds: widget(extract, 'rounds')?.value ?? null,
        widgets: extract.widgets.map((w) => w.name),
      };
    },
    { steps, rounds },
  );
  console.log(`Extract Concept widgets: ${built.widgets.join(', ')}`);
  check(
    'Extract Concept seed control is "fixed" on a new node',
    built.control === 'fixed',
    String(built.control),
  );
  check('Extract Concept has the loss curve widget', built.widgets.includes('cones_loss_curve'));
  check(
    `Extract Concept has a rounds widget, set to ${rounds}`,
    built.rounds === rounds,
    String(built.rounds),
  );
  await fitView(page);
  await page.screenshot({ path: join(outDir, '1-graph.png') });

  const promptResponse = page.waitForResponse(
    (r) => r.url().endsWith('/api/prompt') && r.request().method() === 'POST',
    { timeout: 60_000 },
  );
  await page.evaluate(() => (window.app || window.comfyAPI.app.app).queuePrompt(0));
  const res = await promptResponse;
  const body = await res.json().catch(() => null);
  check(
    'POST /api/prompt accepted',
    res.status() === 200 && body?.prompt_id,
    `${res.status()} ${JSON.stringify(body)}`,
  );
  const promptId = body?.prompt_id;
  const sent = res.request().postDataJSON()?.prompt?.[String(built.ids.extract)]?.inputs;
  check(
    `the queued prompt carries rounds = ${rounds}`,
    sent?.rounds === rounds,
    JSON.stringify(sent?.rounds),
  );

  // While it trains: the curve fills in from cones.loss events.
  const extractId = built.ids.extract;
  await page
    .waitForFunction(
      (id) => {
        const app = window.app || window.comfyAPI.app.app;
        const node = app.graph.getNodeById(id);
        return (window.conesNodes.curveOf(node)?.losses.length ?? 0) >= 2;
      },
      extractId,
      { timeout: timeoutMs, polling: 50 },
    )
    .then(() => page.screenshot({ path: join(outDir, '2-training.png') }))
    .catch(() => warn('no screenshot while training (the run ended before two steps were drawn)'));
  const deadline = Date.now() + timeoutMs;
  const finished = () =>
    record
      .jsonFrames()
      .find(
        (m) => m.data?.prompt_id === promptId && ['execution_success', 'execution_error'].includes(m.type),
      );
  while (!finished() && Date.now() < deadline) await page.waitForTimeout(250);
  await page.waitForTimeout(1000);
  await fitView(page);
  await page.screenshot({ path: join(outDir, '3-done.png') });
  const end = finished();
  check(
    'execution_success received',
    end?.type === 'execution_success',
    JSON.stringify(end?.data ?? null).slice(0, 400),
  );

  const lossFrames = record.jsonFrames('cones.loss').filter((m) => m.data?.prompt_id === promptId);
  check(
    `${totalSteps} cones.loss events (${rounds} × ${steps} steps) arrived on /ws in step order`,
    lossFrames.map((m) => m.data.step).join(',') ===
      Array.from({ length: totalSteps }, (_, i) => i + 1).join(','),
    lossFrames.map((m) => `${m.data.step}:${Number(m.data.loss).toPrecision(3)}`).join(' '),
  );
  const after = await inApp(({ app, widget }, ids) => {
    const extract = app.graph.getNodeById(ids.extract);
    const info = app.graph.getNodeById(ids.info);
    const save = app.graph.getNodeById(ids.save);
    const curve = window.conesNodes.curveOf(extract);
    return {
      curve: curve ? { steps: curve.steps, points: curve.losses.length } : null,
      infoText: widget(info, 'cones_text')?.value ?? null,
      extractText: widget(extract, 'cones_text')?.value ?? null,
      savedText: widget(save, 'cones_text')?.value ?? null,
      control: widget(extract, 'control_after_generate')?.value ?? null,
      seed: widget(extract, 'seed')?.value ?? null,
    };
  }, built.ids);
  check(
    'the node shows the loss curve of every step',
    after.curve?.points === totalSteps && after.curve?.steps === totalSteps,
    JSON.stringify(after.curve),
  );
  check(
    'Concept Info shows its text on the node',
    typeof after.infoText === 'string' && after.infoText.length > 0,
    String(after.infoText).slice(0, 120),
  );
  check(
    'Extract Concept shows its summary on the node',
    /concept neurons/.test(String(after.extractText)) &&
      String(after.extractText).includes(
        rounds > 1 ? `in ${rounds} rounds × ${steps} steps` : `in ${steps} steps`,
      ),
    String(after.extractText),
  );
  check(
    'the seed stayed as it was after the run (control still "fixed")',
    after.control === 'fixed' && after.seed === built.seed,
    `control ${after.control}, seed ${built.seed} → ${after.seed}`,
  );

  // Embed the saved concept through a Load Concept node's context menu, then strip it again.
  const saved = record
    .jsonFrames('executed')
    .find((m) => m.data?.prompt_id === promptId && String(m.data.node) === String(built.ids.save))?.data
    ?.output?.text?.[0];
  const embed = await inApp(async ({ app, widget }, name) => {
    const load = globalThis.LiteGraph.createNode('ConesLoadConcept');
    load.pos = [420, 700];
    app.graph.add(load);
    widget(load, 'concept_name').value = name;
    const options = [];
    load.getExtraMenuOptions(app.canvas, options);
    const entry = (label) => options.find((o) => o?.content === label);
    const labels = options.filter(Boolean).map((o) => o.content);
    entry('Embed concepts in workflow').callback();
    for (let i = 0; i < 100 && !app.graph.extra?.cones_concepts?.[name]; i++)
      await new Promise((r) => setTimeout(r, 100));
    const embedded = app.graph.extra?.cones_concepts?.[name];
    const serialized = JSON.stringify(app.graph.serialize()).includes(embedded?.sha256 ?? 'none');
    entry('Strip concepts from workflow').callback();
    return {
      labels,
      sha256: embedded?.sha256 ?? null,
      dataLength: embedded?.data?.length ?? 0,
      serialized,
      stripped: !app.graph.extra?.cones_concepts,
    };
  }, saved);
  check(
    'context menu embeds the Load Concept file in graph.extra.cones_concepts (and the saved workflow)',
    /^[0-9a-f]{64}$/.test(String(embed.sha256)) && embed.dataLength > 0 && embed.serialized,
    `${saved}: ${JSON.stringify({ ...embed, labels: undefined })}`,
  );
  check('context menu strips them again', embed.stripped, embed.labels.join(' | '));
  const unknown = record.consoleWarnings.filter((w) => /cones\.loss/.test(w));
  check(
    'the front end did not report cones.loss as an unknown message',
    unknown.length === 0,
    unknown[0] ?? '',
  );
  await fitView(page);
  await page.screenshot({ path: join(outDir, '4-embedded.png') });
} catch (e) {
  check('run completed without a script error', false, String(e?.stack ?? e));
  await page.screenshot({ path: join(outDir, 'error.png') }).catch(() => {});
} finally {
  writeReport(outDir, checks, record);
  await context.close();
  server.child?.kill();
}
process.exit(checks.allPassed() ? 0 : 1);

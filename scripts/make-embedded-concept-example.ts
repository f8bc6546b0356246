/**
 * Re-makes the concept that examples/workflows/cones-embedded-concept.api.json carries: runs the
 * single-subject example (Extract Concept "zwx ring" on the orange-striped-ring photos) on a fresh data
 * folder, takes the concept its Save Concept wrote and puts it, base64 with its SHA-256, into Load
 * Concept's `_meta.cones_concept`. Then it rewrites the UI twins (scripts/make-ui-examples.ts).
 *
 *   npx tsx scripts/make-embedded-concept-example.ts [--checkpoint model.safetensors]
 *
 * The concept only applies to the model it was extracted from (Apply Concept Mask checks the
 * fingerprint), so run it again whenever the demo model changes. Without --checkpoint the data
 * folder's own demo model is used (the shipped one, or the random tiny model with
 * CONES_DEMO_MODEL=random, which is what the tests run the example on).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeEmbedded, PROMPT_META_KEY } from '../src/cones/embed.js';
import { createPromptService } from '../src/engine/prompt-service.js';
import type { ApiPrompt } from '../src/engine/service-types.js';
import { assetPath } from '../src/shared/assets.js';

const CONCEPT_NAME = 'examples/zwx_ring.cones.safetensors';
const CHECKPOINT_NAME = 'tiny-sd1-demo.safetensors';

const { values } = parseArgs({ options: { checkpoint: { type: 'string' } } });
const root = assetPath('..');
const workflows = join(root, 'examples', 'workflows');
const readPrompt = (name: string): ApiPrompt => JSON.parse(readFileSync(join(workflows, name), 'utf8'));

const source = readPrompt('cones-single-subject.api.json');
const save = Object.values(source).find((n) => n.class_type === 'ConesSaveConcept');
const loader = Object.values(source).find((n) => n.class_type === 'CheckpointLoaderSimple');
if (!save || loader?.inputs.ckpt_name !== CHECKPOINT_NAME)
  throw new Error(`the single-subject example needs Save Concept and ${CHECKPOINT_NAME}`);

const dataDir = mkdtempSync(join(tmpdir(), 'embedded-concept-'));
const started = performance.now();
try {
  if (values.checkpoint) {
    mkdirSync(join(dataDir, 'models', 'checkpoints'), { recursive: true });
    copyFileSync(resolve(values.checkpoint), join(dataDir, 'models', 'checkpoints', CHECKPOINT_NAME));
  }
  const service = createPromptService({ dataDir, log: () => {} });
  try {
    const queued = await service.queuePrompt({
      client_id: 'make-embedded-concept',
      prompt: source,
      extra_data: {},
    });
    if (!queued.ok) throw new Error(`the single-subject example was refused: ${JSON.stringify(queued)}`);
    const entry = await service.waitForPrompt(queued.prompt_id);
    const status = entry.status as { status_str?: string; messages?: unknown };
    if (status?.status_str !== 'success')
      throw new Error(`the run failed: ${JSON.stringify(status?.messages)}`);
  } finally {
    await service.close();
  }
  const file = join(dataDir, 'models', 'concepts', `${save.inputs.filename_prefix}_00001_.cones.safetensors`);
  const bytes = new Uint8Array(readFileSync(file));

  const target = join(workflows, 'cones-embedded-concept.api.json');
  const prompt = readPrompt('cones-embedded-concept.api.json');
  const load = Object.values(prompt).find((n) => n.class_type === 'ConesLoadConcept');
  if (!load) throw new Error('cones-embedded-concept.api.json has no Load Concept node');
  load.inputs.concept_name = CONCEPT_NAME;
  const meta = (load as { _meta?: Record<string, unknown> })._meta ?? {};
  meta[PROMPT_META_KEY] = { name: CONCEPT_NAME, ...encodeEmbedded(bytes) };
  (load as { _meta?: Record<string, unknown> })._meta = meta;
  writeFileSync(target, `${JSON.stringify(prompt, null, 2)}\n`);
  console.log(
    `wrote ${target}: ${CONCEPT_NAME}, ${bytes.length} bytes, extracted in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
execFileSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'make-ui-examples.ts')], {
  stdio: 'inherit',
});

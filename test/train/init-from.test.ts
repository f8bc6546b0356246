import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/train-toy-model.js';
import { SafetensorsFile } from '../../src/sd/checkpoint/safetensors-reader.js';
import { writeSafetensors } from '../../src/sd/checkpoint/safetensors-writer.js';
import { UNET_PREFIX } from '../../src/sd/checkpoint/sd1-tensors.js';
import type { RunRecord } from '../../src/train/lineage.js';
import { emaDecay } from '../../src/train/optimizer.js';
import { unetStage } from '../../src/train/stages.js';
import { loadTrainState, type TrainState } from '../../src/train/state.js';
import { startState, type TrainOptions, train, trainPaths } from '../../src/train/trainer.js';
import { bytesOf, testRecipe } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'train-init-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

async function metadataOf(path: string): Promise<Readonly<Record<string, string>>> {
  const file = await SafetensorsFile.open(path);
  try {
    return file.metadata;
  } finally {
    await file.close();
  }
}

/** A copy of `from` at `to` with its metadata passed through `edit` (tensors unchanged). */
async function rewriteMetadata(
  from: string,
  to: string,
  edit: (meta: Record<string, string>) => Record<string, string>,
): Promise<void> {
  const file = await SafetensorsFile.open(from);
  try {
    const specs = [...file.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
    await writeSafetensors(to, specs, (spec) => file.readRaw(spec.name), {
      metadata: edit({ ...file.metadata }),
    });
  } finally {
    await file.close();
  }
}

function stopAt(step: number) {
  const controller = new AbortController();
  return {
    signal: controller.signal,
    onStep: (e: { step: number }) => {
      if (e.step === step) controller.abort();
    },
  };
}

describe('train-toy-model --init-from and --export-only', () => {
  const recipe = testRecipe({ vae: 2, unet: 2 });
  const first = join(dir, 'first.safetensors');
  let firstState: TrainState;
  let firstF16: Buffer;

  beforeAll(async () => {
    // The first part of a recipe, exported as F16 (as the lead commits it).
    firstState = (await train({ out: first, recipe, stages: ['vae', 'unet'], fp16: true })).state;
    firstF16 = readFileSync(first);
  }, 120_000);

  it('--export-only writes the same F16 file as the run did, and F32 on request, reading the state only', async () => {
    const state = readFileSync(trainPaths(first).state);
    const log = readFileSync(trainPaths(first).log);
    vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await run([first, '--export-only', '--fp16'])).toBe(0);
      expect(readFileSync(first).equals(firstF16)).toBe(true);
      expect(await run([first, '--export-only'])).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
    expect(readFileSync(trainPaths(first).state).equals(state)).toBe(true);
    expect(readFileSync(trainPaths(first).log).equals(log)).toBe(true);
    const file = await SafetensorsFile.open(first);
    try {
      const key = `${UNET_PREFIX}out.2.weight`;
      expect(file.tensors.get(key)!.dtype).toBe('F32');
      expect(Array.from(await file.readF32(key))).toEqual(Array.from(firstState.ema.get(key)!));
      const vaeKey = 'first_stage_model.quant_conv.weight';
      expect(Array.from(await file.readF32(vaeKey))).toEqual(
        Array.from(firstState.weights.values.get(vaeKey)!),
      );
    } finally {
      await file.close();
    }
    // Keep the F32 export; the other tests start from the F16 one.
    copyFileSync(first, join(dir, 'first-f32.safetensors'));
    writeFileSync(first, firstF16);
  });

  it('starts from the checkpoint: its weights (F16 within half-precision rounding of the run), its latent scale, its lineage', async () => {
    const opts: TrainOptions = {
      out: join(dir, 'start.safetensors'),
      recipe,
      stages: ['unet'],
      initFrom: first,
    };
    const start = await startState(opts);
    expect(start.step).toBe(0);
    expect(start.stage).toBe('unet');
    expect(start.slots.size).toBe(0);
    expect(start.ema.size).toBe(0);
    expect(start.wallSeconds).toBe(0);
    expect(start.latentScale).toBe(firstState.latentScale);
    expect(start.recipe.unet.dataOffset).toBe(2);
    expect(start.recipe.vae.dataOffset).toBe(2);
    expect(start.lineage!.initFrom.sha256).toBe(createHash('sha256').update(firstF16).digest('hex'));
    expect(start.lineage!.history).toHaveLength(1);
    const file = await SafetensorsFile.open(first);
    try {
      let compared = 0;
      for (const [key, values] of start.weights.values) {
        expect(bytes(values).equals(bytes(await file.readF32(key))), key).toBe(true);
        // The run's own F32 values (UNet: its EMA) round to these.
        const exact = firstState.ema.get(key) ?? firstState.weights.values.get(key)!;
        for (let i = 0; i < exact.length; i++) {
          const tol = Math.max(Math.abs(exact[i]) * 2 ** -11, 2 ** -25);
          if (Math.abs(values[i] - exact[i]) > tol)
            throw new Error(`${key}[${i}]: ${values[i]} vs ${exact[i]}`);
        }
        compared++;
      }
      expect(compared).toBe(firstState.weights.values.size);
    } finally {
      await file.close();
    }
    // An F32 export gives the run's exact values.
    const start32 = await startState({ ...opts, initFrom: join(dir, 'first-f32.safetensors') });
    for (const [key, values] of start32.weights.values)
      expect(
        bytes(values).equals(bytes(firstState.ema.get(key) ?? firstState.weights.values.get(key)!)),
        key,
      ).toBe(true);

    // Step s of the new run draws data step 2 + s: the first run's samples are not drawn again.
    const unet = await unetStage(start.recipe, start.weights, {});
    const plain = await unetStage(recipe, start.weights, {});
    try {
      const shifted = (await unet.step(0)).loss;
      expect(shifted).toBe((await plain.step(2)).loss);
      expect(shifted).not.toBe((await plain.step(0)).loss);
    } finally {
      await unet.release();
      await plain.release();
    }
  });

  it('continues: finite losses, EMA from the checkpoint UNet, history and totals cumulative; --resume is bit-exact', async () => {
    const more = { ...recipe, unet: { ...recipe.unet, steps: 3 } };
    const straight = join(dir, 'second.safetensors');
    const a = await train({ out: straight, recipe: more, stages: ['unet'], initFrom: first });
    expect(a.state.step).toBe(3);
    const losses = readFileSync(trainPaths(straight).log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(losses.map((e) => `${e.stage}${e.step}`)).toEqual(['unet1', 'unet2', 'unet3']);
    for (const e of losses) expect(Number.isFinite(e.loss)).toBe(true);

    // Stopped after one step: the EMA is one update away from the checkpoint's UNet.
    const resumed = join(dir, 'resumed.safetensors');
    const b1 = await train({ out: resumed, recipe: more, stages: ['unet'], initFrom: first, ...stopAt(1) });
    expect(b1.interrupted).toBe(true);
    const s1 = await loadTrainState(trainPaths(resumed).state);
    expect(s1.lineage).toEqual(a.state.lineage);
    const ckpt = await SafetensorsFile.open(first);
    try {
      const d = emaDecay(more.unet.emaDecay, 0);
      const key = `${UNET_PREFIX}input_blocks.0.0.weight`;
      const e0 = await ckpt.readF32(key);
      const w = s1.weights.values.get(key)!;
      const expected = new Float32Array(e0.length);
      for (let i = 0; i < e0.length; i++) expected[i] = d * e0[i] + (1 - d) * w[i];
      expect(Array.from(s1.ema.get(key)!)).toEqual(Array.from(expected));
      expect(Array.from(w)).not.toEqual(Array.from(e0));
    } finally {
      await ckpt.close();
    }
    await expect(
      train({ out: resumed, recipe: more, stages: ['unet'], initFrom: first, resume: true }),
    ).rejects.toThrow(/drop --init-from/);
    const b2 = await train({ out: resumed, recipe: more, stages: ['unet'], resume: true });
    expect(b2.interrupted).toBe(false);
    const sa = bytesOf(await loadTrainState(trainPaths(straight).state));
    const sb = bytesOf(await loadTrainState(trainPaths(resumed).state));
    expect([...sb.keys()].sort()).toEqual([...sa.keys()].sort());
    expect([...sa].filter(([k, v]) => sb.get(k) !== v).map(([k]) => k)).toEqual([]);
    expect(sa.size).toBeGreaterThan(100);

    for (const out of [straight, resumed]) {
      const meta = await metadataOf(out);
      const history = JSON.parse(meta['cones.train.history']) as RunRecord[];
      expect(history).toHaveLength(2);
      expect(history[0].stages.vae!.steps).toBe(2);
      expect(history[0].stages.unet!.steps).toBe(2);
      expect(history[0].initFrom).toBeUndefined();
      expect(history[1].initFrom!.file).toBe('first.safetensors');
      expect(Object.keys(history[1].stages)).toEqual(['unet']);
      expect(history[1].stages.unet!.steps).toBe(3);
      expect(Number.isFinite(history[1].stages.unet!.finalLoss)).toBe(true);
      expect(JSON.parse(meta['cones.train.total_steps'])).toEqual({ vae: 2, unet: 5 });
      expect(Number(meta['cones.train.total_wall_seconds'])).toBeCloseTo(
        history[0].wallSeconds + history[1].wallSeconds,
        1,
      );
      expect(history[0].wallSeconds).toBeGreaterThan(0);
      expect(JSON.parse(meta['cones.train.steps'])).toEqual({ unet: 3 });
      expect(meta['cones.train.latent_scale']).toBe(String(firstState.latentScale));
      expect(JSON.parse(meta['cones.train.recipe']).unet.dataOffset).toBe(2);
    }

    // A third part counts all three runs.
    const third = join(dir, 'third.safetensors');
    await train({
      out: third,
      recipe: { ...recipe, unet: { ...recipe.unet, steps: 1 } },
      stages: ['unet'],
      initFrom: straight,
    });
    const meta3 = await metadataOf(third);
    expect(JSON.parse(meta3['cones.train.history'])).toHaveLength(3);
    expect(JSON.parse(meta3['cones.train.total_steps'])).toEqual({ vae: 2, unet: 6 });
    expect(JSON.parse(meta3['cones.train.recipe']).unet.dataOffset).toBe(5);
  }, 120_000);

  it('a VAE stage from an export folds only the correction into its already scaled VAE', async () => {
    const out = join(dir, 'vae-again.safetensors');
    const r = { ...recipe, vae: { ...recipe.vae, steps: 1 } };
    const { state } = await train({ out, recipe: r, stages: ['vae'], initFrom: first });
    // (The first run's scale is far from 1, so setting the scale to the correction alone would fail here.)
    expect(Math.abs(Math.log(firstState.latentScale!))).toBeGreaterThan(0.3);
    const ratio = state.latentScale! / firstState.latentScale!;
    expect(ratio).toBeGreaterThan(0.8);
    expect(ratio).toBeLessThan(1.25);
    expect(ratio).not.toBe(1);
    const meta = await metadataOf(out);
    expect(meta['cones.train.latent_scale']).toBe(String(state.latentScale));
    expect(JSON.parse(meta['cones.train.total_steps'])).toEqual({ vae: 3, unet: 2 });
  }, 60_000);

  it('--vae-decoder-only trains the decoder alone: encoder, quant_conv, UNet and latent scale unchanged', async () => {
    const out = join(dir, 'decoder.safetensors');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(
        await run([
          out,
          '--init-from',
          first,
          '--stage',
          'vae',
          '--steps',
          '2',
          '--vae-decoder-only',
          '--fp16',
        ]),
      ).toBe(0);
    } finally {
      log.mockRestore();
    }
    const before = await SafetensorsFile.open(first);
    const after = await SafetensorsFile.open(out);
    try {
      let decoderChanged = 0;
      for (const key of before.tensors.keys()) {
        const same = Buffer.compare(await before.readRaw(key), await after.readRaw(key)) === 0;
        const decoder = /^first_stage_model\.(decoder|post_quant_conv)\./.test(key);
        if (decoder) decoderChanged += same ? 0 : 1;
        else expect(same, key).toBe(true);
      }
      expect(decoderChanged).toBeGreaterThan(10);
      expect(after.metadata['cones.train.latent_scale']).toBe(before.metadata['cones.train.latent_scale']);
      const history = JSON.parse(after.metadata['cones.train.history']) as RunRecord[];
      expect(history.at(-1)!.stages.vae).toMatchObject({ steps: 2, decoderOnly: true });
      expect(JSON.parse(after.metadata['cones.train.recipe']).vae.decoderOnly).toBe(true);
    } finally {
      await before.close();
      await after.close();
    }
    // From scratch there is no trained encoder to keep.
    const scratch = { ...recipe, vae: { ...recipe.vae, decoderOnly: true } };
    await expect(
      startState({ out: join(dir, 'scratch-decoder.safetensors'), recipe: scratch, stages: ['vae'] }),
    ).rejects.toThrow(/--vae-decoder-only fine-tunes a trained VAE/);
  }, 60_000);

  it('refuses a checkpoint without a recipe, with another config, or not matching its recipe; reads an export without a history', async () => {
    const out = join(dir, 'refused.safetensors');
    const bare = join(dir, 'bare.safetensors');
    await rewriteMetadata(first, bare, (m) => {
      delete m['cones.train.recipe'];
      return m;
    });
    await expect(startState({ out, recipe, stages: ['unet'], initFrom: bare })).rejects.toThrow(
      /has no cones\.train\.recipe metadata/,
    );
    const wide = {
      ...recipe,
      config: { ...recipe.config, unet: { ...recipe.config.unet, modelChannels: 32 } },
    };
    await expect(startState({ out, recipe: wide, stages: ['unet'], initFrom: first })).rejects.toThrow(
      /another config \(differs in config\.unet\.modelChannels\)/,
    );
    const lying = join(dir, 'lying.safetensors');
    await rewriteMetadata(first, lying, (m) => {
      const r = JSON.parse(m['cones.train.recipe']);
      r.config.unet.modelChannels = 32;
      m['cones.train.recipe'] = JSON.stringify(r);
      return m;
    });
    await expect(startState({ out, recipe: wide, stages: ['unet'], initFrom: lying })).rejects.toThrow(
      / is \[\d.*\], its recipe's config says \[/,
    );
    await expect(
      startState({ out, recipe, stages: ['unet'], initFrom: join(dir, 'nowhere.safetensors') }),
    ).rejects.toThrow(/does not exist/);

    const legacy = join(dir, 'legacy.safetensors');
    await rewriteMetadata(first, legacy, (m) => {
      for (const k of ['cones.train.history', 'cones.train.total_steps', 'cones.train.total_wall_seconds'])
        delete m[k];
      return m;
    });
    const start = await startState({ out, recipe, stages: ['unet'], initFrom: legacy });
    expect(start.lineage!.history).toEqual([
      {
        seed: recipe.seed,
        world: recipe.world,
        stages: {
          vae: expect.objectContaining({ steps: 2, lr: recipe.vae.lr }),
          unet: expect.objectContaining({ steps: 2, batch: recipe.unet.batch }),
        },
        wallSeconds: Number(Number(firstState.wallSeconds).toFixed(1)),
      },
    ]);

    // The CLI: the recipe comes from the file; refusals exit 2 with the message.
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((m: string) => {
      errors.push(String(m));
    });
    try {
      expect(await run([out, '--init-from', bare, '--stage', 'unet'])).toBe(2);
      expect(errors.join('\n')).toMatch(/no cones\.train\.recipe metadata/);
      expect(await run([out, '--init-from', first, '--resume'])).toBe(2);
      expect(errors.join('\n')).toMatch(/drop --init-from/);
      expect(await run([out, '--export-only'])).toBe(2);
      expect(errors.join('\n')).toMatch(/no training state to export/);
      expect(await run([out, '--export-only', '--steps', '3'])).toBe(2);
      expect(errors.join('\n')).toMatch(/--export-only takes only --fp16 \(got --steps\)/);
      // The happy path: recipe from the file, --steps and --fp16 from the command line.
      const viaCli = join(dir, 'cli.safetensors');
      vi.spyOn(console, 'log').mockImplementation(() => {});
      expect(await run([viaCli, '--init-from', first, '--stage', 'unet', '--steps', '1', '--fp16'])).toBe(0);
      const meta = await metadataOf(viaCli);
      const r = JSON.parse(meta['cones.train.recipe']);
      expect(r.config).toEqual(recipe.config);
      expect(r.unet.steps).toBe(1);
      expect(r.unet.batch).toBe(recipe.unet.batch);
      expect(JSON.parse(meta['cones.train.total_steps'])).toEqual({ vae: 2, unet: 3 });
      const file = await SafetensorsFile.open(viaCli);
      try {
        expect(file.tensors.get(`${UNET_PREFIX}out.2.weight`)!.dtype).toBe('F16');
      } finally {
        await file.close();
      }
    } finally {
      vi.restoreAllMocks();
    }
  }, 60_000);
});

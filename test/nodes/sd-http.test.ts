import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../src/image/png-text.js';
import { assetPath } from '../../src/shared/assets.js';
import { json, RecordingSocket, startTestServer, type TestServer } from '../server/helpers.js';

const examples = assetPath('..', 'examples', 'workflows');
const apiPrompt = JSON.parse(readFileSync(join(examples, 'txt2img.api.json'), 'utf8'));
const uiWorkflow = JSON.parse(readFileSync(join(examples, 'txt2img.json'), 'utf8'));

describe('txt2img over HTTP + WebSocket on loopback', () => {
  let server: TestServer;
  let socket: RecordingSocket;
  const clientId = 'sd-http-client';

  beforeAll(async () => {
    server = await startTestServer();
    socket = await RecordingSocket.open(`${server.url.replace('http', 'ws')}/ws?clientId=${clientId}`);
  });
  afterAll(async () => {
    socket?.close();
    await server?.dispose();
  });

  async function runExample(prompt = apiPrompt): Promise<{ png: Buffer; promptId: string }> {
    const res = await fetch(`${server.url}/prompt`, {
      method: 'POST',
      body: JSON.stringify({
        client_id: clientId,
        prompt,
        extra_data: { extra_pnginfo: { workflow: uiWorkflow } },
      }),
    });
    expect(res.status).toBe(200);
    const { prompt_id: promptId } = (await res.json()) as { prompt_id: string };
    await socket.next(
      (m) => m.type === 'executing' && m.data.prompt_id === promptId && m.data.node === null,
      60_000,
    );
    const history = await json(fetch(`${server.url}/history/${promptId}`));
    expect(history[promptId].status.status_str).toBe('success');
    const image = history[promptId].outputs['9'].images[0];
    const view = await fetch(
      `${server.url}/view?filename=${encodeURIComponent(image.filename)}&subfolder=${image.subfolder}&type=${image.type}`,
    );
    expect(view.status).toBe(200);
    return { png: Buffer.from(await view.arrayBuffer()), promptId };
  }

  it('returns a PNG with prompt and workflow chunks, streams JPEG previews, and repeats pixels for the same seed', async () => {
    const first = await runExample();
    const text = readPngText(first.png);
    expect(JSON.parse(text.prompt)).toEqual(apiPrompt);
    expect(
      JSON.parse(text.workflow)
        .nodes.map((n: { type: string }) => n.type)
        .sort(),
    ).toEqual(
      [
        'CLIPTextEncode',
        'CLIPTextEncode',
        'CheckpointLoaderSimple',
        'EmptyLatentImage',
        'KSampler',
        'SaveImage',
        'VAEDecode',
      ].sort(),
    );
    const frames = socket.messages.filter((m): m is { binary: Buffer } => 'binary' in m);
    expect(frames.length).toBeGreaterThanOrEqual(apiPrompt['3'].inputs.steps);
    for (const frame of frames) {
      expect(frame.binary.readUInt32BE(0)).toBe(1); // PREVIEW_IMAGE
      expect(frame.binary.readUInt32BE(4)).toBe(1); // JPEG
      expect([...frame.binary.subarray(8, 10)]).toEqual([0xff, 0xd8]);
    }

    // Drop cached outputs and loaded models, then run again: same seed, same pixels.
    expect(
      (
        await fetch(`${server.url}/free`, {
          method: 'POST',
          body: '{"free_memory":true,"unload_models":true}',
        })
      ).status,
    ).toBe(200);
    const second = await runExample();
    expect(second.promptId).not.toBe(first.promptId);
    const a = await sharp(first.png).raw().toBuffer();
    const b = await sharp(second.png).raw().toBuffer();
    expect(a.length).toBe(64 * 64 * 3);
    expect(a.equals(b)).toBe(true);
  });

  it('a different seed gives different pixels', async () => {
    const reseeded = structuredClone(apiPrompt);
    reseeded['3'].inputs.seed = apiPrompt['3'].inputs.seed + 1;
    const [a, b] = await Promise.all([runExample(), runExample(reseeded)]);
    const pa = await sharp(a.png).raw().toBuffer();
    const pb = await sharp(b.png).raw().toBuffer();
    expect(pa.length).toBe(pb.length);
    expect(pa.equals(pb)).toBe(false);
  });
});

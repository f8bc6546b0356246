import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetPath } from '../../src/shared/assets.js';
import { RecordingSocket, startTestServer, type TestServer } from './helpers.js';

/** The example txt2img prompt with another checkpoint. */
function txt2img(ckptName: string): Record<string, any> {
  const path = assetPath('..', 'examples', 'workflows', 'txt2img.api.json');
  const prompt = JSON.parse(readFileSync(path, 'utf8'));
  for (const node of Object.values<any>(prompt)) {
    if (node.class_type === 'CheckpointLoaderSimple') node.inputs.ckpt_name = ckptName;
  }
  return prompt;
}

describe('a broken checkpoint over HTTP', () => {
  let server: TestServer;
  let socket: RecordingSocket;
  const clientId = 'broken-checkpoint-client';

  beforeAll(async () => {
    server = await startTestServer();
    socket = await RecordingSocket.open(`${server.url.replace('http', 'ws')}/ws?clientId=${clientId}`);
  });
  afterAll(async () => {
    socket?.close();
    await server?.dispose();
  });

  it('names the file by its folder and name, never by its absolute path', async () => {
    const folder = server.dirs.models.checkpoints[0];
    await mkdir(folder, { recursive: true });
    const header = Buffer.from('{"a": not json}');
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(BigInt(header.length));
    await writeFile(join(folder, 'broken.safetensors'), Buffer.concat([size, header]));
    const res = await fetch(`${server.url}/prompt`, {
      method: 'POST',
      body: JSON.stringify({
        client_id: clientId,
        prompt: txt2img('broken.safetensors'),
      }),
    });
    expect(res.status).toBe(200);
    const { prompt_id: promptId } = (await res.json()) as { prompt_id: string };
    const error = await socket.next(
      (m) => m.type === 'execution_error' && m.data.prompt_id === promptId,
      60_000,
    );
    expect(error.data.exception_type).toBe('CheckpointError');
    expect(error.data.exception_message).toMatch(
      /^checkpoints\/broken\.safetensors: invalid safetensors header/,
    );
    const history = await (await fetch(`${server.url}/history/${promptId}`)).text();
    expect(history).toContain('checkpoints/broken.safetensors');
    for (const sent of [JSON.stringify(error), history]) {
      expect(sent).not.toContain(server.dataDir);
      expect(sent).not.toContain(folder);
    }
  });
});

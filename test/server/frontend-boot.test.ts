import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, RecordingSocket, sleepPrompt, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.dispose());

/** The calls the ComfyUI front end makes at boot and while running a graph (COMFY_PROTOCOL.md §1.4). */
describe('ComfyUI front-end boot sequence', () => {
  const api = (path: string, init?: RequestInit) =>
    fetch(`${server.url}/api${path}`, { ...init, headers: { 'Comfy-User': '', ...init?.headers } });

  it('answers the boot calls with the shapes the front end parses', async () => {
    expect((await api('/features')).status).toBe(200);
    const users = await json(api('/users'));
    expect(users).toEqual({ storage: 'server', migrated: true });
    expect(users).not.toHaveProperty('users');
    expect(await json(api('/settings'))).toEqual({});
    expect([200, 404]).toContain(
      (await api('/userdata?dir=workflows&recurse=true&split=false&full_info=true')).status,
    );
    expect((await api('/i18n')).status).toBe(200);
    expect(await json(api('/extensions'))).toEqual([]);
    const defs = await json(api('/object_info'));
    for (const def of Object.values(defs) as Array<Record<string, unknown>>) {
      for (const key of ['name', 'display_name', 'description', 'category', 'output_node', 'python_module']) {
        expect(def).toHaveProperty(key);
      }
    }
    const stats = await json(api('/system_stats'));
    for (const key of [
      'os',
      'python_version',
      'embedded_python',
      'comfyui_version',
      'pytorch_version',
      'argv',
      'ram_total',
      'ram_free',
    ]) {
      expect(stats.system).toHaveProperty(key);
    }
    for (const device of stats.devices) {
      for (const key of [
        'name',
        'type',
        'index',
        'vram_total',
        'vram_free',
        'torch_vram_total',
        'torch_vram_free',
      ]) {
        expect(device).toHaveProperty(key);
      }
    }
    expect(stats.system).not.toHaveProperty('required_frontend_version');
    // The front end writes settings as text/plain on boot.
    const stored = await api('/settings/Comfy.InstalledVersion', {
      method: 'POST',
      body: '"1.2.3"',
      headers: { 'content-type': 'text/plain' },
    });
    expect(stored.status).toBe(200);
  });

  it('negotiates feature flags on /ws, queues a graph and lists it through the jobs API', async () => {
    const socket = await RecordingSocket.open(`${server.url.replace('http', 'ws')}/ws?clientId=fe-window`);
    socket.ws.send(
      JSON.stringify({
        type: 'feature_flags',
        data: { supports_preview_metadata: true, supports_progress_text_metadata: true },
      }),
    );
    const status = await socket.next((m) => m.type === 'status');
    expect(status.data.sid).toBe('fe-window');
    await socket.next((m) => m.type === 'feature_flags');

    const queued = await json(
      api('/prompt', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: 'fe-window',
          prompt: sleepPrompt(200, 4),
          extra_data: { extra_pnginfo: { workflow: { id: 'wf-1', nodes: [], links: [] } } },
        }),
      }),
    );
    expect(Object.keys(queued).sort()).toEqual(['node_errors', 'number', 'prompt_id']);
    await socket.next((m) => m.type === 'progress_state' && m.data.prompt_id === queued.prompt_id);
    const running = await json(api('/jobs?status=in_progress,pending&limit=200&offset=0'));
    expect(running.pagination).toMatchObject({ offset: 0, limit: 200, total: 1, has_more: false });
    expect(running.jobs[0]).toMatchObject({
      id: queued.prompt_id,
      status: 'in_progress',
      workflow_id: 'wf-1',
    });
    expect(typeof running.jobs[0].create_time).toBe('number');

    await socket.next(
      (m) => m.type === 'executing' && m.data.node === null && m.data.prompt_id === queued.prompt_id,
    );
    const done = await json(api('/jobs?status=completed,failed,cancelled&limit=64&offset=0'));
    expect(done.jobs[0]).toMatchObject({ id: queued.prompt_id, status: 'completed', outputs_count: 1 });
    expect(done.jobs[0].execution_end_time).toBeGreaterThanOrEqual(done.jobs[0].execution_start_time);
    const detail = await json(api(`/jobs/${queued.prompt_id}`));
    expect(detail.outputs['3']).toEqual({ text: ['7'] });
    expect(detail.workflow.prompt['2'].class_type).toBe('TestSleep');
    expect((await api('/jobs/not-a-job')).status).toBe(404);
    expect((await api('/jobs?status=bogus')).status).toBe(400);
    socket.close();
  });

  it('cancels a pending job and interrupts a running one through the jobs API', async () => {
    const post = (prompt: unknown) =>
      json(api('/prompt', { method: 'POST', body: JSON.stringify({ client_id: 'fe-window', prompt }) }));
    const running = await post(sleepPrompt(20_000, 400));
    const pending = await post(sleepPrompt(20_000, 401));
    expect(await json(api(`/jobs/${pending.prompt_id}/cancel`, { method: 'POST' }))).toEqual({
      cancelled: true,
    });
    expect(
      await json(
        api('/jobs/cancel', { method: 'POST', body: JSON.stringify({ job_ids: [running.prompt_id] }) }),
      ),
    ).toEqual({
      cancelled: true,
    });
    const deadline = Date.now() + 10_000;
    let job: any;
    while (Date.now() < deadline) {
      job = await json(api(`/jobs/${running.prompt_id}`));
      if (job.status === 'cancelled') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(job.status).toBe('cancelled');
    expect((await api(`/jobs/${pending.prompt_id}`)).status).toBe(404);
    const bad = await api('/jobs/cancel', { method: 'POST', body: JSON.stringify({ job_ids: [1, 'ok'] }) });
    expect(bad.status).toBe(400);
    expect((await json(bad)).invalid_ids).toEqual([1]);
  });
});

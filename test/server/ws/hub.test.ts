import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../../src/engine/service-types.js';
import { EventHub, type EventSink } from '../../../src/server/ws/hub.js';

function sink(clientId: string, allPrompts = false): EventSink & { got: string[] } {
  const got: string[] = [];
  return {
    clientId,
    allPrompts,
    got,
    deliver: (e) => got.push(e.kind === 'json' ? e.type : `binary${e.eventType}`),
  };
}

const event = (type: string, clientId: string | null): EngineEvent => ({
  kind: 'json',
  clientId,
  type,
  data: {},
});

describe('EventHub', () => {
  it('broadcasts null-client events and routes the rest to that client and to all-prompt monitors', () => {
    const hub = new EventHub();
    const a = sink('a');
    const b = sink('b');
    const monitor = sink('m', true);
    for (const s of [a, b, monitor]) hub.add(s);
    hub.publish(event('status', null));
    hub.publish(event('executing', 'a'));
    expect(a.got).toEqual(['status', 'executing']);
    expect(b.got).toEqual(['status']);
    expect(monitor.got).toEqual(['status', 'executing']);
  });

  it("holds a client's events until released, then delivers them in order", () => {
    const hub = new EventHub();
    const a = sink('a');
    const b = sink('b');
    hub.add(a);
    hub.add(b);
    const release = hub.hold('a');
    hub.publish(event('execution_start', 'a'));
    hub.publish(event('status', null));
    expect(a.got).toEqual([]);
    expect(b.got).toEqual(['status']);
    release();
    release();
    expect(a.got).toEqual(['execution_start', 'status']);
    hub.publish(event('executing', 'a'));
    expect(a.got.at(-1)).toBe('executing');
  });

  it('keeps delivering to others when one sink throws', () => {
    const hub = new EventHub();
    const ok = sink('ok');
    hub.add({
      clientId: 'bad',
      deliver: () => {
        throw new Error('closed');
      },
    });
    hub.add(ok);
    hub.publish(event('status', null));
    expect(ok.got).toEqual(['status']);
  });
});

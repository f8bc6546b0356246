import type { EngineEvent } from '../../engine/service-types.js';

/** A connection that receives engine events (a ComfyUI /ws socket or a native connection). */
export interface EventSink {
  clientId: string;
  /** Receives events of every prompt, not only this client's (native `subscribe {all_prompts}`). */
  allPrompts?: boolean;
  deliver(event: EngineEvent): void;
}

/**
 * Routes engine events the way ComfyUI does: `clientId: null` to everyone, otherwise only to the
 * connections of that client id (plus monitors that asked for every prompt).
 */
export class EventHub {
  private readonly byClient = new Map<string, Set<EventSink>>();
  private readonly sinks = new Set<EventSink>();
  private readonly monitors = new Set<EventSink>();
  /** Events held back per sink while its client's POST /prompt response is in flight. */
  private readonly held = new Map<EventSink, EngineEvent[]>();
  private readonly holds = new Map<string, number>();

  add(sink: EventSink): void {
    if ((this.holds.get(sink.clientId) ?? 0) > 0) this.held.set(sink, []);
    this.sinks.add(sink);
    const set = this.byClient.get(sink.clientId) ?? new Set<EventSink>();
    this.byClient.set(sink.clientId, set);
    set.add(sink);
    if (sink.allPrompts) this.monitors.add(sink);
  }

  remove(sink: EventSink): void {
    this.held.delete(sink);
    this.sinks.delete(sink);
    this.monitors.delete(sink);
    const set = this.byClient.get(sink.clientId);
    if (set) {
      set.delete(sink);
      if (set.size === 0) this.byClient.delete(sink.clientId);
    }
  }

  /** Re-reads a sink's `allPrompts` after a change. */
  update(sink: EventSink): void {
    if (!this.sinks.has(sink)) return;
    if (sink.allPrompts) this.monitors.add(sink);
    else this.monitors.delete(sink);
  }

  sinksOf(clientId: string): EventSink[] {
    return [...(this.byClient.get(clientId) ?? [])];
  }

  get size(): number {
    return this.sinks.size;
  }

  /**
   * Holds back every event for `clientId`'s connections until the returned release is called, then
   * delivers them in order. The server holds while answering a client's POST /prompt, so the client
   * knows the prompt id before the first event naming it (SDKs drop events of ids they do not know
   * yet, and the engine may start the prompt before the HTTP response is written).
   */
  hold(clientId: string): () => void {
    this.holds.set(clientId, (this.holds.get(clientId) ?? 0) + 1);
    for (const sink of this.byClient.get(clientId) ?? []) if (!this.held.has(sink)) this.held.set(sink, []);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.holds.get(clientId) ?? 1) - 1;
      if (left > 0) {
        this.holds.set(clientId, left);
        return;
      }
      this.holds.delete(clientId);
      for (const sink of this.byClient.get(clientId) ?? []) {
        const queued = this.held.get(sink);
        this.held.delete(sink);
        for (const event of queued ?? []) this.deliver(sink, event);
      }
    };
  }

  publish(event: EngineEvent): void {
    if (event.clientId === null) {
      for (const sink of this.sinks) this.deliver(sink, event);
      return;
    }
    const targets = this.byClient.get(event.clientId);
    if (targets) for (const sink of targets) this.deliver(sink, event);
    for (const sink of this.monitors) if (sink.clientId !== event.clientId) this.deliver(sink, event);
  }

  private deliver(sink: EventSink, event: EngineEvent): void {
    const queued = this.held.get(sink);
    if (queued) {
      queued.push(event);
      return;
    }
    try {
      sink.deliver(event);
    } catch {
      // One broken connection must not stop delivery to the others; its close handler removes it.
    }
  }
}

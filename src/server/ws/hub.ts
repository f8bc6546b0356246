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

  add(sink: EventSink): void {
    this.sinks.add(sink);
    const set = this.byClient.get(sink.clientId) ?? new Set<EventSink>();
    this.byClient.set(sink.clientId, set);
    set.add(sink);
    if (sink.allPrompts) this.monitors.add(sink);
  }

  remove(sink: EventSink): void {
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

  publish(event: EngineEvent): void {
    if (event.clientId === null) {
      for (const sink of this.sinks) safeDeliver(sink, event);
      return;
    }
    const targets = this.byClient.get(event.clientId);
    if (targets) for (const sink of targets) safeDeliver(sink, event);
    for (const sink of this.monitors) if (sink.clientId !== event.clientId) safeDeliver(sink, event);
  }
}

function safeDeliver(sink: EventSink, event: EngineEvent): void {
  try {
    sink.deliver(event);
  } catch {
    // One broken connection must not stop delivery to the others; its close handler removes it.
  }
}

/**
 * Worker-side hooks run by ComfyUI's `POST /free {"unload_models": true}`: modules that keep models or
 * sessions in a worker register a hook that drops them (`onUnloadModels(() => sessions.clear())`).
 */
const hooks = new Set<() => void | Promise<void>>();

export function onUnloadModels(hook: () => void | Promise<void>): () => void {
  hooks.add(hook);
  return () => hooks.delete(hook);
}

/** Runs every registered hook in turn; returns how many ran. */
export async function runUnloadHooks(): Promise<number> {
  let count = 0;
  for (const hook of hooks) {
    await hook();
    count++;
  }
  return count;
}

/**
 * Pub/sub subscriptions that are known to work. A SUBSCRIBE that ioredis sends while its connection is
 * still getting ready can be lost without an error (about one connect in twenty): the front then never
 * hears progress, or a worker never hears an interrupt. So a subscription counts only once a probe
 * message published through Redis came back on it; until then it is sent again.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

const PROBE_PREFIX = 'cones-probe:';
const PROBE_WAIT_MS = 500;

/** True for the probe messages `subscribeVerified` sends (listeners ignore them). */
export function isProbe(message: Buffer | string): boolean {
  return typeof message === 'string'
    ? message.startsWith(PROBE_PREFIX)
    : message.length > PROBE_PREFIX.length &&
        message.toString('latin1', 0, PROBE_PREFIX.length) === PROBE_PREFIX;
}

/** Resolves once `client` is connected and ready; rejects with the last connection error after `timeoutMs`. */
export function whenReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError = 'not connected';
    const onError = (error: Error) => {
      lastError = error.message || error.name;
    };
    const onReady = () => {
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(lastError));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
    };
    client.on('ready', onReady);
    client.on('error', onError);
  });
}

/**
 * Subscribes `subscriber` to `channels` and waits until a probe published with `publisher` on the first
 * of them arrives; throws after `timeoutMs`.
 */
export async function subscribeVerified(
  subscriber: Redis,
  publisher: Redis,
  channels: string[],
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await whenReady(subscriber, timeoutMs);
  for (;;) {
    await subscriber.subscribe(...channels);
    const probe = `${PROBE_PREFIX}${randomUUID()}`;
    let onMessage: ((channel: string, message: string) => void) | undefined;
    const arrived = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), PROBE_WAIT_MS);
      onMessage = (channel, message) => {
        if (channel !== channels[0] || message !== probe) return;
        clearTimeout(timer);
        resolve(true);
      };
      subscriber.on('message', onMessage);
    });
    await publisher.publish(channels[0], probe);
    const ok = await arrived;
    subscriber.off('message', onMessage!);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`subscribing to ${channels[0]}: no probe came back`);
    // Leave the maybe-half-made subscription before asking again.
    await subscriber.unsubscribe(...channels).catch(() => {});
  }
}

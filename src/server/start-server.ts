import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveDataDirs } from '../engine/data-dirs.js';
import { createPromptService, type PromptServiceOptions } from '../engine/prompt-service.js';
import { ensureDemoInFolders } from '../nodes/sd.js';
import { resolveDemoModel } from '../sd/demo-checkpoint.js';
import type { DataDirs } from '../shared/types.js';
import { serverFeatureFlags } from './feature-flags.js';
import { type FrontEndChoice, locateFrontEnd } from './front-end-locate.js';
import { buildHttpApp } from './http-server.js';
import { listenAddress } from './listen-address.js';
import { NativeValidator } from './native/validator.js';
import { type RunningServer, resolveLimits, type StartServerOptions } from './options.js';
import { Redactor } from './redact.js';
import { builtWebExtensionDir } from './routes/web-extension.js';
import { assertSafeBind, authTokenProblem, createRequestGuard, isLoopbackHost } from './security.js';
import { EventHub } from './ws/hub.js';
import { attachWebSockets } from './ws/upgrade.js';

export interface StartServerFullOptions extends StartServerOptions {
  /** Passed to `createPromptService` when the server creates the engine (e.g. `extraNodes`). */
  serviceOptions?: Partial<PromptServiceOptions>;
}

/**
 * Starts the HTTP + WebSocket service. Creates the engine unless `options.service` is given.
 * Refuses a blank or short `authToken`, and a non-loopback bind without one unless `insecure`. On
 * first start it places the demo checkpoint (a file copy, or about 0.3 s to generate random weights,
 * overlapping the server's own start; later starts find it there).
 */
export async function startServer(options: StartServerFullOptions = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const tokenProblem = options.authToken === undefined ? null : authTokenProblem(options.authToken);
  if (tokenProblem) throw new Error(`Refusing to start: ${tokenProblem}`);
  assertSafeBind(host, options.authToken, options.insecure);
  const redactor = new Redactor([options.authToken]);
  const limits = resolveLimits(options.limits);
  // A passed engine knows its folders (EnginePromptService.env.dirs); otherwise they come from dataDir.
  const dirs =
    options.dirs ??
    (options.service as { env?: { dirs?: DataDirs } } | undefined)?.env?.dirs ??
    resolveDataDirs({ dataDir: options.dataDir ?? './data', comfyuiDir: options.comfyuiDir });
  const ownsService = !options.service || options.closeService === true;
  // Started now, awaited after listen: the write overlaps the app's construction.
  const demoWritten =
    options.demoCheckpoint === false
      ? undefined
      : ensureDemoInFolders(
          { dirs },
          resolveDemoModel(options.demoCheckpoint === true ? undefined : options.demoCheckpoint),
        );
  const service = options.service ?? createPromptService({ ...options.serviceOptions, dirs });

  const hub = new EventHub();
  const unsubscribe = service.onEvent((event) => hub.publish(event));
  const guard = createRequestGuard({
    authToken: options.authToken,
    guardRebinding: isLoopbackHost(host) && !options.authToken,
    corsOrigin: options.corsOrigin,
  });
  const featureFlags = serverFeatureFlags(limits);
  const validator = new NativeValidator();
  const frontEnd: FrontEndChoice =
    options.frontEnd === null
      ? { reason: 'turned off (frontEnd: null)' }
      : locateFrontEnd({ frontEnd: options.frontEnd, comfyuiDir: options.comfyuiDir });

  let app: Awaited<ReturnType<typeof buildHttpApp>> | undefined;
  let closeSockets: (() => Promise<void>) | undefined;
  try {
    app = await buildHttpApp({
      service,
      dirs,
      limits,
      authToken: options.authToken,
      guard,
      redactor,
      corsOrigin: options.corsOrigin,
      frontEnd: frontEnd.dir,
      webExtensionDir:
        options.webExtensionDir === undefined
          ? builtWebExtensionDir()
          : (options.webExtensionDir ?? undefined),
      logger: options.logger,
      logSubscribers: new Set(),
      holdEvents: (clientId) => hub.hold(clientId),
      runtimeDevices: options.runtimeDevices,
    });
    closeSockets = attachWebSockets(app.server as Server, {
      hub,
      service,
      dirs,
      limits,
      validator,
      featureFlags,
      guard,
    });
    await app.listen({ host, port: options.port ?? 8189 });
    // A folder we cannot write to costs the demo model, not the service (listings retry the write).
    await demoWritten?.catch((error: unknown) => {
      console.warn(`cones-nodes: could not write the demo checkpoint: ${(error as Error).message}`);
    });
  } catch (error) {
    unsubscribe();
    await closeSockets?.();
    await app?.close();
    if (ownsService) await service.close();
    await demoWritten?.catch(() => {}); // e.g. the port was taken: still no half-written file left behind
    throw error;
  }

  const bound = app.server.address() as AddressInfo;
  const listen = listenAddress(bound.address, bound.port);
  let closing: Promise<void> | undefined;
  return {
    url: listen.url,
    port: bound.port,
    listen,
    service,
    dirs,
    frontEnd,
    close() {
      closing ??= (async () => {
        unsubscribe();
        await closeSockets!();
        await app!.close();
        if (ownsService) await service.close();
      })();
      return closing;
    },
  };
}

/**
 * The front end's objects, reached through `window.comfyAPI` (what the `scripts/*.js` shims of every
 * ComfyUI front end since 1.2 re-export), so the bundle imports nothing by path and loads the same way
 * in old and current front ends. Types come from `@comfyorg/comfyui-frontend-types`.
 */
import type { ComfyApi, ComfyApp, ComfyExtension } from '@comfyorg/comfyui-frontend-types';

export type { ComfyApi, ComfyApp, ComfyExtension };
export type ComfyNode = Parameters<NonNullable<ComfyExtension['nodeCreated']>>[0];
export type ComfyNodeClass = Parameters<NonNullable<ComfyExtension['beforeRegisterNodeDef']>>[0];
export type ComfyWidget = NonNullable<ComfyNode['widgets']>[number];

/** `ComfyWidgets.STRING` (a multiline DOM text box); its signature is the same in old and current front ends. */
type StringWidgetFactory = (
  node: ComfyNode,
  name: string,
  spec: [string, Record<string, unknown>],
  app: ComfyApp,
) => { widget: ComfyWidget };

interface ComfyGlobals {
  comfyAPI?: {
    app?: { app?: ComfyApp };
    api?: { api?: ComfyApi };
    widgets?: { ComfyWidgets?: { STRING?: StringWidgetFactory } };
  };
}

function globals(): ComfyGlobals {
  return globalThis as unknown as ComfyGlobals;
}

export function comfyApp(): ComfyApp | undefined {
  return globals().comfyAPI?.app?.app;
}

export function comfyApi(): ComfyApi | undefined {
  return globals().comfyAPI?.api?.api;
}

export function stringWidgetFactory(): StringWidgetFactory | undefined {
  return globals().comfyAPI?.widgets?.ComfyWidgets?.STRING;
}

/** Listens to a server event the front end does not know (registering it keeps it from being reported). */
export function onServerEvent<T>(api: ComfyApi, type: string, listener: (data: T) => void): void {
  const add = api.addEventListener as unknown as (type: string, cb: (e: CustomEvent<T>) => void) => void;
  add.call(api, type, (event) => listener(event.detail));
}

/** Redraws the canvas after a node changed (both front ends: `setDirtyCanvas(foreground, background)`). */
export function redraw(node: ComfyNode): void {
  node.setDirtyCanvas?.(true, true);
}

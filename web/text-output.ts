/**
 * Shows a node's `ui.text` (what the server sends in `executed`) in a read-only multiline box on the
 * node. The box is never saved in the workflow nor sent in the prompt: it is output, not input.
 */
import { type ComfyApp, type ComfyNode, type ComfyWidget, redraw, stringWidgetFactory } from './comfy.js';

const WIDGET_NAME = 'cones_text';

function textWidget(node: ComfyNode, app: ComfyApp): ComfyWidget | undefined {
  const existing = node.widgets?.find((w) => w.name === WIDGET_NAME);
  if (existing) return existing;
  const factory = stringWidgetFactory();
  const widget = factory
    ? factory(node, WIDGET_NAME, ['STRING', { multiline: true }], app).widget
    : (node.addWidget('text', WIDGET_NAME, '', () => {}, {}) as unknown as ComfyWidget);
  if (!widget) return undefined;
  // `element` in every front end with DOM widgets; `inputEl` (deprecated in current ones) before that.
  const dom = widget as { element?: HTMLTextAreaElement; inputEl?: HTMLTextAreaElement };
  const element = dom.element && 'readOnly' in dom.element ? dom.element : dom.inputEl;
  if (element) {
    element.readOnly = true;
    element.style.opacity = '0.75';
  }
  (widget as { serialize?: boolean }).serialize = false;
  widget.options = { ...(widget.options ?? {}), serialize: false };
  return widget;
}

export function showText(node: ComfyNode, app: ComfyApp, lines: unknown): void {
  if (!Array.isArray(lines) || lines.length === 0) return;
  const widget = textWidget(node, app);
  if (!widget) return;
  widget.value = lines.map(String).join('\n');
  const wanted = node.computeSize();
  node.setSize?.([Math.max(node.size[0], wanted[0]), Math.max(node.size[1], wanted[1])]);
  redraw(node);
}

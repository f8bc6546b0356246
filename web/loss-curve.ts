/**
 * Extract Concept's running loss, drawn live on the node from `cones.loss` events: a canvas widget
 * below the inputs with the loss per step, the latest value and the step count, and under it the
 * server's estimate of the time left ("≈ 2 h 10 min left").
 */

import { formatDuration } from '../src/shared/duration.js';
import { type ComfyNode, type ComfyWidget, redraw } from './comfy.js';
import type { LossEvent } from './cones-classes.js';

const WIDGET_NAME = 'cones_loss_curve';
/** The curve's box; the time-left line goes below it. */
const BOX_HEIGHT = 80;
const HEIGHT = BOX_HEIGHT + 26;

interface Curve {
  promptId: string;
  steps: number;
  losses: Array<[step: number, loss: number]>;
  /** The latest estimate: seconds left and per step (absent until the second step). */
  etaSeconds?: number;
  stepSeconds?: number;
}

const curves = new WeakMap<ComfyNode, Curve>();

/** Records one step's loss on the node it came from (a new prompt starts a new curve). */
export function addLoss(node: ComfyNode, event: LossEvent): void {
  let curve = curves.get(node);
  if (!curve || curve.promptId !== event.prompt_id) {
    curve = { promptId: event.prompt_id, steps: event.steps, losses: [] };
    curves.set(node, curve);
  }
  curve.steps = event.steps;
  if (typeof event.eta_s === 'number' && typeof event.step_s === 'number') {
    curve.etaSeconds = event.eta_s;
    curve.stepSeconds = event.step_s;
  }
  if (typeof event.loss === 'number' && Number.isFinite(event.loss))
    curve.losses.push([event.step, event.loss]);
  redraw(node);
}

/** What the curve shows, for checks from outside (the end-to-end script reads it). */
export function curveOf(node: ComfyNode): Readonly<Curve> | undefined {
  return curves.get(node);
}

/** The line under the curve: "≈ 2 h 10 min left (63 s per step)", or "" before the second step. */
export function timeLeftText(curve: Readonly<Curve>): string {
  if (curve.etaSeconds === undefined || curve.stepSeconds === undefined) return '';
  const last = curve.losses[curve.losses.length - 1]?.[0];
  if (last !== undefined && last >= curve.steps) return `done (${perStep(curve.stepSeconds)} per step)`;
  return `≈ ${formatDuration(curve.etaSeconds)} left (${perStep(curve.stepSeconds)} per step)`;
}

function perStep(seconds: number): string {
  return seconds < 10 ? `${seconds.toPrecision(2)} s` : formatDuration(seconds);
}

function drawCurve(ctx: CanvasRenderingContext2D, node: ComfyNode, width: number, y: number): void {
  const margin = 15;
  const w = width - 2 * margin;
  const h = BOX_HEIGHT - 10;
  ctx.save();
  ctx.fillStyle = '#1b1b1b';
  ctx.strokeStyle = '#555';
  ctx.beginPath();
  ctx.rect(margin, y, w, h);
  ctx.fill();
  ctx.stroke();
  ctx.font = '11px sans-serif';
  ctx.fillStyle = '#bbb';
  const curve = curves.get(node);
  if (!curve || curve.losses.length === 0) {
    ctx.fillText('loss: shown while extracting', margin + 6, y + 16);
    ctx.restore();
    return;
  }
  const values = curve.losses.map(([, loss]) => loss);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || 1;
  const steps = Math.max(curve.steps, 1);
  const px = (step: number) => margin + 4 + ((w - 8) * (step - 1)) / Math.max(steps - 1, 1);
  const py = (loss: number) => y + h - 6 - ((h - 22) * (loss - lo)) / span;
  ctx.strokeStyle = '#6cf';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  curve.losses.forEach(([step, loss], i) => {
    if (i === 0) ctx.moveTo(px(step), py(loss));
    else ctx.lineTo(px(step), py(loss));
  });
  ctx.stroke();
  const [lastStep, lastLoss] = curve.losses[curve.losses.length - 1];
  ctx.fillStyle = '#6cf';
  ctx.fillRect(px(lastStep) - 2, py(lastLoss) - 2, 4, 4);
  ctx.fillStyle = '#ddd';
  ctx.fillText(`loss ${lastLoss.toPrecision(4)}   step ${lastStep}/${curve.steps}`, margin + 6, y + 13);
  const timeLeft = timeLeftText(curve);
  if (timeLeft) {
    ctx.fillStyle = '#bbb';
    ctx.fillText(timeLeft, margin + 2, y + h + 16);
  }
  ctx.restore();
}

/** Adds the curve widget to an Extract Concept node (once). It is display only: never saved or sent. */
export function addLossCurveWidget(node: ComfyNode): void {
  if (node.widgets?.some((w) => w.name === WIDGET_NAME)) return;
  const widget = {
    name: WIDGET_NAME,
    type: 'cones.loss_curve',
    value: '',
    options: { serialize: false },
    serialize: false,
    draw(ctx: CanvasRenderingContext2D, drawnNode: ComfyNode, width: number, y: number) {
      drawCurve(ctx, drawnNode, width, y);
    },
    computeSize(width: number): [number, number] {
      return [width, HEIGHT];
    },
  };
  node.addCustomWidget(widget as unknown as ComfyWidget);
  // Room for the curve on a new node (a loaded workflow's saved size is applied afterwards).
  const wanted = node.computeSize();
  node.setSize?.([Math.max(node.size[0], wanted[0]), Math.max(node.size[1], wanted[1])]);
}

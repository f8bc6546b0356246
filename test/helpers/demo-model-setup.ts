/**
 * Vitest setup (vitest.config.ts `setupFiles`), run in every test worker before its test file: the
 * one place the tests ask for the RANDOM demo checkpoint. Almost every test runs
 * `tiny-sd1-demo.safetensors` as the tiny random-weights model (fast, fixed pixels), so services,
 * servers and the CLI processes tests spawn (which inherit this environment: `serve`, `worker`, `run`)
 * must not place the trained model the package ships. Tests of the shipped model ask for it explicitly
 * (`demoCheckpoint: 'shipped'`, `ensureDemoCheckpoint(dir, { model: 'shipped' })`).
 */
import { DEMO_MODEL_ENV } from '../../src/sd/demo-checkpoint.js';

process.env[DEMO_MODEL_ENV] = 'random';

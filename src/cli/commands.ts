/** The subcommand table: one entry per command, loaded lazily so `--help` stays fast. */
export interface CliCommand {
  usage: string;
  summary: string;
  load(): Promise<{ run(argv: string[]): Promise<number> }>;
}

export const commands: Record<string, CliCommand> = {
  serve: {
    usage:
      'serve [--host H] [--port P] [--data-dir DIR] [--comfyui-dir DIR] [--front-end DIR] [--auth-token T] [--insecure] [--enable-cors-header ORIGIN] [--max-upload-mb N] [--log] [--queue redis://HOST:PORT] [--demo-model shipped|random]',
    summary: 'start the ComfyUI-compatible service (HTTP, /ws, native protocol at /native)',
    load: () => import('./serve.js'),
  },
  worker: {
    usage:
      'worker --queue redis://HOST:PORT [--data-dir DIR] [--models-dir DIR] [--state-dir DIR] [--device NAME] [--id NAME]',
    summary: 'run runtime tasks for serve --queue fronts (one per GPU, on any number of machines)',
    load: () => import('./worker.js'),
  },
  run: {
    usage: 'run <workflow.json|image.png> [--data-dir DIR] [--comfyui-dir DIR] [--input FILE]… [--quiet]',
    summary: 'run a workflow headless (API/UI JSON or a PNG with one embedded) and print its outputs',
    load: () => import('./run.js'),
  },
  doctor: {
    usage: 'doctor [--json] [--comfyui-dir DIR] [--front-end DIR]',
    summary:
      'check Node, onnxruntime, which execution providers (CPU, CUDA) load and why not, and which front end serve would use',
    load: () => import('./doctor.js'),
  },
  'make-tiny-model': {
    usage: 'make-tiny-model <out.safetensors|folder> [--seed N] [--full] [--fp16|--bf16] [--diffusers]',
    summary: 'write an SD1-architecture checkpoint with random weights (tests, demo, benchmarks)',
    load: () => import('./make-tiny-model.js'),
  },
  'train-toy-model': {
    usage:
      'train-toy-model <out.safetensors> [--resume | --init-from PREV.safetensors] [--stage vae|unet|all] [--steps N] [--batch N] [--seed N] [--world W] [--fp16] [--export-only]',
    summary: 'train the small SD1-architecture demo model on the procedural toy world (CPU, own engine)',
    load: () => import('./train-toy-model.js'),
  },
  concept: {
    usage:
      'concept info <file> [--json] [--chart PNG] | embed <workflow> <files…> [-o OUT] [--name N] | extract <workflow|png> [-o DIR]',
    summary: 'inspect concept files; carry them by value in workflows and PNGs',
    load: () => import('./concept.js'),
  },
};

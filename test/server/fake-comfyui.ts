/** Fake ComfyUI install trees with a front end where pip or the portable build puts it (no Python needed). */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A minimal built front end: `index.html` carrying `marker`, so a test can tell which one was served. */
async function writeFrontEnd(dir: string, marker: string): Promise<void> {
  await mkdir(join(dir, 'assets'), { recursive: true });
  await writeFile(join(dir, 'index.html'), `<!doctype html><title>${marker}</title>`);
  await writeFile(join(dir, 'assets', 'index.js'), `console.log(${JSON.stringify(marker)})`);
}

/** `comfyui_frontend_package` (static/ + dist-info) installed in `sitePackages`. */
export async function installFrontEndPackage(sitePackages: string, version: string, marker: string) {
  const staticDir = join(sitePackages, 'comfyui_frontend_package', 'static');
  await writeFrontEnd(staticDir, marker);
  await writeFile(join(sitePackages, 'comfyui_frontend_package', '__init__.py'), '');
  const distInfo = join(sitePackages, `comfyui_frontend_package-${version}.dist-info`);
  await mkdir(distInfo, { recursive: true });
  await writeFile(
    join(distInfo, 'METADATA'),
    `Metadata-Version: 2.1\nName: comfyui_frontend_package\nVersion: ${version}\nSummary: x\n`,
  );
  return staticDir;
}

/** `<root>/ComfyUI` with models/ and, in `<root>/ComfyUI/venv`, the front-end package (Linux layout). */
export async function comfyWithVenv(root: string, version = '1.44.19', marker = 'venv front end') {
  const install = join(root, 'ComfyUI');
  await mkdir(join(install, 'models', 'checkpoints'), { recursive: true });
  await mkdir(join(install, 'venv', 'bin'), { recursive: true });
  const staticDir = await installFrontEndPackage(
    join(install, 'venv', 'lib', 'python3.12', 'site-packages'),
    version,
    marker,
  );
  return { install, staticDir };
}

/** The Windows portable build: `<root>/ComfyUI` next to `<root>/python_embeded/Lib/site-packages`. */
export async function comfyPortable(root: string, version = '1.28.8', marker = 'portable front end') {
  const install = join(root, 'ComfyUI');
  await mkdir(join(install, 'models', 'checkpoints'), { recursive: true });
  const staticDir = await installFrontEndPackage(
    join(root, 'python_embeded', 'Lib', 'site-packages'),
    version,
    marker,
  );
  return { install, staticDir };
}

/** An older install whose front end is its own `web/` folder, with no Python environment here. */
export async function comfyWithWebFolder(root: string, marker = 'web folder front end') {
  const install = join(root, 'ComfyUI');
  await writeFrontEnd(join(install, 'web'), marker);
  return { install, webDir: join(install, 'web') };
}

/** An install with a venv that lacks the front-end package. */
export async function comfyWithoutFrontEnd(root: string) {
  const install = join(root, 'ComfyUI');
  await mkdir(join(install, 'models', 'checkpoints'), { recursive: true });
  await mkdir(join(install, '.venv', 'lib', 'python3.11', 'site-packages', 'torch'), { recursive: true });
  return { install };
}

import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { commands } from '../../src/cli/commands.js';
import { assetPath } from '../../src/shared/assets.js';

const readme = readFileSync(assetPath('..', 'README.md'), 'utf8');

/** Commands shown in the README's code blocks: `cones-nodes X`, `npx cones-nodes X`, `npx tsx src/cli.ts X`. */
function commandsShownInReadme(): string[] {
  const blocks = [...readme.matchAll(/^\s*```(\w*)\n([\s\S]*?)^\s*```/gm)]
    .filter((m) => ['', 'sh', 'bash'].includes(m[1]))
    .map((m) => m[2]);
  const shown: string[] = [];
  for (const line of blocks.join('\n').split('\n')) {
    const m = /^\s*(?:npx\s+)?(?:cones-nodes|tsx src\/cli\.ts|node dist\/cli\.js)\s+([a-z][a-z-]*)/.exec(
      line,
    );
    if (m) shown.push(m[1]);
  }
  return shown;
}

/** `--long` options and `-x` short options named in a usage line. */
function optionsOf(usage: string): string[] {
  return [...usage.matchAll(/(?<![\w-])(--?[a-z][a-z0-9-]*)/g)].map((m) => m[1]);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('README ↔ CLI', () => {
  it('starts with the two set-up commands', () => {
    const afterTitle = readme.replace(/^# .*\n+/, '');
    expect(afterTitle.startsWith('```sh\nnpm ci && npm start\n```\n\n```sh\nnpm ci && npm test\n```\n')).toBe(
      true,
    );
  });

  it.each(Object.entries(commands))(
    'shows the usage line of `%s` exactly as the CLI does',
    (_name, command) => {
      expect(readme).toContain(`cones-nodes ${command.usage}`);
    },
  );

  it('shows no command the CLI does not have', () => {
    const shown = commandsShownInReadme();
    expect(shown.length).toBeGreaterThan(0);
    for (const name of shown)
      expect(Object.keys(commands), `README shows 'cones-nodes ${name}'`).toContain(name);
  });

  it.each(Object.entries(commands))(
    '`%s --help` exits 0 and explains every option of its usage line',
    async (name, command) => {
      const printed: string[] = [];
      vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
        printed.push(args.join(' '));
      });
      const module = await command.load();
      expect(await module.run(['--help'])).toBe(0);
      const help = printed.join('\n');
      expect(help).toContain(`cones-nodes ${name}`);
      for (const option of optionsOf(command.usage))
        expect(help, `${name} --help mentions ${option}`).toContain(option);
    },
  );
});

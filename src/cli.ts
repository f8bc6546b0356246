#!/usr/bin/env node
/**
 * cones-nodes command line. Each subcommand lives in src/cli/<name>.ts and exports
 * `run(argv: string[]): Promise<number>` (exit code); its usage line and summary are in src/cli/commands.ts.
 */
import { commands } from './cli/commands.js';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    printUsage();
    return name ? 0 : 1;
  }
  if (name === '--version' || name === '-v') {
    const { version } = await import('./shared/version.js');
    console.log(version);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(`cones-nodes: unknown command '${name}'\n`);
    printUsage();
    return 2;
  }
  const module = await command.load();
  return module.run(rest);
}

function printUsage(): void {
  const lines = Object.values(commands).map((c) => `  ${c.usage}\n      ${c.summary}`);
  console.log(
    `Usage: cones-nodes <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'cones-nodes <command> --help' for a command's options.`,
  );
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`cones-nodes: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);

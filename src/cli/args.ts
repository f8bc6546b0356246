import { type ParseArgsConfig, parseArgs } from 'node:util';

/**
 * `parseArgs` with the CLI's conventions: a malformed or unknown option prints `<prefix>: <message>`
 * and the usage to stderr (exit code 2); `--help` prints the usage to stdout (exit code 0).
 * Returns the parsed arguments, or the exit code when the command is done.
 */
export function parseCommandArgs<T extends ParseArgsConfig>(
  prefix: string,
  usage: string,
  config: T,
): ReturnType<typeof parseArgs<T>> | number {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    return usageError(prefix, (error as Error).message, usage);
  }
  if ((parsed.values as Record<string, unknown>).help) {
    console.log(usage);
    return 0;
  }
  return parsed;
}

/** Prints `<prefix>: <message>` and the usage to stderr; returns exit code 2. */
export function usageError(prefix: string, message: string, usage: string): number {
  console.error(`${prefix}: ${message}\n\n${usage}`);
  return 2;
}

import { type ParseArgsConfig, parseArgs } from 'node:util';
import {
  RUNTIME_SETTING_NAMES,
  RUNTIME_SETTING_OPTIONS,
  type RuntimeSettingName,
  type RuntimeSettings,
  RuntimeSettingsError,
  resolveRuntimeSettings,
} from '../shared/runtime-settings.js';

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

/** `parseArgs` options of the worker settings flags (`--provider` …, src/shared/runtime-settings.ts). */
export const runtimeSettingFlags = Object.fromEntries(
  RUNTIME_SETTING_NAMES.map((name) => [name, { type: 'string' as const }]),
) as Record<RuntimeSettingName, { type: 'string' }>;

/** The `--help` section of the worker settings flags. */
export function runtimeSettingsUsage(): string {
  const lines = ['Worker settings (each falls back to its environment variable):'];
  for (const name of RUNTIME_SETTING_NAMES) {
    const { arg, help, env } = RUNTIME_SETTING_OPTIONS[name];
    lines.push(`  ${`--${name} ${arg}`.padEnd(23)}${help}`, `${' '.repeat(25)}[${env}]`);
  }
  return lines.join('\n');
}

/**
 * The worker settings from parsed flags, with the environment as fallback; an unusable value prints
 * `<prefix>: <message>` to stderr and gives exit code 2.
 */
export function runtimeSettingsFromFlags(prefix: string, values: object): RuntimeSettings | number {
  const flags = values as Partial<Record<RuntimeSettingName, string>>;
  try {
    return resolveRuntimeSettings(flags);
  } catch (error) {
    if (!(error instanceof RuntimeSettingsError)) throw error;
    console.error(`${prefix}: ${error.message}`);
    return 2;
  }
}

/** The subcommand table: one entry per command, loaded lazily so `--help` stays fast. */
export interface CliCommand {
  usage: string;
  summary: string;
  load(): Promise<{ run(argv: string[]): Promise<number> }>;
}

export const commands: Record<string, CliCommand> = {};

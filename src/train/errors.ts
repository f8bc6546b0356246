/** The training CLI's user-facing error: bad options, a missing or mismatching file (exit code 2). */
export class TrainError extends Error {}

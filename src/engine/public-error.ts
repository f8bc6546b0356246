/**
 * What clients see of an exception: its type and message with absolute paths shortened to their
 * last component, and a `traceback` (a field ComfyUI clients read) made of those message lines
 * rather than stack frames. Stacks name server files; they go to the service log instead.
 */
export interface PublicError {
  exception_type: string;
  exception_message: string;
  traceback: string[];
}

// An absolute POSIX path (two segments or more), a file:// URL or a Windows drive path, starting
// where a word could start so that "1/2" or "a/b" stay as they are.
const ABSOLUTE_PATH =
  /(?<![\w.~/\\-])(?:file:\/\/\/?[^\s'"`<>()[\]{},;]+|\/[^\s'"`<>()[\]{},;/]+(?:\/[^\s'"`<>()[\]{},;/]*)+|[A-Za-z]:\\[^\s'"`<>()[\]{},;]+)/g;

/** `text` with every absolute path replaced by `…/` and its last component. */
export function withoutAbsolutePaths(text: string): string {
  return text.replace(ABSOLUTE_PATH, (path) => {
    const parts = path.split(/[/\\]/).filter((p) => p.length > 0);
    return `…/${parts.at(-1) ?? ''}`;
  });
}

export function errorOf(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

export function publicError(error: unknown): PublicError {
  const e = errorOf(error);
  const message = withoutAbsolutePaths(e.message);
  return {
    exception_type: e.name,
    exception_message: message,
    traceback: message.split('\n').map((line, i) => `${i === 0 ? `${e.name}: ` : ''}${line}\n`),
  };
}

/** The full report for the service log: the stack (or the message when there is none). */
export function loggedError(error: unknown): string {
  const e = errorOf(error);
  return e.stack ?? `${e.name}: ${e.message}`;
}

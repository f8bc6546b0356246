/** An error the HTTP layer turns into `{error:{type,message}}` with the given status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function errorBody(type: string, message: string): { error: { type: string; message: string } } {
  return { error: { type, message } };
}

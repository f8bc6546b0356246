/** Thrown when the user interrupted the prompt a node or a runtime task was working for. */
export class InterruptedError extends Error {
  constructor() {
    super('Processing interrupted');
    this.name = 'InterruptedError';
  }
}

/**
 * A first-come, first-served async lock. Commits of one service hold it so that a check
 * made against the store (unique Names) and the commit it guards cannot interleave with
 * another request's.
 */
export class AsyncLock {
  #tail: Promise<void> = Promise.resolve();

  async run<T>(work: () => Promise<T>): Promise<T> {
    const previous = this.#tail;
    let release: () => void = () => undefined;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await work();
    } finally {
      release();
    }
  }
}

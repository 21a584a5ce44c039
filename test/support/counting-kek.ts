/** A KEK that counts the unwraps reaching it: what a cache in front of it saved (unwrap-cache tests). */
import type { KeyEncryptionKey } from '../../lib/crypto/index.js';

export class CountingKek implements KeyEncryptionKey {
  unwraps = 0;
  constructor(readonly inner: KeyEncryptionKey) {}
  get id(): string {
    return this.inner.id;
  }
  wrap(plain: Buffer): Promise<Buffer> {
    return this.inner.wrap(plain);
  }
  unwrap(wrapped: Buffer): Promise<Buffer> {
    this.unwraps += 1;
    return this.inner.unwrap(wrapped);
  }
}

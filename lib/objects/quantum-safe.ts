/**
 * Quantum Safe (KMIP 2.1 section 4.45): a client marks an object "required to be Quantum
 * Safe for the given Protection Period and Protection Level"; the server refuses an object
 * that cannot be. Against a quantum computer, Grover's search halves the strength of a
 * symmetric key (a 128-bit AES key keeps 64 bits), so symmetric keys and HMAC keys need at
 * least 256 bits; Shor's algorithm breaks RSA, DSA, Diffie-Hellman and every elliptic-curve
 * scheme at any size; hash-based (XMSS, SPHINCS+) and code-based (McEliece) schemes and the
 * one-time pad stand.
 */
import { Enum } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/types.js';
import { KmipError } from '../errors.js';

const A = Enum.CryptographicAlgorithm;

/** Symmetric ciphers and MACs whose keys are quantum safe from 256 bits. */
const SYMMETRIC: ReadonlySet<number> = new Set([
  A.AES, A.Camellia, A.ARIA, A.ChaCha20, A.ChaCha20Poly1305, A.Twofish,
  A.HMAC_SHA256, A.HMAC_SHA384, A.HMAC_SHA512, A.HMAC_SHA3_256, A.HMAC_SHA3_384, A.HMAC_SHA3_512,
]);

/** Schemes with no known quantum attack, at any length KMIP lets them have. */
const POST_QUANTUM: ReadonlySet<number> = new Set([A.XMSS, A.SPHINCS_256, A.McEliece, A.McEliece_6960119, A.McEliece_8192128, A.OneTimePad]);

const QUANTUM_SAFE_SYMMETRIC_BITS = 256;

/**
 * Refuses an object marked Quantum Safe whose algorithm and length are not. An object with
 * no Cryptographic Algorithm (Secret Data, an Opaque Object) is the client's to judge.
 */
export function checkQuantumSafe(attributes: readonly AttributeInstance[]): void {
  const value = (name: string): number | undefined => {
    const item = attributes.find((a) => a.name === name)?.value;
    return item?.type === 'Enumeration' || item?.type === 'Integer' ? item.value : undefined;
  };
  const flag = attributes.find((a) => a.name === 'Quantum Safe')?.value;
  if (flag?.type !== 'Boolean' || !flag.value) return;
  const algorithm = value('Cryptographic Algorithm');
  if (algorithm === undefined || POST_QUANTUM.has(algorithm)) return;
  const length = value('Cryptographic Length');
  if (SYMMETRIC.has(algorithm) && length !== undefined && length >= QUANTUM_SAFE_SYMMETRIC_BITS) return;
  throw new KmipError(
    'InvalidAttributeValue',
    SYMMETRIC.has(algorithm)
      ? `Quantum Safe needs a symmetric key of at least ${QUANTUM_SAFE_SYMMETRIC_BITS} bits, not ${length ?? 'unknown'}: a quantum search halves its strength`
      : 'Quantum Safe cannot be met by this Cryptographic Algorithm: a quantum computer breaks it at any key length',
  );
}

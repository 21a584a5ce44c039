/** Something outside the configuration keeps the server from starting (a file, the port, the HSM). */
export class StartError extends Error {
  override readonly name = 'StartError';
}

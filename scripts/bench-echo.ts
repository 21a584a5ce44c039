/**
 * The ceiling the benchmark compares kmipd with: a bare Node TLS server (same certificates,
 * client certificate required) that reads TTLV-framed messages and answers each with a
 * message of the size the request asks for (a 32-bit count in the request's first four
 * payload bytes), doing no other work. Run as a child of the benchmark; prints its port.
 *
 *   node --import tsx scripts/bench-echo.ts <certs folder>
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import type { AddressInfo } from 'node:net';

const HEADER = 8;
const certs = process.argv[2];
if (certs === undefined) {
  console.error('usage: bench-echo.ts <folder with server.pem, server-key.pem, ca.pem>');
  process.exit(2);
}

const answers = new Map<number, Buffer>();
function answerOf(size: number): Buffer {
  let answer = answers.get(size);
  if (answer === undefined) {
    answer = Buffer.alloc(Math.max(HEADER, size));
    answer.writeUInt32BE(0x42007b01, 0);
    answer.writeUInt32BE(answer.length - HEADER, 4);
    answers.set(size, answer);
  }
  return answer;
}

const server = createServer(
  {
    cert: readFileSync(join(certs, 'server.pem')),
    key: readFileSync(join(certs, 'server-key.pem')),
    ca: readFileSync(join(certs, 'ca.pem')),
    requestCert: true,
    rejectUnauthorized: true,
  },
  (socket) => {
    socket.setNoDelay(true);
    let buffered: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let offset = 0;
      while (buffered.length - offset >= HEADER) {
        const length = HEADER + buffered.readUInt32BE(offset + 4);
        if (buffered.length - offset < length) break;
        const wanted = length >= HEADER + 4 ? buffered.readUInt32BE(offset + HEADER) : HEADER;
        socket.write(answerOf(Math.min(wanted, 16 * 1024 * 1024)));
        offset += length;
      }
      buffered = buffered.subarray(offset);
    });
    socket.on('error', () => socket.destroy());
  },
);
server.listen(0, '127.0.0.1', () => {
  console.log((server.address() as AddressInfo).port);
});

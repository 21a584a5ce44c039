/**
 * What the operational-store tests share: a real kmipd (startServer) on a temporary folder,
 * a KMIP client over real mutual TLS, requests as KMIP 2.1 XML, and the `kmipd` CLI run as a
 * child process (so a test can SIGKILL it).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, cp, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { initDataDir } from '../../server/datadir.js';
import { tempDir } from '../server/helpers.js';
import { Enum, Tag } from '../../ttlv/index.js';
import { find, findAll, request } from '../support/messages.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { KmipConnection } from '../../lib/client/index.js';
import { projectRoot } from '../support/paths.js';

export { removeDir, tempDir } from '../server/helpers.js';

let template: Promise<string> | undefined;

/**
 * A new initialised data folder, copied from one made once per test process: making the
 * development PKI takes seconds, copying it none. Copies share the template's KEK and PKI.
 */
export async function initialisedCopy(prefix: string): Promise<string> {
  template ??= (async () => {
    const dir = join(await tempDir('template'), 'data');
    await initDataDir(dir);
    process.once('exit', () => rmSync(dirname(dir), { recursive: true, force: true }));
    return dir;
  })();
  const copy = join(await tempDir(prefix), 'data');
  await cp(await template, copy, { recursive: true });
  await chmod(copy, 0o700);
  return copy;
}

export { find, findAll, request } from '../support/messages.js';

export function textOf(item: TtlvItem | undefined): string {
  if (item?.type !== 'TextString') throw new Error('not a Text String');
  return item.value;
}

function succeeded(response: TtlvItem, what: string): void {
  const status = find(response, Tag.ResultStatus);
  if (status?.type !== 'Enumeration' || status.value !== Enum.ResultStatus.Success) {
    const reason = find(response, Tag.ResultMessage);
    throw new Error(`${what} failed: ${reason?.type === 'TextString' ? reason.value : 'no message'}`);
  }
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** A client with the admin certificate of `dir`'s development PKI. */
export async function connectAdmin(endpoint: Endpoint, dir: string): Promise<Client> {
  const certs = join(dir, 'certs');
  const read = (name: string): Promise<string> => readFile(join(certs, name), 'utf8');
  const connection = await KmipConnection.connect(endpoint.host, endpoint.port, { cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem') });
  return new Client(connection);
}

export class Client {
  constructor(readonly connection: KmipConnection) {}

  async send(body: string): Promise<TtlvItem> {
    return this.connection.send(request(body));
  }

  /** Create an AES-256 key named `name`; `extra` is more attribute XML. Returns its identifier. */
  async createKey(name: string, extra = ''): Promise<string> {
    const response = await this.send(`<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><Attributes>
      <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="256"/><CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/>
      <Name><NameValue type="TextString" value="${name}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>${extra}</Attributes></RequestPayload>`);
    succeeded(response, `Create ${name}`);
    return textOf(find(response, Tag.UniqueIdentifier));
  }

  /** The key material Get returns, as hex. */
  async material(id: string): Promise<string> {
    const response = await this.send(`<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`);
    succeeded(response, `Get ${id}`);
    const material = find(response, Tag.KeyMaterial);
    if (material?.type !== 'ByteString') throw new Error(`Get ${id}: no Key Material`);
    return Buffer.from(material.value).toString('hex');
  }

  async activate(id: string): Promise<void> {
    succeeded(await this.send(`<Operation type="Enumeration" value="Activate"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`), `Activate ${id}`);
  }

  async destroy(id: string): Promise<void> {
    succeeded(await this.send(`<Operation type="Enumeration" value="Destroy"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`), `Destroy ${id}`);
  }

  /** Identifiers Locate returns for these attributes (XML). */
  async locate(attributes: string): Promise<string[]> {
    const response = await this.send(`<Operation type="Enumeration" value="Locate"/><RequestPayload><Attributes>${attributes}</Attributes></RequestPayload>`);
    succeeded(response, 'Locate');
    return findAll(response, Tag.UniqueIdentifier).map(textOf);
  }

  /** Every attribute of the object, by name (values as the response gives them). */
  async attributes(id: string): Promise<TtlvItem> {
    const response = await this.send(`<Operation type="Enumeration" value="GetAttributes"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`);
    succeeded(response, `GetAttributes ${id}`);
    return response;
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

export const nameXml = (name: string): string =>
  `<Name><NameValue type="TextString" value="${name}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>`;

// ---------------------------------------------------------------------------------------
// The kmipd CLI as a child process

export interface Cli {
  readonly child: ChildProcess;
  /** Everything written to stderr and stdout so far. */
  readonly output: () => string;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** Resolves once a line of output matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** `kmipd ARGS` under tsx, in a process group of its own (killed with it). */
export function kmipdCli(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Cli {
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'server', 'cli.ts'), ...args], { cwd: projectRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    for (const waiter of [...waiters]) {
      const line = text.split('\n').find((l) => waiter.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    output: () => text,
    exited,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise<string>((resolve, reject) => {
        const line = text.split('\n').find((l) => pattern.test(l));
        if (line !== undefined) return resolve(line);
        const timer = setTimeout(() => reject(new Error(`no output line matched ${pattern} within ${timeoutMs} ms; output:\n${text}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exited.then(() => {
          const last = text.split('\n').find((l) => pattern.test(l));
          clearTimeout(timer);
          if (last !== undefined) resolve(last);
          else reject(new Error(`kmipd ${args.join(' ')} exited before printing ${pattern}; output:\n${text}`));
        });
      }),
  };
}

/** Run `kmipd ARGS` to the end: exit code and output. */
export async function runCli(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | string; output: string }> {
  const cli = kmipdCli(args, env);
  const code = await cli.exited;
  return { code, output: cli.output() };
}

/**
 * Keys held inside the HSM (issue 6, server setting hsmResidentKeys): Create generates them in
 * the token, Encrypt, Decrypt, MAC and MAC Verify run there through the PKCS#11 worker, Get
 * and Export refuse them (get.ts), Destroy destroys the token object, Re-key (rekey.ts) makes
 * the replacement in the token too. Their key value never enters this process; the stored
 * body only names the token object (lib/crypto/pkcs11/resident.ts).
 */
import { Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { macMatches } from '../crypto/index.js';
import { hsmDecryption, hsmEncryption, hsmMac, residentKeySpec } from '../crypto/pkcs11/resident-kmip.js';
import { parseResidentUri, residentBody, residentLocation, residentUri } from '../crypto/pkcs11/resident.js';
import type { HsmKeys } from '../crypto/pkcs11/resident.js';
import { KmipError } from '../errors.js';
import { newManagedObject } from '../objects/new.js';
import { checkQuantumSafe } from '../objects/quantum-safe.js';
import { keyBlockOf } from '../objects/structures.js';
import { leafValue } from '../objects/managed.js';
import type { ManagedObject } from '../objects/types.js';
import { bool, bytes, enumeration, text } from '../protocol/build.js';
import { Enum } from '../../ttlv/index.js';
import { advance, checkUniqueValues, commit, serverPolicy } from './common.js';
import { chargeUsage, cipherParameters } from './key-use.js';
import type { ObjectInUse } from './key-use.js';
import type { HsmContext, OperationContext } from './types.js';

/** Whether the object's key is held in the HSM. */
export function isResident(body: TtlvItem | undefined): boolean {
  return residentLocation(body) !== undefined;
}

/** The HSM and the token label of a resident key; refused when kmipd has no such HSM now. */
function residentKey(ctx: OperationContext, obj: Pick<ManagedObject, 'id' | 'body'>): { keys: HsmKeys; label: string } {
  const uri = residentLocation(obj.body);
  if (uri === undefined) throw new KmipError('GeneralFailure', `object ${obj.id} is not held in the HSM`);
  const { tokenLabel, label } = parseResidentUri(uri);
  if (ctx.hsm === undefined) {
    throw new KmipError('GeneralFailure', `object ${obj.id} is held in the HSM token "${tokenLabel}", but kmipd runs without an HSM (pkcs11Module, pkcs11TokenLabel, pkcs11PinFile)`);
  }
  if (ctx.hsm.keys.token.label !== tokenLabel) {
    throw new KmipError('GeneralFailure', `object ${obj.id} is held in the HSM token "${tokenLabel}", but kmipd is configured with token "${ctx.hsm.keys.token.label}"`);
  }
  return { keys: ctx.hsm.keys, label };
}

/** A key the HSM is to generate and keep under a new identifier: what its managed object is made of. */
export interface ResidentKeyPlan {
  readonly hsm: HsmContext;
  readonly id: string;
  readonly spec: ReturnType<typeof residentKeySpec>;
  /** The stored body: it names the token object, it holds no key value. */
  readonly body: TtlvItem;
  /** The server's policy attributes: generated, and not extractable like the token object. */
  readonly policy: readonly AttributeInstance[];
}

/** The plan for a key the configured HSM generates as `id`; refused when kmipd has no HSM or the HSM cannot hold such a key. */
export function residentKeyPlan(ctx: OperationContext, id: string, algorithm: number, length: number, what: string): ResidentKeyPlan {
  const hsm = ctx.hsm;
  if (hsm === undefined) throw new KmipError('GeneralFailure', `${what} needs the HSM, but kmipd runs without one (pkcs11Module, pkcs11TokenLabel, pkcs11PinFile)`);
  return {
    hsm,
    id,
    spec: residentKeySpec(algorithm, length),
    body: residentBody(algorithm, length, residentUri(hsm.keys.token.label, id)),
    // The token object is CKA_EXTRACTABLE false: so is the managed object (and Never Extractable).
    policy: [...serverPolicy(ctx, 'generated'), { name: 'Extractable', value: bool(Tag.Extractable, false) }],
  };
}

/**
 * Generate the plan's token key, then `save` the objects that refer to it; if saving fails
 * the token key is destroyed again, so that nothing is left in the token that no object names.
 */
export async function generateInHsm(ctx: OperationContext, plan: ResidentKeyPlan, operation: string, save: () => Promise<void>): Promise<void> {
  await plan.hsm.keys.generate(plan.id, plan.spec.keyType, plan.spec.bytes);
  try {
    await save();
  } catch (error) {
    await plan.hsm.keys.destroy(plan.id).catch((cleanup: unknown) => ctx.log.error(`HSM key left in the token after a failed ${operation}`, { id: plan.id, error: String(cleanup) }));
    throw error;
  }
}

/** Create (create.ts) of a key that the HSM generates and keeps; answers like Create. */
export async function createInHsm(ctx: OperationContext, objectType: number, attributes: readonly AttributeInstance[], algorithm: number, length: number): Promise<TtlvItem[]> {
  const plan = residentKeyPlan(ctx, ctx.store.newId(), algorithm, length, 'Create of a key held in the HSM');
  const { id } = plan;
  const obj = advance(
    newManagedObject({ id, objectType, owner: ctx.identity.name, body: plan.body, clientAttributes: attributes, now: ctx.now, policy: plan.policy }),
    ctx.now,
  );
  checkQuantumSafe(obj.attributes);
  await checkUniqueValues(ctx, obj);
  await generateInHsm(ctx, plan, 'Create', () => commit(ctx, { create: [obj] }));
  ctx.idPlaceholder = id;
  ctx.log.info('object created', { operation: 'Create', id, objectType: 'SymmetricKey', heldIn: 'hsm' });
  return [enumeration(Tag.ObjectType, objectType), text(Tag.UniqueIdentifier, id)];
}

interface CipherRequest {
  readonly params: TtlvItem | undefined;
  readonly data: Buffer;
  readonly iv: Buffer | undefined;
  readonly aad: Buffer | undefined;
  readonly correlation: Buffer | undefined;
  readonly init: boolean;
  readonly final: boolean;
}

/** A PKCS#11 operation is single-part here: a stream would pin a token session per client. */
function refuseParts(request: CipherRequest, what: string): void {
  if (request.correlation !== undefined || request.init || request.final) {
    throw new KmipError('FeatureNotSupported', `multi-part ${what} with a key held in the HSM is not offered: send the whole data in one request`);
  }
}

function algorithmOf(use: ObjectInUse): number {
  const algorithm = keyBlockOf(use.body)?.algorithm ?? leafValue(use.obj, 'Cryptographic Algorithm', 'Enumeration');
  if (algorithm === undefined) throw new KmipError('GeneralFailure', `object ${use.obj.id} has no Cryptographic Algorithm`);
  return algorithm;
}

/** The request's Cryptographic Parameters over the key's (key-use.ts), without key bytes. */
function parametersOf(use: ObjectInUse, params: TtlvItem | undefined): ReturnType<typeof cipherParameters> {
  return cipherParameters(params, { ...use, key: Buffer.alloc(0), algorithm: algorithmOf(use) });
}

export async function encryptInHsm(ctx: OperationContext, use: ObjectInUse, request: CipherRequest): Promise<TtlvItem[]> {
  refuseParts(request, 'encryption');
  const { keys, label } = residentKey(ctx, use.obj);
  const hsm = hsmEncryption(parametersOf(use, request.params), request.iv, request.aad, request.data);
  await chargeUsage(ctx, use, request.data.length);
  const output = await keys.encrypt(label, hsm.mechanism, request.data);
  const out: TtlvItem[] = [text(Tag.UniqueIdentifier, use.obj.id)];
  if (hsm.tagBytes === undefined) {
    out.push(bytes(Tag.Data, output));
  } else {
    out.push(bytes(Tag.Data, output.subarray(0, output.length - hsm.tagBytes)));
  }
  if (hsm.generatedIv !== undefined) out.push(bytes(Tag.IVCounterNonce, hsm.generatedIv));
  if (hsm.tagBytes !== undefined) out.push(bytes(Tag.AuthenticatedEncryptionTag, output.subarray(output.length - hsm.tagBytes)));
  return out;
}

export async function decryptInHsm(ctx: OperationContext, use: ObjectInUse, request: CipherRequest & { readonly tag: Buffer | undefined }): Promise<TtlvItem[]> {
  refuseParts(request, 'decryption');
  const { keys, label } = residentKey(ctx, use.obj);
  const { mechanism, input } = hsmDecryption(parametersOf(use, request.params), request.iv, request.aad, request.tag, request.data);
  const data = await keys.decrypt(label, mechanism, input);
  return [text(Tag.UniqueIdentifier, use.obj.id), bytes(Tag.Data, data)];
}

/** MAC, or MAC Verify when `macData` is given (the comparison is constant-time, here). */
export async function macInHsm(ctx: OperationContext, use: ObjectInUse, request: { readonly params: TtlvItem | undefined; readonly data: Buffer }, macData?: Buffer): Promise<TtlvItem[]> {
  const { keys, label } = residentKey(ctx, use.obj);
  const mechanism = hsmMac(parametersOf(use, request.params), algorithmOf(use));
  if (macData === undefined) await chargeUsage(ctx, use, request.data.length);
  const computed = await keys.sign(label, mechanism, request.data);
  if (macData === undefined) return [text(Tag.UniqueIdentifier, use.obj.id), bytes(Tag.MACData, computed)];
  const valid = macMatches(computed, macData);
  return [text(Tag.UniqueIdentifier, use.obj.id), enumeration(Tag.ValidityIndicator, valid ? Enum.ValidityIndicator.Valid : Enum.ValidityIndicator.Invalid)];
}

/** Destroy (destroy.ts): the token object goes first, so that a success means the value is gone. */
export async function destroyInHsm(ctx: OperationContext, obj: ManagedObject): Promise<void> {
  const { keys, label } = residentKey(ctx, obj);
  const destroyed = await keys.destroy(label);
  ctx.log.info('HSM key destroyed', { id: obj.id, tokenObjects: destroyed });
}

/** Get and Export (get.ts): the value of a key held in the HSM never leaves it. */
export function refuseResident(obj: ManagedObject, wrapped: boolean): never {
  if (leafValue(obj, 'Sensitive', 'Boolean') === true && !wrapped) {
    throw new KmipError('Sensitive', `object ${obj.id} is sensitive and held inside the HSM: its key value never leaves it`);
  }
  throw new KmipError('NotExtractable', `object ${obj.id} is held inside the HSM and not extractable: its key value cannot leave it, wrapped or not`);
}

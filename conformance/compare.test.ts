/**
 * The comparison of a response with a test case's expected response: each permitted
 * variation of KMIP Additional Message Encodings v1.0 section 8.4 is accepted, and every
 * other difference is reported with its path and both values.
 */
import { expect } from 'chai';
import { Enum, isConcrete, parseXml } from '../ttlv/index.js';
import type { TemplateItem, TtlvItem } from '../ttlv/index.js';
import { compareResponse } from './compare.js';
import type { Comparison } from './compare.js';
import { ObjectRegistry } from './objects.js';
import type { ObjectInfo, ObjectKnowledge } from './objects.js';
import { Variables } from './variables.js';

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);
const NOW_TEXT = '2024-01-15T12:00:00Z';

function template(xml: string): TemplateItem {
  const items = parseXml(xml);
  expect(items).to.have.length(1);
  return items[0] as TemplateItem;
}

function concrete(xml: string): TtlvItem {
  const item = template(xml);
  if (!isConcrete(item)) throw new Error('the actual response holds a placeholder');
  return item;
}

const version = (minor: number, major = 2): string =>
  `<ProtocolVersion><ProtocolVersionMajor type="Integer" value="${major}"/><ProtocolVersionMinor type="Integer" value="${minor}"/></ProtocolVersion>`;

function response(batchItems: string, header = '', options: { major?: number; minor?: number; count?: number } = {}): string {
  return `<ResponseMessage><ResponseHeader>${version(options.minor ?? 1, options.major ?? 2)}<TimeStamp type="DateTime" value="${NOW_TEXT}"/>${header}<BatchCount type="Integer" value="${options.count ?? 1}"/></ResponseHeader>${batchItems}</ResponseMessage>`;
}

function item(operation: string, payload: string | undefined, status = 'Success', extra = ''): string {
  const body = payload === undefined ? '' : `<ResponsePayload>${payload}</ResponsePayload>`;
  return `<BatchItem><Operation type="Enumeration" value="${operation}"/><ResultStatus type="Enumeration" value="${status}"/>${extra}${body}</BatchItem>`;
}

function request(operation: string, payload = '', options: { major?: number; minor?: number } = {}): string {
  return `<RequestMessage><RequestHeader>${version(options.minor ?? 1, options.major ?? 2)}<BatchCount type="Integer" value="1"/></RequestHeader><BatchItem><Operation type="Enumeration" value="${operation}"/><RequestPayload>${payload}</RequestPayload></BatchItem></RequestMessage>`;
}

interface CheckOptions {
  /** The request as sent (concrete); a Get of uid-1 by default. */
  readonly request?: string;
  /** The request as the case wrote it, when it differs (placeholders). */
  readonly requestTemplate?: string;
  readonly objects?: Record<string, Partial<ObjectInfo>>;
  readonly variables?: Variables;
  readonly receivedAt?: number;
  /** The case's test identifier, for variations its description allows. */
  readonly caseName?: string;
}

function check(expected: string, actual: string, options: CheckOptions = {}): Comparison {
  const known = new Map(Object.entries(options.objects ?? {}).map(([uid, info]) => [uid, { origin: 'client', objectType: undefined, algorithm: undefined, padding: undefined, signatureAlgorithm: undefined, ...info } as ObjectInfo]));
  const objects: ObjectKnowledge = { info: (uid) => known.get(uid) };
  const sent = options.request ?? request('Get', '<UniqueIdentifier type="TextString" value="uid-1"/>');
  return compareResponse(template(expected), concrete(actual), {
    variables: options.variables ?? new Variables(),
    objects,
    request: concrete(sent),
    requestTemplate: template(options.requestTemplate ?? sent),
    receivedAt: options.receivedAt ?? NOW,
    ...(options.caseName === undefined ? {} : { caseName: options.caseName }),
  });
}

function passes(result: Comparison): void {
  expect(result.difference, JSON.stringify(result.difference)).to.equal(undefined);
}

function differs(result: Comparison, path: string, expected?: string | RegExp, actual?: string | RegExp): void {
  expect(result.difference, 'a difference').to.not.equal(undefined);
  expect(result.difference?.path).to.equal(path);
  if (expected instanceof RegExp) expect(result.difference?.expected).to.match(expected);
  else if (expected !== undefined) expect(result.difference?.expected).to.equal(expected);
  if (actual instanceof RegExp) expect(result.difference?.actual).to.match(actual);
  else if (actual !== undefined) expect(result.difference?.actual).to.equal(actual);
}

const uid = (value: string): string => `<UniqueIdentifier type="TextString" value="${value}"/>`;
const PAYLOAD = '/ResponseMessage/BatchItem[0]/ResponsePayload'.slice(1);

describe('compare: strict everywhere outside section 8.4', () => {
  const symmetricKey = (material: string, format = 'Raw'): string =>
    `<ObjectType type="Enumeration" value="SymmetricKey"/>${uid('uid-1')}<SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="${format}"/><KeyValue><KeyMaterial type="ByteString" value="${material}"/></KeyValue><CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="128"/></KeyBlock></SymmetricKey>`;

  it('an identical response conforms', () => {
    const text = response(item('Get', symmetricKey('00112233445566778899aabbccddeeff')));
    passes(check(text, text));
  });

  it('a wrong value is reported with its path, the expected and the actual value', () => {
    differs(
      check(response(item('Get', symmetricKey('00112233445566778899aabbccddeeff'))), response(item('Get', symmetricKey('ffeeddccbbaa99887766554433221100')))),
      `${PAYLOAD}/SymmetricKey/KeyBlock/KeyValue/KeyMaterial`,
      'ByteString 00112233445566778899aabbccddeeff',
      'ByteString ffeeddccbbaa99887766554433221100',
    );
  });

  it('a wrong item type is a difference', () => {
    differs(
      check(response(item('Get', '<CryptographicLength type="Integer" value="128"/>')), response(item('Get', '<CryptographicLength type="LongInteger" value="128"/>'))),
      `${PAYLOAD}/CryptographicLength`,
      'Integer 128',
      'LongInteger 128',
    );
  });

  it('a missing item is a difference', () => {
    differs(check(response(item('Get', `${uid('uid-1')}<ObjectType type="Enumeration" value="SymmetricKey"/>`)), response(item('Get', uid('uid-1')))), `${PAYLOAD}/ObjectType`, 'Enumeration SymmetricKey', 'absent');
  });

  it('an extra item is a difference', () => {
    differs(check(response(item('Get', uid('uid-1'))), response(item('Get', `${uid('uid-1')}<ObjectType type="Enumeration" value="SymmetricKey"/>`))), `${PAYLOAD}/ObjectType`, 'absent', 'Enumeration SymmetricKey');
  });

  it('items out of order are a difference', () => {
    const a = '<ObjectType type="Enumeration" value="SymmetricKey"/>';
    differs(check(response(item('Get', `${a}${uid('uid-1')}`)), response(item('Get', `${uid('uid-1')}${a}`))), `${PAYLOAD}/ObjectType`, 'Enumeration SymmetricKey', /^absent \(UniqueIdentifier/);
  });

  it('a wrong Result Status fails, showing the reason and message the server gave', () => {
    const failed = item('Get', undefined, 'OperationFailed', '<ResultReason type="Enumeration" value="ItemNotFound"/><ResultMessage type="TextString" value="no such object"/>');
    differs(check(response(item('Get', uid('uid-1'))), response(failed)), 'ResponseMessage/BatchItem[0]/ResultStatus', 'Enumeration Success', 'Enumeration OperationFailed (ItemNotFound: "no such object")');
  });

  it('the Result Reason must match when the expected status is Success', () => {
    differs(
      check(response(item('Get', uid('uid-1'))), response(item('Get', uid('uid-1'), 'Success', '<ResultReason type="Enumeration" value="GeneralFailure"/>'))),
      'ResponseMessage/BatchItem[0]/ResultReason',
      'absent',
      'Enumeration GeneralFailure',
    );
  });

  it('a missing batch item is a difference at BatchItem[1]', () => {
    const two = item('Get', uid('uid-1')) + item('Get', uid('uid-1'));
    differs(check(response(two, '', { count: 2 }), response(item('Get', uid('uid-1')), '', { count: 2 })), 'ResponseMessage/BatchItem[1]', /^\{Operation: Enumeration Get/, 'absent');
  });

  it('the protocol version of the response must be the expected one', () => {
    differs(check(response(item('Get', uid('uid-1'))), response(item('Get', uid('uid-1')), '', { minor: 0 })), 'ResponseMessage/ResponseHeader/ProtocolVersion/ProtocolVersionMinor', 'Integer 1', 'Integer 0');
  });

  it('a Client Correlation Value the case does not expect is a difference', () => {
    differs(check(response(item('Get', uid('uid-1'))), response(item('Get', uid('uid-1')), '<ClientCorrelationValue type="TextString" value="x"/>')), 'ResponseMessage/ResponseHeader/ClientCorrelationValue');
  });

  it('repeated tags carry an index in the path', () => {
    const names = (a: string, b: string): string =>
      `<Name><NameValue type="TextString" value="${a}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name><Name><NameValue type="TextString" value="${b}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>`;
    differs(check(response(item('Get', names('a', 'b'))), response(item('Get', names('a', 'c')))), `${PAYLOAD}/Name[1]/NameValue`, 'TextString "b"', 'TextString "c"');
  });

  it('key material of an object the client registered must come back unchanged', () => {
    const key = symmetricKey('00112233445566778899aabbccddeeff');
    differs(check(response(item('Get', key)), response(item('Get', symmetricKey('ffeeddccbbaa99887766554433221100'))), { objects: { 'uid-1': { origin: 'client' } } }), `${PAYLOAD}/SymmetricKey/KeyBlock/KeyValue/KeyMaterial`);
  });
});

describe('compare: placeholders', () => {
  it('an unbound placeholder binds to the actual value', () => {
    const variables = new Variables();
    passes(check(response(item('Create', uid('$UNIQUE_IDENTIFIER_0'))), response(item('Create', uid('1234'))), { variables }));
    expect(variables.get('$UNIQUE_IDENTIFIER_0')).to.deep.include({ type: 'TextString', value: '1234' });
  });

  it('a bound placeholder must equal its value, even on an identifier', () => {
    const variables = new Variables();
    passes(check(response(item('Create', uid('$UNIQUE_IDENTIFIER_0'))), response(item('Create', uid('1234'))), { variables }));
    differs(check(response(item('Get', uid('$UNIQUE_IDENTIFIER_0'))), response(item('Get', uid('9999'))), { variables }), `${PAYLOAD}/UniqueIdentifier`, '$UNIQUE_IDENTIFIER_0 = TextString "1234"', 'TextString "9999"');
  });

  it('a placeholder keeps its item type', () => {
    differs(
      check(response(item('Get', '<Data type="ByteString" value="$DATA"/>')), response(item('Get', '<Data type="TextString" value="abc"/>'))),
      `${PAYLOAD}/Data`,
      'ByteString $DATA',
      'TextString "abc"',
    );
  });

  it('bindings made while matching a set are undone when the match fails', () => {
    const variables = new Variables();
    const expected = response(item('Locate', `${uid('$UNIQUE_IDENTIFIER_0')}${uid('$UNIQUE_IDENTIFIER_1')}`));
    passes(check(expected, response(item('Locate', `${uid('a')}${uid('b')}`)), { variables, request: request('Locate') }));
    expect([variables.get('$UNIQUE_IDENTIFIER_0')?.value, variables.get('$UNIQUE_IDENTIFIER_1')?.value]).to.deep.equal(['a', 'b']);
  });
});

describe('compare: 8.4.1 variable items', () => {
  it('identifiers the case wrote literally may differ', () => {
    passes(check(response(item('Create', `<ObjectType type="Enumeration" value="SymmetricKey"/>${uid('case-id')}`)), response(item('Create', `<ObjectType type="Enumeration" value="SymmetricKey"/>${uid('server-id')}`))));
  });

  it('TimeStamp may be any date', () => {
    const actual = response(item('Get', uid('uid-1'))).replace(NOW_TEXT, '1999-12-31T23:59:59Z');
    passes(check(response(item('Get', uid('uid-1'))), actual));
  });

  it('TimeStamp must still be a DateTime', () => {
    const actual = response(item('Get', uid('uid-1'))).replace(`<TimeStamp type="DateTime" value="${NOW_TEXT}"/>`, '<TimeStamp type="LongInteger" value="5"/>');
    differs(check(response(item('Get', uid('uid-1'))), actual), 'ResponseMessage/ResponseHeader/TimeStamp');
  });

  describe('key material and cryptographic output of objects the server generated', () => {
    const server = { 'uid-1': { origin: 'server' as const } };
    const raw = `${uid('uid-1')}<SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue><KeyMaterial type="ByteString" value="00112233445566778899aabbccddeeff"/></KeyValue></KeyBlock></SymmetricKey>`;

    it('Get: the key material may differ', () => {
      passes(check(response(item('Get', raw)), response(item('Get', raw.replace('00112233445566778899aabbccddeeff', 'ffeeddccbbaa99887766554433221100'))), { objects: server }));
    });

    it('Get: so may the Key Format Type the server chose, and with it the shape of the key material', () => {
      const transparent = raw
        .replace('value="Raw"', 'value="TransparentSymmetricKey"')
        .replace('<KeyMaterial type="ByteString" value="00112233445566778899aabbccddeeff"/>', '<KeyMaterial><Key type="ByteString" value="ffeeddccbbaa99887766554433221100"/></KeyMaterial>');
      passes(check(response(item('Get', raw)), response(item('Get', transparent)), { objects: server }));
    });

    it('Get: not the Key Format Type the request asked for', () => {
      const asked = request('Get', `${uid('uid-1')}<KeyFormatType type="Enumeration" value="Raw"/>`);
      differs(check(response(item('Get', raw)), response(item('Get', raw.replace('value="Raw"', 'value="TransparentSymmetricKey"'))), { objects: server, request: asked }), `${PAYLOAD}/SymmetricKey/KeyBlock/KeyFormatType`);
    });

    it('Encrypt: Data and IV may differ', () => {
      const out = (data: string, iv: string): string => `${uid('uid-1')}<Data type="ByteString" value="${data}"/><IVCounterNonce type="ByteString" value="${iv}"/>`;
      const sent = request('Encrypt', `${uid('uid-1')}<Data type="ByteString" value="01020304"/>`);
      passes(check(response(item('Encrypt', out('aaaa', '0000'))), response(item('Encrypt', out('bbbb', '1111'))), { objects: server, request: sent }));
    });

    it('Decrypt: the plaintext of ciphertext this server produced must come back', () => {
      const sent = request('Decrypt', `${uid('uid-1')}<Data type="ByteString" value="abcdef"/>`);
      const written = request('Decrypt', `${uid('uid-1')}<Data type="ByteString" value="$DATA_0"/>`);
      const out = (data: string): string => `${uid('uid-1')}<Data type="ByteString" value="${data}"/>`;
      passes(check(response(item('Decrypt', out('01020304'))), response(item('Decrypt', out('ffff'))), { objects: server, request: sent }));
      differs(check(response(item('Decrypt', out('01020304'))), response(item('Decrypt', out('ffff'))), { objects: server, request: sent, requestTemplate: written }), `${PAYLOAD}/Data`);
    });
  });

  describe('cryptographic output of registered keys', () => {
    const out = (data: string, iv = ''): string => `${uid('uid-1')}<Data type="ByteString" value="${data}"/>${iv}`;

    it('Encrypt with the IV the client gave must give the expected ciphertext', () => {
      const sent = request('Encrypt', `${uid('uid-1')}<Data type="ByteString" value="01"/><IVCounterNonce type="ByteString" value="0000"/>`);
      differs(check(response(item('Encrypt', out('aaaa'))), response(item('Encrypt', out('bbbb'))), { request: sent }), `${PAYLOAD}/Data`, 'ByteString aaaa', 'ByteString bbbb');
    });

    it('Encrypt with an IV the server generated may give any ciphertext', () => {
      const sent = request('Encrypt', `${uid('uid-1')}<Data type="ByteString" value="01"/>`);
      const iv = (v: string): string => `<IVCounterNonce type="ByteString" value="${v}"/>`;
      passes(check(response(item('Encrypt', out('aaaa', iv('00')))), response(item('Encrypt', out('bbbb', iv('11')))), { request: sent }));
    });

    it('Encrypt with a public key (RSA is randomised) may give any ciphertext', () => {
      const sent = request('Encrypt', `${uid('uid-1')}<Data type="ByteString" value="01"/>`);
      passes(check(response(item('Encrypt', out('aaaa'))), response(item('Encrypt', out('bbbb'))), { request: sent, objects: { 'uid-1': { objectType: 3 } } }));
    });

    it('Sign with PSS may give any signature; with PKCS#1 v1.5 it may not', () => {
      const sig = (v: string): string => `${uid('uid-1')}<SignatureData type="ByteString" value="${v}"/>`;
      const params = (padding: string): string =>
        `${uid('uid-1')}<CryptographicParameters><PaddingMethod type="Enumeration" value="${padding}"/><HashingAlgorithm type="Enumeration" value="SHA_256"/></CryptographicParameters><Data type="ByteString" value="01"/>`;
      passes(check(response(item('Sign', sig('aa'))), response(item('Sign', sig('bb'))), { request: request('Sign', params('PSS')) }));
      differs(check(response(item('Sign', sig('aa'))), response(item('Sign', sig('bb'))), { request: request('Sign', params('PKCS1V1_5')) }), `${PAYLOAD}/SignatureData`);
    });

    it('a Sign that names no parameters signs with the key\'s own: PSS given at Register varies (CS-AC-M-1-13), unless the request asks for PKCS#1 v1.5', () => {
      const sig = (v: string): string => `${uid('uid-1')}<SignatureData type="ByteString" value="${v}"/>`;
      const bare = request('Sign', `${uid('uid-1')}<Data type="ByteString" value="01"/>`);
      const v15 = request('Sign', `${uid('uid-1')}<CryptographicParameters><PaddingMethod type="Enumeration" value="PKCS1V1_5"/></CryptographicParameters><Data type="ByteString" value="01"/>`);
      const rsaKey = { objectType: Enum.ObjectType.PrivateKey, algorithm: Enum.CryptographicAlgorithm.RSA };
      const pssKey = { 'uid-1': { ...rsaKey, padding: Enum.PaddingMethod.PSS } };
      passes(check(response(item('Sign', sig('aa'))), response(item('Sign', sig('bb'))), { request: bare, objects: pssKey }));
      differs(check(response(item('Sign', sig('aa'))), response(item('Sign', sig('bb'))), { request: v15, objects: pssKey }), `${PAYLOAD}/SignatureData`);
      differs(check(response(item('Sign', sig('aa'))), response(item('Sign', sig('bb'))), { request: bare, objects: { 'uid-1': rsaKey } }), `${PAYLOAD}/SignatureData`);
    });

    it('MAC of a registered key must be the expected one', () => {
      const mac = (v: string): string => `${uid('uid-1')}<MACData type="ByteString" value="${v}"/>`;
      differs(check(response(item('MAC', mac('aa'))), response(item('MAC', mac('bb'))), { request: request('MAC', `${uid('uid-1')}<Data type="ByteString" value="01"/>`) }), `${PAYLOAD}/MACData`);
    });

    it('RNG Retrieve may give any data', () => {
      const data = (v: string): string => `<Data type="ByteString" value="${v}"/>`;
      passes(check(response(item('RNGRetrieve', data('aa'))), response(item('RNGRetrieve', data('bb'))), { request: request('RNGRetrieve', '<DataLength type="Integer" value="1"/>') }));
    });
  });

  describe('wrapped keys', () => {
    const wrapped = (value: string): string =>
      `${uid('uid-1')}<SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue type="ByteString" value="${value}"/><KeyWrappingData><WrappingMethod type="Enumeration" value="Encrypt"/><EncryptionKeyInformation>${uid('uid-2')}</EncryptionKeyInformation></KeyWrappingData></KeyBlock></SymmetricKey>`;
    const get = request(
      'Get',
      `${uid('uid-1')}<KeyWrappingSpecification><WrappingMethod type="Enumeration" value="Encrypt"/><EncryptionKeyInformation>${uid('uid-2')}<CryptographicParameters><BlockCipherMode type="Enumeration" value="NISTKeyWrap"/></CryptographicParameters></EncryptionKeyInformation></KeyWrappingSpecification>`,
    );

    it('wrapped with a key the server generated, the wrapped bytes may differ', () => {
      passes(check(response(item('Get', wrapped('aaaa'))), response(item('Get', wrapped('bbbb'))), { request: get, objects: { 'uid-1': { origin: 'client' }, 'uid-2': { origin: 'server', objectType: 2 } } }));
    });

    it('a registered key wrapped with NIST key wrap under a registered key must give the expected bytes', () => {
      differs(
        check(response(item('Get', wrapped('aaaa'))), response(item('Get', wrapped('bbbb'))), { request: get, objects: { 'uid-1': { origin: 'client' }, 'uid-2': { origin: 'client', objectType: 2 } } }),
        `${PAYLOAD}/SymmetricKey/KeyBlock/KeyValue`,
      );
    });
  });

  describe('dates', () => {
    const attributes = (inner: string): string => `${uid('uid-1')}<Attributes>${inner}</Attributes>`;
    const date = (tag: string, value: string): string => `<${tag} type="DateTime" value="${value}"/>`;
    const getAttributes = request('GetAttributes', uid('uid-1'));

    it('a listed date the client did not fix may be anything (Initial Date)', () => {
      passes(check(response(item('GetAttributes', attributes(date('InitialDate', '2012-01-01T00:00:00Z')))), response(item('GetAttributes', attributes(date('InitialDate', NOW_TEXT)))), { request: getAttributes }));
    });

    it('a listed date the client sent as a fixed value must come back (Activation Date)', () => {
      const variables = new Variables();
      variables.substitute(template(request('Register', attributes(date('ActivationDate', '2012-01-01T00:00:00Z')))), NOW);
      differs(
        check(response(item('GetAttributes', attributes(date('ActivationDate', '2012-01-01T00:00:00Z')))), response(item('GetAttributes', attributes(date('ActivationDate', NOW_TEXT)))), { request: getAttributes, variables }),
        `${PAYLOAD}/Attributes/ActivationDate`,
      );
    });

    it('a date the client sent as $NOW-3600 must come back unchanged where the case expects it', () => {
      const variables = new Variables();
      variables.substitute(template(request('Register', attributes(date('ProtectStopDate', '$NOW-3600')))), NOW);
      const expected = response(item('GetAttributes', attributes(date('ProtectStopDate', '$NOW-3600'))));
      passes(check(expected, response(item('GetAttributes', attributes(date('ProtectStopDate', '2024-01-15T11:00:00Z')))), { request: getAttributes, variables }));
      differs(check(expected, response(item('GetAttributes', attributes(date('ProtectStopDate', '2024-01-15T11:00:01Z')))), { request: getAttributes, variables }), `${PAYLOAD}/Attributes/ProtectStopDate`, /sent as \$NOW-3600/);
    });

    it('a KMIP 1.x attribute value and a 2.x attribute are the same date', () => {
      const variables = new Variables();
      variables.substitute(
        template(request('Register', '<TemplateAttribute><Attribute><AttributeName type="TextString" value="Activation Date"/><AttributeValue type="DateTime" value="$NOW"/></Attribute></TemplateAttribute>', { major: 1, minor: 4 })),
        NOW - 5000,
      );
      const v1 = (value: string): string => `${uid('uid-1')}<Attribute><AttributeName type="TextString" value="Activation Date"/><AttributeValue type="DateTime" value="${value}"/></Attribute>`;
      differs(check(response(item('GetAttributes', v1('$NOW'))), response(item('GetAttributes', v1(NOW_TEXT))), { request: getAttributes, variables }), `${PAYLOAD}/Attribute/AttributeValue`, /ActivationDate sent as \$NOW/);
    });

    it('a $NOW the client never sent must be near the runner clock, when not a listed date', () => {
      const expected = response(item('GetAttributes', attributes(date('ProcessStartDate', '$NOW'))));
      passes(check(expected, response(item('GetAttributes', attributes(date('ProcessStartDate', '2024-01-15T12:01:00Z')))), { request: getAttributes }));
      differs(check(expected, response(item('GetAttributes', attributes(date('ProcessStartDate', '2024-01-16T12:00:00Z')))), { request: getAttributes }), `${PAYLOAD}/Attributes/ProcessStartDate`);
    });

    it('a date that is not on the 8.4.1 list and was written literally must match', () => {
      differs(check(response(item('GetAttributes', attributes(date('ProcessStartDate', '2012-01-01T00:00:00Z')))), response(item('GetAttributes', attributes(date('ProcessStartDate', NOW_TEXT)))), { request: getAttributes }), `${PAYLOAD}/Attributes/ProcessStartDate`);
    });
  });

  describe('attributes', () => {
    const getAttributes = request('GetAttributes', uid('uid-1'));
    const state = '<State type="Enumeration" value="Active"/>';
    const type = '<ObjectType type="Enumeration" value="SymmetricKey"/>';
    const group = '<ObjectGroup type="TextString" value="g"/>';

    it('extra attributes, in any order, are allowed (KMIP 2.x Attributes)', () => {
      passes(check(response(item('GetAttributes', `${uid('uid-1')}<Attributes>${state}${type}</Attributes>`)), response(item('GetAttributes', `${uid('uid-1')}<Attributes>${group}${type}${state}</Attributes>`)), { request: getAttributes }));
    });

    it('a missing attribute is still a difference', () => {
      differs(check(response(item('GetAttributes', `${uid('uid-1')}<Attributes>${state}${type}</Attributes>`)), response(item('GetAttributes', `${uid('uid-1')}<Attributes>${type}</Attributes>`)), { request: getAttributes }), `${PAYLOAD}/Attributes/State`, 'Enumeration Active', 'absent');
    });

    it('an attribute with another value is a difference against its namesake', () => {
      differs(
        check(response(item('GetAttributes', `${uid('uid-1')}<Attributes>${state}</Attributes>`)), response(item('GetAttributes', `${uid('uid-1')}<Attributes>${state.replace('Active', 'PreActive')}</Attributes>`)), { request: getAttributes }),
        `${PAYLOAD}/Attributes/State`,
        'Enumeration Active',
        'Enumeration PreActive',
      );
    });

    const v1 = (name: string, value: string, index = ''): string => `<Attribute><AttributeName type="TextString" value="${name}"/>${index}<AttributeValue type="Enumeration" value="${value}"/></Attribute>`;

    it('extra attributes, in any order, are allowed (KMIP 1.x Attribute list)', () => {
      passes(
        check(response(item('GetAttributes', `${uid('uid-1')}${v1('State', 'Active')}${v1('Object Type', 'SymmetricKey')}`), '', { major: 1, minor: 4 }), response(item('GetAttributes', `${uid('uid-1')}${v1('Object Type', 'SymmetricKey')}${v1('Cryptographic Algorithm', 'AES')}${v1('State', 'Active')}`), '', { major: 1, minor: 4 }), {
          request: getAttributes,
        }),
      );
    });

    it('Attribute Index 0 may be present or absent', () => {
      const zero = '<AttributeIndex type="Integer" value="0"/>';
      const opts = { request: getAttributes };
      passes(check(response(item('GetAttributes', `${uid('uid-1')}${v1('State', 'Active')}`)), response(item('GetAttributes', `${uid('uid-1')}${v1('State', 'Active', zero)}`)), opts));
      passes(check(response(item('GetAttributes', `${uid('uid-1')}${v1('State', 'Active', zero)}`)), response(item('GetAttributes', `${uid('uid-1')}${v1('State', 'Active')}`)), opts));
    });

    it('an Attribute Index other than 0 may not be left out', () => {
      const one = '<AttributeIndex type="Integer" value="1"/>';
      differs(check(response(item('GetAttributes', `${uid('uid-1')}${v1('State', 'Active', one)}`)), response(item('GetAttributes', `${uid('uid-1')}${v1('State', 'Active')}`)), { request: getAttributes }), `${PAYLOAD}/Attribute/AttributeIndex`);
    });

    it('Get Attribute List may name extra attributes', () => {
      const name = (n: string): string => `<AttributeName type="TextString" value="${n}"/>`;
      passes(check(response(item('GetAttributeList', `${uid('uid-1')}${name('State')}${name('Name')}`)), response(item('GetAttributeList', `${uid('uid-1')}${name('Name')}${name('Digest')}${name('State')}`)), { request: request('GetAttributeList', uid('uid-1')) }));
    });

    it('Template Attribute may be included in a response or not', () => {
      const template14 = '<TemplateAttribute><Attribute><AttributeName type="TextString" value="State"/><AttributeValue type="Enumeration" value="PreActive"/></Attribute></TemplateAttribute>';
      const base = `<ObjectType type="Enumeration" value="SymmetricKey"/>${uid('uid-1')}`;
      passes(check(response(item('Create', base + template14), '', { major: 1, minor: 4 }), response(item('Create', base), '', { major: 1, minor: 4 }), { request: request('Create') }));
      passes(check(response(item('Create', base), '', { major: 1, minor: 4 }), response(item('Create', base + template14), '', { major: 1, minor: 4 }), { request: request('Create') }));
    });

    it('the Digest attribute may have any hashing algorithm and value', () => {
      const digest = (algorithm: string, value: string): string =>
        `${uid('uid-1')}<Attributes><Digest><HashingAlgorithm type="Enumeration" value="${algorithm}"/><DigestValue type="ByteString" value="${value}"/><KeyFormatType type="Enumeration" value="Raw"/></Digest></Attributes>`;
      passes(check(response(item('GetAttributes', digest('SHA_256', 'aa'))), response(item('GetAttributes', digest('SHA_1', 'bb'))), { request: getAttributes }));
    });

    it('the Random Number Generator of an object the server generated is the server\'s own; of a registered one it must match', () => {
      const rng = (algorithm: string): string =>
        `${uid('uid-1')}<Attributes><RandomNumberGenerator><RNGAlgorithm type="Enumeration" value="${algorithm}"/><CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="256"/></RandomNumberGenerator></Attributes>`;
      passes(check(response(item('GetAttributes', rng('ANSIX9_31'))), response(item('GetAttributes', rng('DRBG'))), { request: getAttributes, objects: { 'uid-1': { origin: 'server' } } }));
      differs(
        check(response(item('GetAttributes', rng('ANSIX9_31'))), response(item('GetAttributes', rng('DRBG'))), { request: getAttributes, objects: { 'uid-1': { origin: 'client' } } }),
        `${PAYLOAD}/Attributes/RandomNumberGenerator/RNGAlgorithm`,
      );
      differs(check(response(item('GetAttributes', rng('ANSIX9_31'))), response(item('GetAttributes', uid('uid-1') + '<Attributes/>')), { request: getAttributes, objects: { 'uid-1': { origin: 'server' } } }), `${PAYLOAD}/Attributes/RandomNumberGenerator`);
    });

    it('8.4.1 "Object Group values not included in the requests" may be absent; one the case sent may not', () => {
      const name = (n: string): string => `<AttributeName type="TextString" value="${n}"/>`;
      const list = request('GetAttributeList', uid('uid-1'), { major: 1, minor: 1 });
      const v11 = { major: 1, minor: 1 };
      passes(check(response(item('GetAttributeList', `${uid('uid-1')}${name('Name')}${name('Object Group')}`), '', v11), response(item('GetAttributeList', `${uid('uid-1')}${name('Name')}`), '', v11), { request: list }));
      const group = (g: string): string => `${uid('uid-1')}<Attributes><ObjectGroup type="TextString" value="${g}"/></Attributes>`;
      passes(check(response(item('GetAttributes', group('default'))), response(item('GetAttributes', `${uid('uid-1')}<Attributes/>`)), { request: getAttributes }));
      const variables = new Variables();
      variables.substitute(template(request('Register', '<Attributes><ObjectGroup type="TextString" value="mine"/></Attributes>')), NOW);
      differs(check(response(item('GetAttributes', group('mine'))), response(item('GetAttributes', `${uid('uid-1')}<Attributes/>`)), { request: getAttributes, variables }), `${PAYLOAD}/Attributes/ObjectGroup`);
    });

    it('a vendor or application prefix on a test identifier is allowed', () => {
      const name = (n: string): string => `${uid('uid-1')}<Attributes><Name><NameValue type="TextString" value="${n}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name></Attributes>`;
      passes(check(response(item('GetAttributes', name('BL-M-1-21'))), response(item('GetAttributes', name('acme:BL-M-1-21'))), { request: getAttributes }));
      differs(check(response(item('GetAttributes', name('my key'))), response(item('GetAttributes', name('acme:my key'))), { request: getAttributes }), `${PAYLOAD}/Attributes/Name/NameValue`);
    });
  });

  describe('Query and Discover Versions', () => {
    const op = (name: string): string => `<Operation type="Enumeration" value="${name}"/>`;
    const query = request('Query', '<QueryFunction type="Enumeration" value="QueryOperations"/>');

    it('Query may report extra operations and object types, in any order, and its own Vendor Identification and Server Information', () => {
      const expected = `${op('Create')}${op('Get')}<ObjectType type="Enumeration" value="SymmetricKey"/><VendorIdentification type="TextString" value="server-vendor.com"/><ServerInformation/>`;
      const actual = `${op('Get')}${op('Locate')}${op('Create')}<ObjectType type="Enumeration" value="SecretData"/><ObjectType type="Enumeration" value="SymmetricKey"/><VendorIdentification type="TextString" value="kmipd"/><ServerInformation><VendorIdentification type="TextString" value="x"/></ServerInformation>`;
      passes(check(response(item('Query', expected)), response(item('Query', actual)), { request: query }));
    });

    it('Query must still report every operation the case expects', () => {
      differs(check(response(item('Query', `${op('Create')}${op('Check')}`)), response(item('Query', `${op('Create')}${op('Get')}`)), { request: query }), `${PAYLOAD}/Operation[1]`, 'Enumeration Check', 'absent');
    });

    it('8.4 "allowed variations in the description of the test case": where it says the lists MAY vary (MSGENC-*-M-1, QS-M-1), expected operations and object types may be absent', () => {
      const expected = `${op('Create')}${op('Poll')}${op('Query')}<ObjectType type="Enumeration" value="SymmetricKey"/><ObjectType type="Enumeration" value="Template"/>`;
      const actual = `${op('Create')}${op('Query')}${op('Locate')}<ObjectType type="Enumeration" value="SymmetricKey"/>`;
      for (const caseName of ['MSGENC-XML-M-1-21', 'MSGENC-HTTPS-M-1-14', 'MSGENC-JSON-M-1-13', 'QS-M-1-20']) {
        passes(check(response(item('Query', expected)), response(item('Query', actual)), { request: query, caseName }));
      }
      differs(check(response(item('Query', expected)), response(item('Query', actual)), { request: query, caseName: 'SASED-M-1-14' }), `${PAYLOAD}/Operation[1]`, 'Enumeration Poll', 'absent');
    });

    it('8.4.1 "Operation Types reported in Query other than those noted as required in this profile" may vary: SUITEB_*-M-1 may lack Poll or Template, never Re-key or Private Key', () => {
      const objectType = (name: string): string => `<ObjectType type="Enumeration" value="${name}"/>`;
      const expected = `${op('Create')}${op('Poll')}${op('ReKey')}${op('Notify')}${objectType('PrivateKey')}${objectType('Template')}`;
      const caseName = 'SUITEB_128-M-1-14';
      passes(check(response(item('Query', expected)), response(item('Query', `${op('Create')}${op('ReKey')}${objectType('PrivateKey')}`)), { request: query, caseName }));
      passes(check(response(item('Query', expected)), response(item('Query', `${op('Create')}${op('ReKey')}${objectType('PrivateKey')}`)), { request: query, caseName: 'SUITEB_192-M-1-13' }));
      differs(check(response(item('Query', expected)), response(item('Query', `${op('Create')}${objectType('PrivateKey')}`)), { request: query, caseName }), `${PAYLOAD}/Operation[2]`, 'Enumeration ReKey', 'absent');
      differs(check(response(item('Query', expected)), response(item('Query', `${op('Create')}${op('ReKey')}`)), { request: query, caseName }), `${PAYLOAD}/ObjectType[0]`, 'Enumeration PrivateKey', 'absent');
    });

    const versions = (...list: [number, number][]): string => list.map(([major, minor]) => version(minor, major)).join('');

    it('Discover Versions without a client list may report extra versions', () => {
      passes(check(response(item('DiscoverVersions', versions([1, 2], [1, 0]))), response(item('DiscoverVersions', versions([2, 1], [1, 4], [1, 2], [1, 1], [1, 0]))), { request: request('DiscoverVersions') }));
    });

    it('Discover Versions with a client list must answer exactly', () => {
      const sent = request('DiscoverVersions', versions([1, 2], [1, 0]));
      differs(check(response(item('DiscoverVersions', versions([1, 2], [1, 0]))), response(item('DiscoverVersions', versions([1, 4], [1, 2], [1, 0]))), { request: sent }), `${PAYLOAD}/ProtocolVersion[0]/ProtocolVersionMinor`);
    });
  });

  it('Locate may list the expected identifiers in any order, but no extra one', () => {
    const variables = new Variables();
    passes(check(response(item('Create', uid('$UNIQUE_IDENTIFIER_0'))), response(item('Create', uid('a'))), { variables, request: request('Create') }));
    passes(check(response(item('Create', uid('$UNIQUE_IDENTIFIER_1'))), response(item('Create', uid('b'))), { variables, request: request('Create') }));
    const expected = response(item('Locate', `${uid('$UNIQUE_IDENTIFIER_0')}${uid('$UNIQUE_IDENTIFIER_1')}`));
    passes(check(expected, response(item('Locate', `${uid('b')}${uid('a')}`)), { variables, request: request('Locate') }));
    differs(check(expected, response(item('Locate', `${uid('b')}${uid('a')}${uid('c')}`)), { variables, request: request('Locate') }), `${PAYLOAD}/UniqueIdentifier[2]`, 'absent', 'TextString "c"');
  });
});

describe('compare: 8.4.1 response variations and the README rules', () => {
  it('Server Correlation Value is ignored, in either response', () => {
    const scv = (v: string): string => `<ServerCorrelationValue type="TextString" value="${v}"/>`;
    passes(check(response(item('Get', uid('uid-1')), scv('A5E83842')), response(item('Get', uid('uid-1')))));
    passes(check(response(item('Get', uid('uid-1'))), response(item('Get', uid('uid-1')), scv('mine'))));
    passes(check(response(item('Get', uid('uid-1')), scv('A5E83842')), response(item('Get', uid('uid-1')), scv('mine'))));
  });

  const failure = (reason: string, message?: string): string =>
    item('Get', undefined, 'OperationFailed', `<ResultReason type="Enumeration" value="${reason}"/>${message === undefined ? '' : `<ResultMessage type="TextString" value="${message}"/>`}`);

  it('Result Message may be absent, present, or say anything', () => {
    passes(check(response(failure('ItemNotFound', 'NOT_FOUND')), response(failure('ItemNotFound'))));
    passes(check(response(failure('ItemNotFound')), response(failure('ItemNotFound', 'no such object'))));
    passes(check(response(failure('ItemNotFound', 'NOT_FOUND')), response(failure('ItemNotFound', 'no such object'))));
  });

  it('Result Reason is advisory when the expected status is a failure', () => {
    const result = check(response(failure('ItemNotFound')), response(failure('PermissionDenied')));
    passes(result);
    expect(result.advisories).to.deep.equal([{ path: 'ResponseMessage/BatchItem[0]/ResultReason', expected: 'Enumeration ItemNotFound', actual: 'Enumeration PermissionDenied' }]);
  });

  it('extra Message Extensions are allowed', () => {
    const extension = '<MessageExtension><VendorIdentification type="TextString" value="acme"/><CriticalityIndicator type="Boolean" value="false"/><VendorExtension/></MessageExtension>';
    passes(check(response(item('Get', uid('uid-1'))), response(item('Get', uid('uid-1'), 'Success', '')).replace('</BatchItem>', `${extension}</BatchItem>`)));
  });
});

describe('objects: who generated what', () => {
  it('Create and Create Key Pair make server objects; Register makes client objects', () => {
    const objects = new ObjectRegistry();
    const payload = (xml: string): TtlvItem => concrete(`<ResponsePayload>${xml}</ResponsePayload>`);
    expect(objects.record(1, undefined, payload(`<ObjectType type="Enumeration" value="SymmetricKey"/>${uid('a')}`))).to.deep.equal(['a']);
    objects.record(2, undefined, payload('<PrivateKeyUniqueIdentifier type="TextString" value="b"/><PublicKeyUniqueIdentifier type="TextString" value="c"/>'));
    objects.record(3, concrete('<RequestPayload><ObjectType type="Enumeration" value="SecretData"/></RequestPayload>'), payload(uid('d')));
    expect(objects.info('a')).to.include({ origin: 'server', objectType: 2 });
    expect(objects.info('b')).to.include({ origin: 'server', objectType: 4 });
    expect(objects.info('c')).to.include({ origin: 'server', objectType: 3 });
    expect(objects.info('d')).to.include({ origin: 'client', objectType: 7 });
    expect(objects.record(10, undefined, payload(uid('a')))).to.deep.equal([]);
  });

  it('a Register with Cryptographic Parameters records their Padding Method and Digital Signature Algorithm, the defaults of a later Sign', () => {
    const objects = new ObjectRegistry();
    const registered = concrete(`<RequestPayload><ObjectType type="Enumeration" value="PrivateKey"/><TemplateAttribute><Attribute><AttributeName type="TextString" value="Cryptographic Parameters"/>
      <AttributeValue><PaddingMethod type="Enumeration" value="PSS"/><HashingAlgorithm type="Enumeration" value="SHA_256"/><CryptographicAlgorithm type="Enumeration" value="RSA"/></AttributeValue></Attribute></TemplateAttribute></RequestPayload>`);
    objects.record(3, registered, concrete(`<ResponsePayload>${uid('k')}</ResponsePayload>`));
    expect(objects.info('k')).to.include({
      origin: 'client',
      objectType: Enum.ObjectType.PrivateKey,
      algorithm: Enum.CryptographicAlgorithm.RSA,
      padding: Enum.PaddingMethod.PSS,
      signatureAlgorithm: undefined,
    });
  });
});

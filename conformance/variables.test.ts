/**
 * The placeholder map of a test case (../shared/kmip-testcases/README.md, "Reading a case").
 */
import { expect } from 'chai';
import { Tag, isConcrete, parseXml } from '../ttlv/index.js';
import type { TemplateItem, TtlvItem } from '../ttlv/index.js';
import { PlaceholderError, Variables, dateKey, dateValue, nowOffset } from './variables.js';

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0, 700);
const NOW_SECONDS = BigInt(Date.UTC(2024, 0, 15, 12, 0, 0) / 1000);

function template(xml: string): TemplateItem {
  return parseXml(xml)[0] as TemplateItem;
}

function concrete(xml: string): TtlvItem {
  const item = template(xml);
  if (!isConcrete(item)) throw new Error('placeholder in a concrete item');
  return item;
}

/** The leaf with `tag` in a tree (depth first). */
function find(item: TtlvItem, tag: number): TtlvItem | undefined {
  if (item.tag === tag) return item;
  if (item.type !== 'Structure') return undefined;
  for (const child of item.value) {
    const found = find(child, tag);
    if (found) return found;
  }
  return undefined;
}

describe('variables: placeholders in requests', () => {
  it('a bound placeholder is replaced by its value', () => {
    const variables = new Variables();
    variables.bind('$UNIQUE_IDENTIFIER_0', { tag: Tag.UniqueIdentifier, type: 'TextString', value: 'abc' });
    const request = variables.substitute(template('<RequestPayload><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/></RequestPayload>'), NOW);
    expect(find(request, Tag.UniqueIdentifier)).to.deep.equal({ tag: Tag.UniqueIdentifier, type: 'TextString', value: 'abc' });
  });

  it('a bound value takes the tag of the place it is used (Unique Identifier into Linked Object Identifier)', () => {
    const variables = new Variables();
    variables.bind('$UNIQUE_IDENTIFIER_1', { tag: Tag.UniqueIdentifier, type: 'TextString', value: 'abc' });
    const request = variables.substitute(template('<Link><LinkType type="Enumeration" value="NextLink"/><LinkedObjectIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_1"/></Link>'), NOW);
    expect(find(request, Tag.LinkedObjectIdentifier)).to.deep.equal({ tag: Tag.LinkedObjectIdentifier, type: 'TextString', value: 'abc' });
  });

  it('$NOW, $NOW-3600 and $NOW+3600 are the send time, to the second, plus the offset', () => {
    const request = new Variables().substitute(
      template('<Attributes><ActivationDate type="DateTime" value="$NOW"/><ProtectStopDate type="DateTime" value="$NOW-3600"/><ProcessStartDate type="DateTime" value="$NOW+3600"/></Attributes>'),
      NOW,
    );
    expect(find(request, Tag.ActivationDate)?.value).to.equal(NOW_SECONDS);
    expect(find(request, Tag.ProtectStopDate)?.value).to.equal(NOW_SECONDS - 3600n);
    expect(find(request, Tag.ProcessStartDate)?.value).to.equal(NOW_SECONDS + 3600n);
  });

  it('$NOW in a Date Time Extended is in microseconds', () => {
    expect(dateValue('DateTimeExtended', NOW, -1)).to.equal(BigInt(NOW) * 1000n - 1_000_000n);
  });

  it('$NOW in an item that is not a date is an error', () => {
    expect(() => new Variables().substitute(template('<RequestPayload><Data type="ByteString" value="$NOW"/></RequestPayload>'), NOW)).to.throw(PlaceholderError, /stands for a date/);
  });

  it('an unbound placeholder takes the most recent response item with the same tag, and keeps it', () => {
    const variables = new Variables();
    variables.remember(concrete('<ResponsePayload><MACData type="ByteString" value="aa"/></ResponsePayload>'));
    variables.remember(concrete('<ResponsePayload><MACData type="ByteString" value="bb"/><Data type="ByteString" value="cc"/></ResponsePayload>'));
    const payload = template('<RequestPayload><MACData type="ByteString" value="$MAC_DATA"/></RequestPayload>');
    expect(find(variables.substitute(payload, NOW), Tag.MACData)?.value).to.deep.equal(Buffer.from('bb', 'hex'));
    variables.remember(concrete('<ResponsePayload><MACData type="ByteString" value="dd"/></ResponsePayload>'));
    expect(find(variables.substitute(payload, NOW), Tag.MACData)?.value).to.deep.equal(Buffer.from('bb', 'hex'));
    expect(variables.get('$MAC_DATA')?.value).to.deep.equal(Buffer.from('bb', 'hex'));
  });

  it('an unbound placeholder with no response item of its tag is an error naming it and its path', () => {
    const error = (() => {
      try {
        new Variables().substitute(template('<RequestMessage><BatchItem><RequestPayload><Data type="ByteString" value="$DATA_0"/></RequestPayload></BatchItem></RequestMessage>'), NOW);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).to.be.instanceOf(PlaceholderError);
    expect(error).to.include({ placeholder: '$DATA_0', path: 'RequestMessage/BatchItem/RequestPayload/Data' });
  });

  it('a placeholder bound to another item type is an error', () => {
    const variables = new Variables();
    variables.bind('$X', { tag: Tag.Data, type: 'ByteString', value: Buffer.from('01', 'hex') });
    expect(() => variables.substitute(template('<RequestPayload><UniqueIdentifier type="TextString" value="$X"/></RequestPayload>'), NOW)).to.throw(PlaceholderError, /is a TextString, but its value is a ByteString/);
  });
});

describe('variables: dates the client sent', () => {
  it('are remembered per attribute, with the placeholder they were sent as', () => {
    const variables = new Variables();
    variables.substitute(template('<Attributes><ActivationDate type="DateTime" value="$NOW-3600"/><DeactivationDate type="DateTime" value="2030-01-01T00:00:00Z"/></Attributes>'), NOW);
    expect(variables.sentDates('ActivationDate')).to.deep.equal([{ placeholder: '$NOW-3600', value: NOW_SECONDS - 3600n }]);
    expect(variables.sentDates('ActivationDate', '$NOW')).to.deep.equal([]);
    expect(variables.sentDates('DeactivationDate')).to.deep.equal([{ placeholder: undefined, value: BigInt(Date.UTC(2030, 0, 1) / 1000) }]);
  });

  it('a KMIP 1.x Attribute and a custom attribute are keyed by their names', () => {
    const variables = new Variables();
    variables.substitute(
      template(
        '<TemplateAttribute><Attribute><AttributeName type="TextString" value="Activation Date"/><AttributeValue type="DateTime" value="$NOW"/></Attribute><Attribute><AttributeName type="TextString" value="x-VendorAttribute3"/><AttributeValue type="DateTime" value="$NOW"/></Attribute></TemplateAttribute>',
      ),
      NOW,
    );
    expect(variables.sentDates('ActivationDate', '$NOW')).to.have.length(1);
    expect(variables.sentDates('x-VendorAttribute3', '$NOW')).to.have.length(1);
    expect(dateKey(Tag.AttributeValue, 'Initial Date')).to.equal('InitialDate');
    expect(dateKey(Tag.LastChangeDate, undefined)).to.equal('LastChangeDate');
  });
});

describe('variables: bindings', () => {
  it('a rollback forgets what was bound after the checkpoint', () => {
    const variables = new Variables();
    variables.bind('$A', { tag: Tag.UniqueIdentifier, type: 'TextString', value: 'a' });
    const mark = variables.checkpoint();
    variables.bind('$B', { tag: Tag.UniqueIdentifier, type: 'TextString', value: 'b' });
    variables.rollback(mark);
    expect(variables.get('$A')?.value).to.equal('a');
    expect(variables.get('$B')).to.equal(undefined);
  });

  it('a name binds once', () => {
    const variables = new Variables();
    variables.bind('$A', { tag: Tag.UniqueIdentifier, type: 'TextString', value: 'a' });
    expect(() => variables.bind('$A', { tag: Tag.UniqueIdentifier, type: 'TextString', value: 'b' })).to.throw(/already bound/);
  });

  it('$NOW placeholders are recognised with their offsets', () => {
    expect([nowOffset('$NOW'), nowOffset('$NOW-3600'), nowOffset('$NOW+60'), nowOffset('$NOWHERE'), nowOffset('$DATA')]).to.deep.equal([0, -3600, 60, undefined, undefined]);
  });
});

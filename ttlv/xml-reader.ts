/**
 * A small XML reader for the KMIP XML encoding (KMIP Additional Message Encodings v1.0,
 * section 6): elements with attributes, nested elements, comments and whitespace. Values
 * live in attributes, so character data other than whitespace is refused, as are DOCTYPE
 * (no entity expansion, ever), CDATA and processing instructions other than the leading
 * XML declaration.
 *
 * Nesting depth is bounded; the caller bounds the input size. Every error is a TtlvError
 * ('BAD_TEXT') that says line:column and the path of open elements.
 */
import { TtlvError } from './errors.js';

export interface XmlElement {
  readonly name: string;
  readonly attributes: ReadonlyMap<string, string>;
  readonly children: readonly XmlElement[];
  /** 1-based position of the element's `<`. */
  readonly line: number;
  readonly column: number;
}

export interface XmlReadOptions {
  /** Deepest element nesting accepted; the root is depth 1. */
  readonly maxDepth?: number;
}

export const DEFAULT_XML_MAX_DEPTH = 64;

/** Parse a whole document and return its root element. */
export function readXml(text: string, options: XmlReadOptions = {}): XmlElement {
  return new XmlReader(normalizeLineEnds(text), options.maxDepth ?? DEFAULT_XML_MAX_DEPTH).document();
}

/** "1:7" */
export function formatPosition(where: { line: number; column: number }): string {
  return `${where.line}:${where.column}`;
}

// XML 1.0 section 2.11: CR LF and lone CR become LF before parsing.
function normalizeLineEnds(text: string): string {
  const noBom = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return noBom.includes('\r') ? noBom.replace(/\r\n?/g, '\n') : noBom;
}

// XML 1.0 section 2.2: C0 controls other than tab and line feed (CR is gone already).
const FORBIDDEN_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const NAME = /[A-Za-z_:\u00C0-\uFFFD][A-Za-z0-9_:.\-\u00B7\u00C0-\uFFFD]*/y;
const WHITESPACE = /[ \t\n]*/y;
const PREDEFINED_ENTITIES: ReadonlyMap<string, string> = new Map([
  ['amp', '&'],
  ['lt', '<'],
  ['gt', '>'],
  ['quot', '"'],
  ['apos', "'"],
]);

interface OpenElement {
  readonly name: string;
  readonly attributes: Map<string, string>;
  readonly children: XmlElement[];
  readonly line: number;
  readonly column: number;
}

class XmlReader {
  private pos = 0;
  private readonly open: OpenElement[] = [];
  // Line counting is incremental: positions are asked for in increasing order.
  private countedTo = 0;
  private countedLine = 1;
  private countedLineStart = 0;

  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
  ) {}

  document(): XmlElement {
    const bad = FORBIDDEN_CHAR.exec(this.text);
    if (bad) this.fail(`control character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')} is not allowed in XML`, bad.index);
    this.declaration();
    this.misc();
    if (!this.text.startsWith('<', this.pos) || this.pos >= this.text.length) this.fail('expected the root element');
    const root = this.element();
    this.misc();
    if (this.pos < this.text.length) this.fail('content after the root element');
    return root;
  }

  /** `<?xml version="1.0" ...?>`, only at the very start (XML 1.0 section 2.8). */
  private declaration(): void {
    if (!/^<\?xml[ \t\n]/.test(this.text)) return;
    const end = this.text.indexOf('?>');
    if (end < 0) this.fail('unterminated XML declaration');
    this.pos = end + 2;
  }

  /** Whitespace and comments between elements. */
  private misc(): void {
    for (;;) {
      this.skipWhitespace();
      if (this.text.startsWith('<!--', this.pos)) this.comment();
      else if (this.text.startsWith('<!DOCTYPE', this.pos)) this.fail('DOCTYPE is not supported in KMIP XML');
      else if (this.text.startsWith('<?', this.pos)) this.fail('processing instructions are not supported in KMIP XML');
      else return;
    }
  }

  private comment(): void {
    const start = this.pos;
    const end = this.text.indexOf('-->', start + 4);
    if (end < 0) this.fail('unterminated comment', start);
    // XML 1.0 section 2.5: "--" must not occur inside a comment.
    const inner = this.text.indexOf('--', start + 4);
    if (inner < end) this.fail('"--" inside a comment', inner);
    this.pos = end + 3;
  }

  /** The root element and everything inside it, with an explicit stack instead of recursion. */
  private element(): XmlElement {
    for (;;) {
      const done = this.startTag();
      if (done) {
        const closed = this.closeTop(done);
        if (closed) return closed;
      }
      const finished = this.content();
      if (finished) return finished;
    }
  }

  /**
   * Read `<name attr="v"...>` or `<name .../>`; a self-closing element comes back as the
   * element to close at once, an open one is pushed.
   */
  private startTag(): OpenElement | undefined {
    const where = this.position(this.pos);
    this.pos += 1; // '<'
    const name = this.name('element name');
    if (this.open.length >= this.maxDepth) this.fail(`elements nested deeper than ${this.maxDepth}`);
    const element: OpenElement = { name, attributes: new Map(), children: [], ...where };
    this.open.push(element);
    for (;;) {
      const before = this.pos;
      this.skipWhitespace();
      if (this.text.startsWith('/>', this.pos)) {
        this.pos += 2;
        return element;
      }
      if (this.text.startsWith('>', this.pos)) {
        this.pos += 1;
        return undefined;
      }
      if (this.pos === before) this.fail('expected whitespace, ">" or "/>" in a start tag');
      this.attribute(element);
    }
  }

  private attribute(element: OpenElement): void {
    const at = this.pos;
    const name = this.name('attribute name');
    this.skipWhitespace();
    this.expect('=');
    this.skipWhitespace();
    const quote = this.text[this.pos];
    if (quote !== '"' && quote !== "'") this.fail('expected a quoted attribute value');
    const end = this.text.indexOf(quote, this.pos + 1);
    if (end < 0) this.fail('unterminated attribute value');
    const value = this.attributeValue(this.pos + 1, end);
    if (element.attributes.has(name)) this.fail(`duplicate attribute "${name}"`, at);
    element.attributes.set(name, value);
    this.pos = end + 1;
  }

  /** Expand references and normalise whitespace (XML 1.0 section 3.3.3, CDATA attributes). */
  private attributeValue(start: number, end: number): string {
    const raw = this.text.slice(start, end);
    const lt = raw.indexOf('<');
    if (lt >= 0) this.fail('"<" in an attribute value', start + lt);
    let out = '';
    let from = 0;
    for (let amp = raw.indexOf('&'); amp >= 0; amp = raw.indexOf('&', from)) {
      out += raw.slice(from, amp).replace(/[\t\n]/g, ' ');
      const semi = raw.indexOf(';', amp);
      if (semi < 0) this.fail('unterminated reference', start + amp);
      out += this.reference(raw.slice(amp + 1, semi), start + amp);
      from = semi + 1;
    }
    return out + raw.slice(from).replace(/[\t\n]/g, ' ');
  }

  /** `amp`, `#60`, `#x3C`: the five predefined entities and character references. */
  private reference(body: string, at: number): string {
    const named = PREDEFINED_ENTITIES.get(body);
    if (named !== undefined) return named;
    const decimal = /^#([0-9]{1,7})$/.exec(body);
    const hex = /^#x([0-9A-Fa-f]{1,6})$/.exec(body);
    const code = decimal?.[1] !== undefined ? Number(decimal[1]) : hex?.[1] !== undefined ? parseInt(hex[1], 16) : undefined;
    if (code === undefined) this.fail(`unknown reference "&${body};" (only &amp; &lt; &gt; &quot; &apos; and &#...; are defined)`, at);
    // Any Unicode scalar value, including C0 controls (XML 1.1 style), so every TTLV Text
    // String can be written and read back; surrogate halves are never characters.
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) this.fail(`"&${body};" is not a character`, at);
    return String.fromCodePoint(code);
  }

  /**
   * Children of the innermost open element, up to its end tag. Returns the root when the
   * root's end tag is read, undefined after a child's start tag was read (the caller loops).
   */
  private content(): XmlElement | undefined {
    for (;;) {
      this.skipWhitespace();
      if (this.pos >= this.text.length) this.fail(`missing </${this.top().name}>`);
      if (this.text.startsWith('<!--', this.pos)) {
        this.comment();
      } else if (this.text.startsWith('</', this.pos)) {
        const closed = this.endTag();
        if (closed) return closed;
      } else if (this.text.startsWith('<![CDATA[', this.pos)) {
        this.fail('CDATA sections are not used in KMIP XML');
      } else if (this.text.startsWith('<!', this.pos) || this.text.startsWith('<?', this.pos)) {
        this.fail('markup declarations and processing instructions are not supported in KMIP XML');
      } else if (this.text.startsWith('<', this.pos)) {
        return undefined;
      } else {
        this.fail('text content is not allowed: KMIP XML carries values in the value attribute');
      }
    }
  }

  private endTag(): XmlElement | undefined {
    this.pos += 2;
    const name = this.name('element name');
    const top = this.top();
    if (name !== top.name) this.fail(`</${name}> does not close <${top.name}>`);
    this.skipWhitespace();
    this.expect('>');
    return this.closeTop(top);
  }

  /** Pop the innermost element into its parent; returns it when it was the root. */
  private closeTop(element: OpenElement): XmlElement | undefined {
    this.open.pop();
    const parent = this.open[this.open.length - 1];
    if (parent === undefined) return element;
    parent.children.push(element);
    return undefined;
  }

  private top(): OpenElement {
    const top = this.open[this.open.length - 1];
    if (top === undefined) this.fail('no open element');
    return top;
  }

  private name(what: string): string {
    NAME.lastIndex = this.pos;
    const match = NAME.exec(this.text);
    if (!match) this.fail(`expected ${what}`);
    this.pos = NAME.lastIndex;
    return match[0];
  }

  private expect(char: string): void {
    if (this.text[this.pos] !== char) this.fail(`expected "${char}"`);
    this.pos += 1;
  }

  private skipWhitespace(): void {
    WHITESPACE.lastIndex = this.pos;
    WHITESPACE.exec(this.text);
    this.pos = WHITESPACE.lastIndex;
  }

  private position(offset: number): { line: number; column: number } {
    if (offset < this.countedTo) {
      this.countedTo = 0;
      this.countedLine = 1;
      this.countedLineStart = 0;
    }
    for (let nl = this.text.indexOf('\n', this.countedTo); nl >= 0 && nl < offset; nl = this.text.indexOf('\n', nl + 1)) {
      this.countedLine += 1;
      this.countedLineStart = nl + 1;
    }
    this.countedTo = offset;
    return { line: this.countedLine, column: offset - this.countedLineStart + 1 };
  }

  private fail(message: string, at = this.pos): never {
    const where = formatPosition(this.position(Math.min(at, this.text.length)));
    const path = this.open.map((e) => e.name).join('/');
    throw new TtlvError('BAD_TEXT', `${message} at line ${where}`, path === '' ? {} : { path });
  }
}

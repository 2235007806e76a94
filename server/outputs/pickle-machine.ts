/**
 * The pickle interpreter of pickle.ts: a bounded SYMBOLIC stack machine over Python's pickle opcodes (protocols
 * 0 to 5, as pickletools documents them), which interprets every opcode as data and runs nothing. A GLOBAL or
 * STACK_GLOBAL becomes a symbol `{module, name}` that is never resolved; REDUCE, NEWOBJ, NEWOBJ_EX, INST and OBJ
 * become call nodes; BUILD, SETITEMS and APPENDS on a call node are recorded on it; BINPERSID/PERSID become a
 * storage reference. A memo GET or DUP pushes the same node again, never a copy.
 *
 * Bounds, each a PickleError through `fail`: opcodes executed, memo entries (by index), stack and MARK depth;
 * every length is checked against the bytes left before anything of that size exists; ints past 64 bytes and
 * bytes objects are kept only as what they are. Worst case is about 90 MB of nodes for 1,000,000 opcodes that
 * each allocate one (measured: 999,980 nested TUPLE1, 230 ms).
 */
import { MAX_PICKLE_BYTES } from './torch-zip.ts';

const MAX_OPCODES = 1_000_000;
/** Python's pickler numbers memo entries from 0, so an index at or past this is refused with the count. */
const MAX_MEMO = 100_000;
const MAX_STACK = 10_000;
/** Python refuses to parse ints of more digits (sys.int_info.default_max_str_digits). */
const MAX_INT_DIGITS = 4_300;
/** A LONG1/LONG4 longer than this is kept as an opaque value: no state-dict field needs it. */
const MAX_LONG_BYTES = 64;

// ---------------------------------------------------------------------------------------------------
// What the machine builds: Python values as data

interface PyFloat {
  kind: 'float';
  value: number;
}
/** Bytes, huge ints: kept only as what they are. */
interface PyOpaque {
  kind: 'opaque';
  what: string;
}
interface PyList {
  kind: 'list';
  items: Value[];
}
interface PyTuple {
  kind: 'tuple';
  items: Value[];
}
interface PyDict {
  kind: 'dict';
  entries: [Value, Value][];
}
interface PySet {
  kind: 'set';
  items: Value[];
}
/** A GLOBAL: a name, never resolved. */
export interface PySymbol {
  kind: 'symbol';
  module: string;
  name: string;
}
/** REDUCE/NEWOBJ/INST/OBJ: what would have been called, with what; SETITEMS/APPENDS/BUILD on it are recorded (arrays made on first use). */
interface PyCall {
  kind: 'call';
  callee: Value;
  args: Value;
  state?: Value;
  items?: [Value, Value][];
  appended?: Value[];
}
/** BINPERSID/PERSID: torch.save's reference to a storage record. */
interface PyPersistent {
  kind: 'persistent';
  id: Value;
}
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyFloat
  | PyOpaque
  | PyList
  | PyTuple
  | PyDict
  | PySet
  | PySymbol
  | PyCall
  | PyPersistent;

export type Fail = (problem: string) => never;

/** A pickle that runs past the bytes held so far while the file goes on: the caller reads more and starts again. */
export class NeedMoreBytes extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** True ISO-8859-1 (TextDecoder's 'latin1' is windows-1252, which remaps 0x80–0x9f). */
function latin1(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return text;
}

// ---------------------------------------------------------------------------------------------------
// The machine

export class Machine {
  pos = 0;
  private ops = 0;
  private stack: Value[] = [];
  /** Stack heights at each open MARK (Python's metastack). */
  private marks: number[] = [];
  private memo = new Map<number, Value>();

  constructor(
    private readonly data: Uint8Array,
    /** Whether `data` ends where the file ends (else running off it asks for more). */
    private readonly complete: boolean,
    private readonly fail: Fail,
  ) {}

  /** Runs one pickle from `pos` to its STOP and returns its value, `pos` left after the STOP. Fresh memo, as pickle.load. */
  load(): Value {
    this.stack = [];
    this.marks = [];
    this.memo = new Map();
    for (;;) {
      if (++this.ops > MAX_OPCODES) this.fail(`more than ${MAX_OPCODES} pickle opcodes`);
      const at = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80: {
          // PROTO
          const version = this.u8();
          if (version > 5) this.fail(`pickle protocol ${version} is unknown`);
          break;
        }
        case 0x95: // FRAME: a length hint only
          this.skip(8);
          break;
        case 0x2e: // STOP
          return this.pop();
        case 0x28: // MARK
          if (this.marks.length >= MAX_STACK) this.fail(`more than ${MAX_STACK} nested MARKs`);
          this.marks.push(this.stack.length);
          break;
        case 0x30: // POP: the top item, or the MARK right above the items
          if (this.marks.length > 0 && this.marks[this.marks.length - 1] === this.stack.length) this.marks.pop();
          else this.pop();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;

        case 0x4e: // NONE
          this.push(null);
          break;
        case 0x88: // NEWTRUE
          this.push(true);
          break;
        case 0x89: // NEWFALSE
          this.push(false);
          break;
        case 0x4a: // BININT
          this.push(this.view(4).getInt32(0, true));
          break;
        case 0x4b: // BININT1
          this.push(this.u8());
          break;
        case 0x4d: // BININT2
          this.push(this.view(2).getUint16(0, true));
          break;
        case 0x8a: // LONG1
          this.push(this.long(this.u8()));
          break;
        case 0x8b: {
          // LONG4
          const n = this.view(4).getInt32(0, true);
          if (n < 0) this.fail(`LONG4 has a negative length at byte ${at}`);
          this.push(this.long(n));
          break;
        }
        case 0x49: {
          // INT: protocol 0, also its booleans
          const text = this.asciiLine();
          this.push(text === '01' ? true : text === '00' ? false : this.parseInt(text));
          break;
        }
        case 0x4c: // LONG (protocol 0): digits and a trailing L
          this.push(this.parseInt(this.asciiLine().replace(/L$/, '')));
          break;
        case 0x47: // BINFLOAT (big-endian)
          this.push({ kind: 'float', value: this.view(8).getFloat64(0, false) });
          break;
        case 0x46: // FLOAT (protocol 0: repr of the float)
          this.push({ kind: 'float', value: this.parseFloat(this.asciiLine()) });
          break;

        case 0x58: // BINUNICODE
          this.push(this.utf8(this.view(4).getUint32(0, true)));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.utf8(this.u8()));
          break;
        case 0x8d: // BINUNICODE8
          this.push(this.utf8(this.u64()));
          break;
        case 0x56: // UNICODE (protocol 0: raw-unicode-escape up to a newline)
          this.push(rawUnicodeEscape(latin1(this.line())));
          break;
        case 0x54: {
          // BINSTRING: a Python 2 str, decoded as torch.load does (utf-8)
          const n = this.view(4).getInt32(0, true);
          if (n < 0) this.fail(`BINSTRING has a negative length at byte ${at}`);
          this.push(this.utf8(n));
          break;
        }
        case 0x55: // SHORT_BINSTRING
          this.push(this.utf8(this.u8()));
          break;
        case 0x42: // BINBYTES
          this.skip(this.view(4).getUint32(0, true));
          this.push({ kind: 'opaque', what: 'bytes' });
          break;
        case 0x43: // SHORT_BINBYTES
          this.skip(this.u8());
          this.push({ kind: 'opaque', what: 'bytes' });
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          this.skip(this.u64());
          this.push({ kind: 'opaque', what: 'bytes' });
          break;

        case 0x29: // EMPTY_TUPLE
          this.push({ kind: 'tuple', items: [] });
          break;
        case 0x74: // TUPLE
          this.push({ kind: 'tuple', items: this.popMark() });
          break;
        case 0x85: // TUPLE1
          this.push({ kind: 'tuple', items: [this.pop()] });
          break;
        case 0x86: {
          // TUPLE2
          const b = this.pop();
          this.push({ kind: 'tuple', items: [this.pop(), b] });
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = this.pop();
          const b = this.pop();
          this.push({ kind: 'tuple', items: [this.pop(), b, c] });
          break;
        }
        case 0x5d: // EMPTY_LIST
          this.push({ kind: 'list', items: [] });
          break;
        case 0x6c: // LIST
          this.push({ kind: 'list', items: this.popMark() });
          break;
        case 0x61: {
          // APPEND
          const value = this.pop();
          this.appendTo(this.top(), [value]);
          break;
        }
        case 0x65: {
          // APPENDS
          const values = this.popMark();
          this.appendTo(this.top(), values);
          break;
        }
        case 0x7d: // EMPTY_DICT
          this.push({ kind: 'dict', entries: [] });
          break;
        case 0x64: // DICT
          this.push({ kind: 'dict', entries: this.pairs(this.popMark()) });
          break;
        case 0x73: {
          // SETITEM
          const value = this.pop();
          const key = this.pop();
          this.setItems(this.top(), [[key, value]]);
          break;
        }
        case 0x75: {
          // SETITEMS
          const pairs = this.pairs(this.popMark());
          this.setItems(this.top(), pairs);
          break;
        }
        case 0x8f: // EMPTY_SET
          this.push({ kind: 'set', items: [] });
          break;
        case 0x90: {
          // ADDITEMS
          const values = this.popMark();
          const target = this.top();
          if (!isKind(target, 'set')) this.fail(`ADDITEMS on ${describe(target)}`);
          for (const v of values) target.items.push(v);
          break;
        }
        case 0x91: // FROZENSET
          this.push({ kind: 'set', items: this.popMark() });
          break;

        case 0x63: {
          // GLOBAL
          const module = this.utf8Line();
          this.push({ kind: 'symbol', module, name: this.utf8Line() });
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail(`STACK_GLOBAL of non-strings at byte ${at}`);
          this.push({ kind: 'symbol', module, name });
          break;
        }
        case 0x52: // REDUCE
        case 0x81: {
          // NEWOBJ
          const args = this.pop();
          this.push(call(this.pop(), args));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX: the keyword arguments are not needed for any state-dict shape
          this.pop();
          const args = this.pop();
          this.push(call(this.pop(), args));
          break;
        }
        case 0x69: {
          // INST
          const module = this.utf8Line();
          const name = this.utf8Line();
          this.push(call({ kind: 'symbol', module, name }, { kind: 'tuple', items: this.popMark() }));
          break;
        }
        case 0x6f: {
          // OBJ
          const items = this.popMark();
          if (items.length === 0) this.fail(`OBJ without a class at byte ${at}`);
          this.push(call(items[0]!, { kind: 'tuple', items: items.slice(1) }));
          break;
        }
        case 0x62: {
          // BUILD
          const state = this.pop();
          const target = this.top();
          if (!isKind(target, 'call')) this.fail(`BUILD on ${describe(target)}`);
          target.state = state;
          break;
        }
        case 0x51: // BINPERSID
          this.push({ kind: 'persistent', id: this.pop() });
          break;
        case 0x50: // PERSID
          this.push({ kind: 'persistent', id: this.asciiLine() });
          break;

        case 0x70: // PUT
          this.put(this.index(this.asciiLine()));
          break;
        case 0x71: // BINPUT
          this.put(this.u8());
          break;
        case 0x72: // LONG_BINPUT
          this.put(this.view(4).getUint32(0, true));
          break;
        case 0x94: // MEMOIZE
          this.put(this.memo.size);
          break;
        case 0x67: // GET
          this.push(this.get(this.index(this.asciiLine())));
          break;
        case 0x68: // BINGET
          this.push(this.get(this.u8()));
          break;
        case 0x6a: // LONG_BINGET
          this.push(this.get(this.view(4).getUint32(0, true)));
          break;

        default:
          // EXT1/2/4 (the copyreg extension registry), NEXT_BUFFER, READONLY_BUFFER, STRING (protocol 0 quoted str) and
          // anything else: no torch.save state dict uses them.
          this.fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}`);
      }
    }
  }

  // -- stack ---------------------------------------------------------------------------------------

  private push(value: Value): void {
    if (this.stack.length >= MAX_STACK) this.fail(`pickle stack deeper than ${MAX_STACK}`);
    this.stack.push(value);
  }

  private floor(): number {
    return this.marks.length > 0 ? this.marks[this.marks.length - 1]! : 0;
  }

  private pop(): Value {
    if (this.stack.length <= this.floor()) this.fail(`pickle stack underflow at byte ${this.pos - 1}`);
    return this.stack.pop()!;
  }

  private top(): Value {
    if (this.stack.length <= this.floor()) this.fail(`pickle stack underflow at byte ${this.pos - 1}`);
    return this.stack[this.stack.length - 1]!;
  }

  private popMark(): Value[] {
    const height = this.marks.pop();
    if (height === undefined) this.fail(`pickle has no MARK to pop at byte ${this.pos - 1}`);
    return this.stack.splice(height);
  }

  private pairs(items: Value[]): [Value, Value][] {
    if (items.length % 2 !== 0) this.fail(`odd number of items for a dict at byte ${this.pos - 1}`);
    const pairs: [Value, Value][] = [];
    for (let i = 0; i < items.length; i += 2) pairs.push([items[i]!, items[i + 1]!]);
    return pairs;
  }

  private appendTo(target: Value, values: Value[]): void {
    let into: Value[];
    if (isKind(target, 'list')) into = target.items;
    else if (isKind(target, 'call')) into = target.appended ?? [];
    else this.fail(`APPEND to ${describe(target)}`);
    for (const v of values) into.push(v);
    if (isKind(target, 'call')) target.appended = into;
  }

  private setItems(target: Value, pairs: [Value, Value][]): void {
    let into: [Value, Value][];
    if (isKind(target, 'dict')) into = target.entries;
    else if (isKind(target, 'call')) into = target.items ?? [];
    else this.fail(`SETITEM on ${describe(target)}`);
    for (const p of pairs) into.push(p);
    if (isKind(target, 'call')) target.items = into;
  }

  private put(index: number): void {
    if (index >= MAX_MEMO) this.fail(`memo index ${index} is past the ${MAX_MEMO}-entry limit`);
    this.memo.set(index, this.top());
  }

  private get(index: number): Value {
    const value = this.memo.get(index);
    if (value === undefined) this.fail(`memo entry ${index} is read before it is written`);
    return value;
  }

  // -- bytes ---------------------------------------------------------------------------------------

  /** Makes sure `n` more bytes are held, before anything of that size is allocated. */
  private need(n: number): void {
    if (this.pos + n <= this.data.length) return;
    if (this.complete) this.fail(`the pickle is truncated: ${n} bytes wanted at byte ${this.pos}, ${this.data.length - this.pos} left`);
    if (this.pos + n > MAX_PICKLE_BYTES) this.fail(`the pickle is larger than ${MAX_PICKLE_BYTES} bytes`);
    throw new NeedMoreBytes();
  }

  private skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  private u8(): number {
    this.need(1);
    return this.data[this.pos++]!;
  }

  private view(n: number): DataView {
    this.need(n);
    const view = new DataView(this.data.buffer, this.data.byteOffset + this.pos, n);
    this.pos += n;
    return view;
  }

  /** A u64 length; anything past 2^53 cannot be held anyway. */
  private u64(): number {
    const view = this.view(8);
    const high = view.getUint32(4, true);
    if (high >= 0x200000) this.fail(`a length of more than 2^53 bytes at byte ${this.pos - 8}`);
    return high * 2 ** 32 + view.getUint32(0, true);
  }

  private bytes(n: number): Uint8Array {
    this.need(n);
    const slice = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return slice;
  }

  private utf8(n: number): string {
    const at = this.pos;
    const raw = this.bytes(n);
    try {
      return utf8.decode(raw);
    } catch {
      return this.fail(`a string at byte ${at} is not valid UTF-8`);
    }
  }

  /** Up to the next newline (protocol 0 arguments), the newline consumed. */
  private line(): Uint8Array {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) {
      this.need(this.data.length - this.pos + 1);
      return this.fail('unreachable');
    }
    const slice = this.data.subarray(this.pos, end);
    this.pos = end + 1;
    return slice;
  }

  private utf8Line(): string {
    const at = this.pos;
    try {
      return utf8.decode(this.line());
    } catch {
      return this.fail(`a name at byte ${at} is not valid UTF-8`);
    }
  }

  private asciiLine(): string {
    return latin1(this.line()).replace(/\r$/, '');
  }

  private long(n: number): number | bigint | PyOpaque {
    const raw = this.bytes(n);
    if (n > MAX_LONG_BYTES) return { kind: 'opaque', what: 'a very long int' };
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i]!);
    if (n > 0 && raw[n - 1]! >= 0x80) value -= 1n << BigInt(8 * n);
    return smallest(value);
  }

  private parseInt(text: string): number | bigint {
    if (!/^[+-]?\d+$/.test(text) || text.length > MAX_INT_DIGITS) this.fail(`not an integer: ${quote(text)}`);
    return smallest(BigInt(text));
  }

  private parseFloat(text: string): number {
    const special: Record<string, number> = { inf: Infinity, '-inf': -Infinity, nan: Number.NaN, '-nan': Number.NaN };
    const value = special[text] ?? (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : undefined);
    if (value === undefined) this.fail(`not a float: ${quote(text)}`);
    return value;
  }

  private index(text: string): number {
    const value = this.parseInt(text);
    if (typeof value !== 'number' || value < 0) this.fail(`memo index ${quote(text)} is out of range`);
    return value;
  }
}

export function call(callee: Value, args: Value): PyCall {
  return { kind: 'call', callee, args };
}

function smallest(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** Python's raw-unicode-escape: Latin-1, except `\uXXXX` and `\UXXXXXXXX`. */
function rawUnicodeEscape(text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (whole, short: string | undefined, long: string | undefined) => {
    const code = Number.parseInt(short ?? long ?? '', 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

export function isKind<K extends Exclude<Value, null | boolean | number | bigint | string>['kind']>(
  value: Value,
  kind: K,
): value is Extract<Value, { kind: K }> {
  return typeof value === 'object' && value !== null && value.kind === kind;
}

/** A name from the file, safe for a one-line message: control characters replaced, length capped. */
export function quote(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return JSON.stringify(clean.length > 120 ? `${clean.slice(0, 120)}…` : clean);
}

export function symbolName(symbol: PySymbol): string {
  const name = `${symbol.module}.${symbol.name}`.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return name.length > 120 ? `${name.slice(0, 120)}…` : name;
}

/** What a value is, in a few words, without descending into it. */
export function describe(value: Value): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return 'a bool';
  if (typeof value === 'number' || typeof value === 'bigint') return 'an int';
  if (typeof value === 'string') return 'a string';
  switch (value.kind) {
    case 'float':
      return 'a float';
    case 'opaque':
      return value.what;
    case 'list':
      return 'a list';
    case 'tuple':
      return 'a tuple';
    case 'dict':
      return 'a dict';
    case 'set':
      return 'a set';
    case 'symbol':
      return `the symbol ${symbolName(value)}`;
    case 'persistent':
      return 'a storage reference';
    case 'call':
      return isKind(value.callee, 'symbol') ? `a call to ${symbolName(value.callee)}` : 'a call to a computed callee';
  }
}

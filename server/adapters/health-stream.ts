/**
 * Walks one safetensors file as its bytes arrive, in any chunking, and reports its weight health. Memory
 * stays bounded whatever the file's size: a LoRA tensor (≤ r·max(in, out) elements) is decoded into a
 * Float32Array of its own, turned into its r×r Gram matrix and dropped; any other float tensor (a saved
 * lm_head can be gigabytes) is only scanned for NaN/Inf as it passes; nothing else is kept but the Grams
 * of modules whose other half has not arrived yet. Runs on a worker (health.worker.ts).
 */
import { InspectionError, MAX_HEADER_BYTES, parseSafetensorsHeader } from '../ingest/inspect/safetensors.ts';
import {
  type CompiledPatterns,
  compilePatterns,
  countNonFinite,
  countNonFiniteBytes,
  type DecodedDtype,
  decodeInto,
  floatElementBytes,
  gramOfColumns,
  gramOfRows,
  isAllZero,
  isDecoded,
  loraTensor,
  moduleLayer,
  moduleName,
  scaleFor,
  updateNorm,
  type WeightConfig,
  type WeightFindings,
  weightWarnings,
} from './health.ts';
import type { WeightHealth } from './types.ts';

/**
 * Largest LoRA tensor decoded for the norm: 16 Mi elements, 64 MiB as float32. A real one is far smaller
 * (lora_embedding_A of a 152k vocabulary at r = 64 is 9.7 Mi); a bigger one is only scanned, its norm null.
 */
const MAX_GATHER_ELEMENTS = 1 << 24;
/** Largest rank whose Gram is computed (8 MiB of doubles); above it the norm is null. */
const MAX_GRAM_RANK = 1024;
/**
 * Grams kept while a module waits for its other half. PEFT writes lora_A and lora_B of a module next to
 * each other, so one waits at a time; a file ordered otherwise gets null norms past this, not more memory.
 */
const MAX_PENDING_GRAM_BYTES = 32 * 1024 * 1024;

type Span = { name: string; dtype: string; shape: number[]; begin: number; end: number };

/** One side of a module: its Gram once read, or why there is none ('zero': a lora_B of zeros, no Gram needed). */
type Side = { state: 'missing' } | { state: 'gram'; gram: Float64Array; rank: number } | { state: 'zero'; rank: number } | { state: 'unusable' };

type ModuleState = {
  modulePath: string;
  name: string;
  layer: number | null;
  a: Side;
  b: Side;
  /** Set once both halves have been seen. */
  norm: number | null;
  /** lora_B all zero; null until a decodable lora_B is read. */
  zeroB: boolean | null;
};

/** What a tensor's bytes go to while they arrive. */
interface TensorSink {
  push(bytes: Uint8Array): void;
  close(): void;
}

/** Cuts a byte stream into whole elements of `size` bytes, carrying a split element to the next push. */
class Elements {
  private readonly carry = new Uint8Array(8);
  private carried = 0;
  constructor(
    private readonly size: number,
    private readonly take: (whole: Uint8Array) => void,
  ) {}

  push(piece: Uint8Array): void {
    let at = 0;
    if (this.carried > 0) {
      at = Math.min(this.size - this.carried, piece.length);
      this.carry.set(piece.subarray(0, at), this.carried);
      this.carried += at;
      if (this.carried < this.size) return;
      this.take(this.carry.slice(0, this.size));
      this.carried = 0;
    }
    const whole = Math.floor((piece.length - at) / this.size) * this.size;
    if (whole > 0) this.take(piece.subarray(at, at + whole));
    const rest = piece.length - at - whole;
    if (rest > 0) {
      this.carry.set(piece.subarray(at + whole), 0);
      this.carried = rest;
    }
  }
}

/** Analyses one safetensors file fed in order by `push`; `finish` once the last byte is in. */
export class WeightStream {
  private received = 0;
  private readonly prefix = new Uint8Array(8);
  private header: Uint8Array | null = null;
  private headerFilled = 0;
  private spans: Span[] | null = null;
  /** Data-area offset of the next byte. */
  private position = 0;
  private next = 0;
  private sink: TensorSink | null = null;
  private readonly modules = new Map<string, ModuleState>();
  private readonly nonFinite: WeightFindings['nonFinite'] = [];
  private pendingGramBytes = 0;
  /** One tensor is decoded at a time, always into this buffer: fresh pages for every tensor cost more than decoding them. */
  private decoded = new Float32Array(0);
  private readonly patterns: CompiledPatterns | null;

  constructor(
    private readonly fileName: string,
    private readonly fileSize: number,
    private readonly config: WeightConfig | null,
  ) {
    if (!Number.isSafeInteger(fileSize) || fileSize < 8) this.fail(`file is ${fileSize} bytes, too short for the 8-byte header length`);
    this.patterns = config ? compilePatterns(config) : null;
  }

  push(chunk: Uint8Array): void {
    if (this.received + chunk.length > this.fileSize) this.fail(`file is longer than its recorded ${this.fileSize} bytes`);
    let at = 0;
    while (at < chunk.length) {
      if (this.received < 8) {
        const n = Math.min(8 - this.received, chunk.length - at);
        this.prefix.set(chunk.subarray(at, at + n), this.received);
        at += n;
        this.received += n;
        if (this.received === 8) this.startHeader();
      } else if (this.spans === null) {
        const header = this.header!;
        const n = Math.min(header.length - this.headerFilled, chunk.length - at);
        header.set(chunk.subarray(at, at + n), this.headerFilled);
        at += n;
        this.received += n;
        this.headerFilled += n;
        if (this.headerFilled === header.length) this.readHeader();
      } else {
        const n = chunk.length - at;
        this.walk(chunk.subarray(at));
        at += n;
        this.received += n;
      }
    }
  }

  /** The file's health. Throws InspectionError when fewer bytes arrived than the file's size. */
  finish(): WeightHealth {
    if (this.received < this.fileSize) this.fail(`file is truncated: read ${this.received} of ${this.fileSize} bytes`);
    this.walk(new Uint8Array(0)); // tensors of no bytes at the very end
    const modules = [...this.modules.values()].map((m) => ({
      name: m.name,
      layer: m.layer,
      updateNorm: m.norm,
      zeroB: m.zeroB,
    }));
    const { warnings, untrained } = weightWarnings({ modules, nonFinite: this.nonFinite });
    return {
      file: this.fileName,
      modules: modules.map(({ name, layer, updateNorm }) => ({ name, layer, updateNorm })),
      warnings,
      untrained,
    };
  }

  private fail(problem: string): never {
    throw new InspectionError(this.fileName, problem);
  }

  private startHeader(): void {
    const length = new DataView(this.prefix.buffer).getBigUint64(0, true);
    if (length > BigInt(this.fileSize - 8)) this.fail(`header length ${length} exceeds file size ${this.fileSize}`);
    if (length > BigInt(MAX_HEADER_BYTES)) this.fail(`header length ${length} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    this.header = new Uint8Array(Number(length));
    if (length === 0n) this.readHeader();
  }

  private readHeader(): void {
    const header = this.header!;
    // Validation (shapes against byte spans, spans inside the data area, no overlaps) is the ingest's own.
    const info = parseSafetensorsHeader(header, this.fileSize - 8 - header.length, this.fileName);
    const spans: Span[] = info.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, begin: t.begin, end: t.end }));
    spans.sort((x, y) => x.begin - y.begin || x.end - y.end);
    this.spans = spans;
    this.header = null;
  }

  /** Hands the data-area bytes starting at `position` to the tensors they belong to (gaps are skipped). */
  private walk(bytes: Uint8Array): void {
    const spans = this.spans!;
    let at = 0;
    for (;;) {
      const span = spans[this.next];
      if (span === undefined) break; // bytes after the last tensor belong to none
      if (this.sink === null) {
        if (this.position < span.begin) {
          const skip = Math.min(span.begin - this.position, bytes.length - at);
          at += skip;
          this.position += skip;
          if (this.position < span.begin) break;
        }
        this.sink = this.open(span);
      }
      // Never negative: an empty tensor may sit inside another one's span (it occupies no bytes).
      const n = Math.max(0, Math.min(span.end - this.position, bytes.length - at));
      if (n > 0) this.sink.push(bytes.subarray(at, at + n));
      at += n;
      this.position += n;
      if (this.position < span.end) break;
      this.sink.close();
      this.sink = null;
      this.next++;
    }
    this.position += bytes.length - at;
  }

  private open(span: Span): TensorSink {
    const lora = loraTensor(span.name);
    const size = floatElementBytes(span.dtype);
    if (lora === null) return size === null ? { push() {}, close() {} } : this.scanner(span, size);

    const key = lora.adapterName === null ? lora.modulePath : `${lora.modulePath}\u0000${lora.adapterName}`;
    let module = this.modules.get(key);
    if (module === undefined) {
      const name = moduleName(lora.modulePath);
      module = {
        modulePath: lora.modulePath,
        name,
        layer: moduleLayer(name),
        a: { state: 'missing' },
        b: { state: 'missing' },
        norm: null,
        zeroB: null,
      };
      this.modules.set(key, module);
    }
    const target = module;
    const side = lora.side;
    // PEFT: A is r × (in…), B is out × (r…); mlx: A is in × r, B is r × out (its 3-D MoE expert stacks are not
    // read). The rank is the rows of PEFT's A and of mlx's B: their Gram is of rows, the other side's of columns.
    const mlx = lora.layout === 'mlx';
    const rows = span.shape[0] ?? 0;
    const cols = span.shape.slice(1).reduce((p, d) => p * d, 1);
    const rankInRows = (side === 'A') !== mlx;
    const rank = rankInRows ? rows : cols;
    const elements = rows * cols;
    const usable =
      isDecoded(span.dtype) &&
      (mlx ? span.shape.length === 2 : span.shape.length >= 2) &&
      rank >= 1 &&
      rank <= MAX_GRAM_RANK &&
      elements <= MAX_GATHER_ELEMENTS;
    if (!usable) {
      const scan = size === null ? { push() {}, close() {} } : this.scanner(span, size);
      return {
        push: (bytes) => scan.push(bytes),
        close: () => {
          scan.close();
          this.settle(target, side, { state: 'unusable' });
        },
      };
    }

    const dtype = span.dtype as DecodedDtype;
    const values = this.scratch(elements);
    let filled = 0;
    const elementsIn = new Elements(size!, (whole) => {
      decodeInto(values, filled, whole, dtype);
      filled += whole.length / size!;
    });
    return {
      push: (bytes) => elementsIn.push(bytes),
      close: () => {
        const bad = countNonFinite(values);
        if (bad > 0) {
          this.nonFinite.push({ tensor: span.name, count: bad });
          this.settle(target, side, { state: 'unusable' });
        } else if (side === 'B' && isAllZero(values)) {
          this.settle(target, side, { state: 'zero', rank });
        } else {
          const gram = rankInRows ? gramOfRows(values, rows, cols) : gramOfColumns(values, rows, cols);
          this.settle(target, side, { state: 'gram', gram, rank });
        }
      },
    };
  }

  /** `elements` floats of the reused decode buffer, grown (at most to MAX_GATHER_ELEMENTS) as needed. */
  private scratch(elements: number): Float32Array {
    if (this.decoded.length < elements) this.decoded = new Float32Array(Math.min(MAX_GATHER_ELEMENTS, Math.max(elements, this.decoded.length * 2)));
    return this.decoded.subarray(0, elements);
  }

  /** A sink that counts NaN/Inf among a float tensor's elements as they pass. */
  private scanner(span: Span, size: number): TensorSink {
    let count = 0;
    const elements = new Elements(size, (whole) => {
      count += countNonFiniteBytes(whole, span.dtype);
    });
    return {
      push: (bytes) => elements.push(bytes),
      close: () => {
        if (count > 0) this.nonFinite.push({ tensor: span.name, count });
      },
    };
  }

  /** Records one side of a module; with both in, computes the norm and lets the Grams go. */
  private settle(module: ModuleState, side: 'A' | 'B', value: Side): void {
    if (side === 'B' && value.state !== 'unusable') module.zeroB = value.state === 'zero';
    const other = side === 'A' ? module.b : module.a;
    if (other.state === 'missing') {
      // The first half waits for the second; only a Gram is worth keeping, and only within the budget.
      if (value.state === 'gram') {
        if (this.pendingGramBytes + value.gram.byteLength > MAX_PENDING_GRAM_BYTES) value = { state: 'unusable' };
        else this.pendingGramBytes += value.gram.byteLength;
      }
      if (side === 'A') module.a = value;
      else module.b = value;
      return;
    }
    if (other.state === 'gram') this.pendingGramBytes -= other.gram.byteLength;
    const a = side === 'A' ? value : other;
    const b = side === 'A' ? other : value;
    module.a = { state: 'unusable' };
    module.b = { state: 'unusable' };
    if (a.state !== 'gram' || (b.state !== 'gram' && b.state !== 'zero') || a.rank !== b.rank) return;
    // A zero B makes the update zero whatever (finite) A holds.
    module.norm = b.state === 'zero' ? 0 : updateNorm(a.gram, b.gram, a.rank, scaleFor(this.config, this.patterns, module.modulePath, a.rank));
  }
}

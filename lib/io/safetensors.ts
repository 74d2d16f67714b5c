/**
 * A small reader and writer for the safetensors format (8-byte little-endian header length, a JSON header mapping
 * tensor names to {dtype, shape, data_offsets} plus an optional "__metadata__" string map, then the raw little-endian
 * bytes). Written here because npm has no maintained reader made for this job: the `safetensors` package is a
 * single 0.0.1 placeholder, and @huggingface/hub only parses remote headers for the Hub. Tensors are read one at a
 * time with positioned reads, so a sample file far larger than memory (every layer's Q and K) costs one tensor at a
 * time, and every returned array is freshly allocated and aligned.
 */
import { open, writeFile, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { BlindsightError, typeError, show } from '../core/errors.js';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

const BYTES: Record<SafetensorsDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

/** The typed array each dtype is read into. F16 and BF16 come back as their raw bits (Uint16Array). */
export type TensorArray =
  | Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | BigUint64Array | Uint32Array | Uint8Array;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range inside the data section (after the header). */
  dataOffsets: [number, number];
}

/** Headers larger than this are refused (the reference implementation's limit is 100 MB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function bad(path: string, message: string): BlindsightError {
  return new BlindsightError('BAD_SAFETENSORS', `${path}: ${message}`);
}

/** Parses and validates a header; `dataBytes` is the size of the data section. */
export function parseSafetensorsHeader(
  headerText: string,
  dataBytes: number,
  path = 'safetensors',
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let json: unknown;
  try {
    json = JSON.parse(headerText);
  } catch (e) {
    throw bad(path, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad(path, 'header must be a JSON object');
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw bad(path, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(entry)) if (typeof v !== 'string') throw bad(path, `__metadata__.${k} must be a string`);
      metadata = { ...(entry as Record<string, string>) };
      continue;
    }
    if (typeof entry !== 'object' || entry === null) throw bad(path, `tensor ${show(name)} must be an object`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) throw bad(path, `tensor ${show(name)} has unsupported dtype ${show(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw bad(path, `tensor ${show(name)} has a malformed shape ${show(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[1] < offsets[0])
      throw bad(path, `tensor ${show(name)} has malformed data_offsets ${show(offsets)}`);
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    const bytes = elements * BYTES[dtype as SafetensorsDType];
    if (offsets[1] - offsets[0] !== bytes)
      throw bad(path, `tensor ${show(name)}: shape ${show(shape)} of ${dtype} needs ${bytes} bytes, data_offsets span ${offsets[1] - offsets[0]}`);
    tensors.set(name, { name, dtype: dtype as SafetensorsDType, shape: [...(shape as number[])], dataOffsets: [offsets[0], offsets[1]] });
  }
  // As the reference implementation demands: the tensors tile the data section exactly, without holes or overlaps.
  const sorted = [...tensors.values()].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let end = 0;
  for (const t of sorted) {
    if (t.dataOffsets[0] !== end)
      throw bad(path, `tensor ${show(t.name)} starts at byte ${t.dataOffsets[0]} of the data section, expected ${end} (overlap or hole)`);
    end = t.dataOffsets[1];
  }
  if (end !== dataBytes) throw bad(path, `tensors cover ${end} bytes but the data section holds ${dataBytes} (truncated or padded file)`);
  return { tensors, metadata };
}

/** An open safetensors file: the parsed header, and tensors read on demand. Close it when done. */
export class SafetensorsFile {
  readonly path: string;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly #fh: FileHandle;
  readonly #dataStart: number;

  private constructor(path: string, fh: FileHandle, dataStart: number, parsed: ReturnType<typeof parseSafetensorsHeader>) {
    this.path = path;
    this.#fh = fh;
    this.#dataStart = dataStart;
    this.tensors = parsed.tensors;
    this.metadata = Object.freeze(parsed.metadata);
  }

  static async open(path: string): Promise<SafetensorsFile> {
    if (endianness() !== 'LE') throw new BlindsightError('UNSUPPORTED_PLATFORM', 'safetensors data is little-endian; this host is big-endian');
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      if (size < 8) throw bad(path, `file is ${size} bytes, shorter than the 8-byte header length`);
      const lenBuf = new Uint8Array(8);
      await readFully(fh, lenBuf, 0);
      const headerLen = new DataView(lenBuf.buffer).getBigUint64(0, true);
      if (headerLen > BigInt(Math.min(MAX_HEADER_BYTES, size - 8)))
        throw bad(path, `header length ${headerLen} exceeds the file (${size} bytes) or the ${MAX_HEADER_BYTES}-byte limit`);
      const header = new Uint8Array(Number(headerLen));
      await readFully(fh, header, 8);
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(header);
      } catch {
        throw bad(path, 'header is not valid UTF-8');
      }
      const dataStart = 8 + header.length;
      return new SafetensorsFile(path, fh, dataStart, parseSafetensorsHeader(text, size - dataStart, path));
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new BlindsightError('MISSING_TENSOR', `${this.path}: no tensor named ${show(name)}`);
    return t;
  }

  /** Reads one tensor into a freshly allocated typed array of its dtype (F16/BF16 as raw Uint16Array bits). */
  async read(name: string): Promise<TensorArray> {
    const t = this.info(name);
    const bytes = t.dataOffsets[1] - t.dataOffsets[0];
    const buf = new ArrayBuffer(bytes);
    await readFully(this.#fh, new Uint8Array(buf), this.#dataStart + t.dataOffsets[0]);
    return view(t.dtype, buf);
  }

  async close(): Promise<void> {
    await this.#fh.close();
  }
}

function view(dtype: SafetensorsDType, buf: ArrayBuffer): TensorArray {
  switch (dtype) {
    case 'F64': return new Float64Array(buf);
    case 'F32': return new Float32Array(buf);
    case 'F16':
    case 'BF16':
    case 'U16': return new Uint16Array(buf);
    case 'I64': return new BigInt64Array(buf);
    case 'U64': return new BigUint64Array(buf);
    case 'I32': return new Int32Array(buf);
    case 'U32': return new Uint32Array(buf);
    case 'I16': return new Int16Array(buf);
    case 'I8': return new Int8Array(buf);
    default: return new Uint8Array(buf);
  }
}

async function readFully(fh: FileHandle, dst: Uint8Array, position: number): Promise<void> {
  const chunk = 1 << 30; // one read() moves at most 2 GiB; stay well below
  for (let done = 0; done < dst.length; ) {
    const want = Math.min(chunk, dst.length - done);
    const { bytesRead } = await fh.read(dst, done, want, position + done);
    if (bytesRead === 0) throw new BlindsightError('BAD_SAFETENSORS', 'unexpected end of file');
    done += bytesRead;
  }
}

export interface TensorToWrite {
  dtype: SafetensorsDType;
  shape: readonly number[];
  /** The raw elements (F16/BF16 as Uint16Array bits), little-endian host order. */
  data: ArrayBufferView;
}

/** Serialises tensors (in the given order) and string metadata to safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (!(t.dtype in BYTES)) throw typeError(`${name}: unsupported dtype ${String(t.dtype)}`);
    const bytes = t.shape.reduce((a, b) => a * b, 1) * BYTES[t.dtype];
    if (t.data.byteLength !== bytes) throw new BlindsightError('SHAPE_MISMATCH', `${name}: shape ${show(t.shape)} of ${t.dtype} needs ${bytes} bytes, data has ${t.data.byteLength}`);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8); // align the data section to 8 bytes
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Writes a safetensors file (small files: the whole file is built in memory). */
export async function writeSafetensors(path: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Promise<void> {
  await writeFile(path, encodeSafetensors(tensors, metadata));
}

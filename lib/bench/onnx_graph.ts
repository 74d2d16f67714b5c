/**
 * A minimal ONNX model writer for the benchmark's ONNX Runtime peer: just enough of the protobuf wire format
 * (varints, length-delimited fields) to describe a one-node graph with typed inputs and outputs. The models are built
 * in memory and handed to InferenceSession.create as bytes, so the harness needs no Python and no graph library.
 * Field numbers are from onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, ValueInfoProto, TypeProto,
 * TensorShapeProto, OperatorSetIdProto).
 */

class Writer {
  private chunks: number[] = [];

  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      let byte = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) byte |= 0x80;
      this.chunks.push(byte);
    } while (x !== 0n);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }
  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.chunks.push(...b);
    return this;
  }
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    for (const x of b) this.chunks.push(x);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  message(field: number, m: Writer): this {
    return this.bytes(field, m.finish());
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

/** TensorProto.DataType codes. */
export const ONNX_TYPES = { float: 1, int32: 6, int64: 7, float16: 10, bfloat16: 16 } as const;
export type OnnxType = keyof typeof ONNX_TYPES;

export interface ValueInfo {
  name: string;
  type: OnnxType;
  /** Concrete sizes, or names for symbolic dimensions. */
  shape: (number | string)[];
}

export type Attribute = { name: string } & ({ int: number } | { float: number } | { string: string });

export interface NodeSpec {
  opType: string;
  domain?: string;
  /** '' for an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes?: Attribute[];
}

function valueInfo(v: ValueInfo): Writer {
  const shape = new Writer();
  for (const d of v.shape) shape.message(1, typeof d === 'number' ? new Writer().int(1, d) : new Writer().string(2, d));
  const tensorType = new Writer().int(1, ONNX_TYPES[v.type]).message(2, shape);
  return new Writer().string(1, v.name).message(2, new Writer().message(1, tensorType));
}

function attribute(a: Attribute): Writer {
  const w = new Writer().string(1, a.name);
  if ('int' in a) return w.int(3, a.int).int(20, 2);
  if ('float' in a) return w.float(2, a.float).int(20, 1);
  return w.bytes(4, new TextEncoder().encode(a.string)).int(20, 3);
}

/** Serialises a one-node model. `opsets` maps domain ('' = ai.onnx) to opset version. */
export function oneNodeModel(o: { node: NodeSpec; inputs: ValueInfo[]; outputs: ValueInfo[]; opsets: Record<string, number> }): Uint8Array {
  const node = new Writer();
  for (const i of o.node.inputs) node.string(1, i);
  for (const out of o.node.outputs) node.string(2, out);
  node.string(3, `${o.node.opType}_0`).string(4, o.node.opType);
  for (const a of o.node.attributes ?? []) node.message(5, attribute(a));
  if (o.node.domain) node.string(7, o.node.domain);
  const graph = new Writer().message(1, node).string(2, 'blindsight_peer');
  for (const i of o.inputs) graph.message(11, valueInfo(i));
  for (const out of o.outputs) graph.message(12, valueInfo(out));
  const model = new Writer().int(1, 11).string(2, 'blindsight-bench');
  for (const [domain, version] of Object.entries(o.opsets)) {
    const opset = new Writer();
    if (domain) opset.string(1, domain);
    model.message(8, opset.int(2, version));
  }
  return model.message(7, graph).finish();
}

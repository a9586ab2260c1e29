/**
 * A minimal DER reader: enough to walk a PKCS#7 SignedData (Authenticode). Definite lengths only, as
 * DER requires. Pure.
 */

export interface DerNode {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the value (after tag and length). */
  valueStart: number;
  /** Offset just past the value. */
  end: number;
}

export function readDer(buf: Uint8Array, at: number): DerNode {
  if (at + 2 > buf.length) throw new Error(`DER: truncated at ${at}`);
  const tag = buf[at];
  if ((tag & 0x1f) === 0x1f) throw new Error(`DER: multi-byte tags are not supported (at ${at})`);
  let len = buf[at + 1];
  let o = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error(`DER: bad length form at ${at}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[o + i];
    o += n;
  }
  if (o + len > buf.length) throw new Error(`DER: value at ${at} runs past the end`);
  return { tag, start: at, valueStart: o, end: o + len };
}

/** The children of a constructed node, in order. */
export function derChildren(buf: Uint8Array, n: DerNode): DerNode[] {
  const out: DerNode[] = [];
  for (let o = n.valueStart; o < n.end; ) {
    const c = readDer(buf, o);
    out.push(c);
    o = c.end;
  }
  return out;
}

/** Dotted text of an OBJECT IDENTIFIER node. */
export function derOid(buf: Uint8Array, n: DerNode): string {
  if (n.tag !== 0x06) throw new Error(`DER: expected an OID at ${n.start}, found tag 0x${n.tag.toString(16)}`);
  const parts: number[] = [];
  let v = 0;
  for (let i = n.valueStart; i < n.end; i++) {
    v = v * 128 + (buf[i] & 0x7f);
    if (!(buf[i] & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

export const derValue = (buf: Uint8Array, n: DerNode): Buffer => Buffer.from(buf.subarray(n.valueStart, n.end));
export const derBytes = (buf: Uint8Array, n: DerNode): Buffer => Buffer.from(buf.subarray(n.start, n.end));

import { describe, expect, it } from 'vitest';
import { boundaryOf, firstPart } from './multipart';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('firstPart', () => {
  it('extracts the first part, binary-safe, with quoted or bare boundaries', () => {
    const body = enc('--b1\r\nContent-Type: application/octet-stream\r\n\r\n%PDF-1.4\r\n--x\r\n--b1\r\n\r\nsecond\r\n--b1--\r\n');
    expect(dec(firstPart(body, 'multipart/related; type="application/octet-stream"; boundary=b1'))).toBe('%PDF-1.4\r\n--x');
    expect(boundaryOf('multipart/related; boundary="q q"; type=x')).toBe('q q');
  });
  it('returns a single-part body as is and reports a broken multipart', () => {
    expect(dec(firstPart(enc('%PDF'), 'application/octet-stream'))).toBe('%PDF');
    expect(() => firstPart(enc('--b\r\n\r\nunterminated'), 'multipart/related; boundary=b')).toThrow(/not terminated/);
  });
});

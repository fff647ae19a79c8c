// The first body part of a multipart/related response (PS3.18 8.7.1), as WADO-RS bulk data arrives.

export function boundaryOf(contentType: string): string | undefined {
  const m = /boundary="?([^";]+)"?/i.exec(contentType);
  return m?.[1];
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i += 1) {
    for (let j = 0; j < needle.length; j += 1) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Bytes of the first part; a body that is not multipart is returned whole. */
export function firstPart(body: Uint8Array, contentType: string): Uint8Array {
  const boundary = boundaryOf(contentType);
  if (!boundary || !/^multipart\//i.test(contentType.trim())) return body;
  const enc = new TextEncoder();
  const delimiter = enc.encode(`--${boundary}`);
  const start = indexOf(body, delimiter);
  if (start < 0) throw new Error('multipart body without its boundary');
  const headersEnd = indexOf(body, enc.encode('\r\n\r\n'), start);
  if (headersEnd < 0) throw new Error('multipart part without headers');
  const contentStart = headersEnd + 4;
  const next = indexOf(body, enc.encode(`\r\n--${boundary}`), contentStart);
  if (next < 0) throw new Error('multipart part not terminated');
  return body.subarray(contentStart, next);
}

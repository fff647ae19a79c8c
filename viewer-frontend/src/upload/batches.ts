// Splitting an upload into STOW requests: few enough bytes that progress moves and a failure costs
// little, many enough files that per-request overhead stays small.
export interface Sized {
  size: number;
}

export function makeBatches<T extends Sized>(items: T[], maxFiles = 50, maxBytes = 32 * 1024 * 1024): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (current.length > 0 && (current.length >= maxFiles || bytes + item.size > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.size;
  }
  if (current.length) batches.push(current);
  return batches;
}

/**
 * Spread a batch's sent-byte count over its files in body order: each file is complete once the bytes
 * before it and its own have gone.
 */
export function perFileProgress(sizes: number[], sent: number): number[] {
  let offset = 0;
  return sizes.map((size) => {
    const done = size === 0 ? (sent >= offset ? 1 : 0) : Math.min(1, Math.max(0, (sent - offset) / size));
    offset += size;
    return done;
  });
}

/** Where a DICOM Part 10 file's magic sits: a 128-byte preamble, then "DICM" (PS3.10 7.1). */
export function hasPart10Magic(head: Uint8Array): boolean {
  return head.length >= 132 && head[128] === 0x44 && head[129] === 0x49 && head[130] === 0x43 && head[131] === 0x4d;
}

export function isZipMagic(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/**
 * A data set written without the Part 10 preamble (older archives do this): it starts with an
 * explicit- or implicit-VR little-endian element of group 0002 or 0008. The server decides the rest.
 */
export function looksLikeRawDataset(head: Uint8Array): boolean {
  if (head.length < 8) return false;
  const group = head[0] | (head[1] << 8);
  return (group === 0x0002 || group === 0x0008) && head[3] === 0x00;
}

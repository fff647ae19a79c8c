import { describe, expect, it } from 'vitest';
import { zipSync, strToU8 } from 'fflate';
import { collectCandidates } from './collect';

/** One explicit-VR little-endian element with a short (2-byte) length. */
function element(group: number, elem: number, vr: string, value: string): Uint8Array {
  const padded = value.length % 2 ? `${value}\0` : value;
  const out = new Uint8Array(8 + padded.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, group, true);
  view.setUint16(2, elem, true);
  out.set(strToU8(vr), 4);
  view.setUint16(6, padded.length, true);
  out.set(strToU8(padded), 8);
  return out;
}

/** A minimal Part 10 file: preamble, DICM, the transfer syntax, then SOPInstanceUID. */
function part10(sopUid: string): Uint8Array {
  const parts = [
    new Uint8Array(128),
    strToU8('DICM'),
    element(0x0002, 0x0010, 'UI', '1.2.840.10008.1.2.1'),
    element(0x0008, 0x0016, 'UI', '1.2.840.10008.5.1.4.1.1.4'),
    element(0x0008, 0x0018, 'UI', sopUid),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('collectCandidates', () => {
  it('reads SOP Instance UIDs, unpacks ZIPs and skips what is not an image file', async () => {
    const zip = zipSync({
      'study/a.dcm': part10('1.2.3.4'),
      'study/DICOMDIR': part10('1.2.3.99'),
      'study/readme.txt': strToU8('hello'),
    });
    const found = await collectCandidates([
      { name: 'b.dcm', blob: new Blob([part10('1.2.3.5') as BlobPart]) },
      { name: 'upload.zip', blob: new Blob([zip as BlobPart]) },
      { name: 'photo.jpg', blob: new Blob([new Uint8Array([0xff, 0xd8, 0xff, 0xe0])]) },
    ]);
    const byName = Object.fromEntries(found.map((c) => [c.name, c]));
    expect(Object.keys(byName).sort()).toEqual(
      ['b.dcm', 'photo.jpg', 'upload.zip/study/DICOMDIR', 'upload.zip/study/a.dcm', 'upload.zip/study/readme.txt'].sort(),
    );
    expect(byName['b.dcm'].sopUid).toBe('1.2.3.5');
    expect(byName['b.dcm'].skipReason).toBeUndefined();
    expect(byName['upload.zip/study/a.dcm'].sopUid).toBe('1.2.3.4');
    expect(byName['upload.zip/study/DICOMDIR'].skipReason).toBe('DICOMDIR index');
    expect(byName['upload.zip/study/readme.txt'].skipReason).toBe('not a DICOM file');
    expect(byName['photo.jpg'].skipReason).toBe('not a DICOM file');
  });

  it('reports a damaged ZIP instead of failing the whole upload', async () => {
    const broken = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 1, 2, 3]);
    const [c] = await collectCandidates([{ name: 'bad.zip', blob: new Blob([broken]) }]);
    expect(c.skipReason).toMatch(/^unreadable: /);
  });
});

import { describe, expect, it } from 'vitest';
import { hasPart10Magic, isZipMagic, looksLikeRawDataset, makeBatches, perFileProgress } from './batches';

describe('makeBatches', () => {
  it('caps files per batch', () => {
    const items = Array.from({ length: 7 }, () => ({ size: 10 }));
    expect(makeBatches(items, 3, 1e9).map((b) => b.length)).toEqual([3, 3, 1]);
  });
  it('caps bytes per batch but always takes at least one file', () => {
    const items = [{ size: 60 }, { size: 60 }, { size: 500 }, { size: 10 }];
    expect(makeBatches(items, 100, 100).map((b) => b.map((i) => i.size))).toEqual([[60], [60], [500], [10]]);
  });
  it('returns nothing for nothing', () => {
    expect(makeBatches([])).toEqual([]);
  });
});

describe('perFileProgress', () => {
  it('fills files in order', () => {
    expect(perFileProgress([100, 100, 200], 150)).toEqual([1, 0.5, 0]);
    expect(perFileProgress([100, 100, 200], 400)).toEqual([1, 1, 1]);
    expect(perFileProgress([100, 100], 0)).toEqual([0, 0]);
  });
});

describe('magic numbers', () => {
  it('recognises DICM at offset 128 and ZIP local headers', () => {
    const dicom = new Uint8Array(132);
    dicom.set([0x44, 0x49, 0x43, 0x4d], 128);
    expect(hasPart10Magic(dicom)).toBe(true);
    expect(hasPart10Magic(new Uint8Array(132))).toBe(false);
    expect(hasPart10Magic(new Uint8Array(10))).toBe(false);
    expect(isZipMagic(new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0]))).toBe(true);
    expect(isZipMagic(dicom)).toBe(false);
  });
});

describe('looksLikeRawDataset', () => {
  it('accepts a preamble-less data set starting at group 0008 or 0002 and nothing else', () => {
    expect(looksLikeRawDataset(new Uint8Array([0x08, 0x00, 0x05, 0x00, 0x43, 0x53, 0x0a, 0x00]))).toBe(true);
    expect(looksLikeRawDataset(new Uint8Array([0x02, 0x00, 0x00, 0x00, 0x55, 0x4c, 0x04, 0x00]))).toBe(true);
    expect(looksLikeRawDataset(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0]))).toBe(false);
    expect(looksLikeRawDataset(new Uint8Array([0x08, 0x00]))).toBe(false);
  });
});

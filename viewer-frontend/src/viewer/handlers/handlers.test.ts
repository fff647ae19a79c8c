import { describe, expect, it } from 'vitest';
import type { FrameRef } from '../../api/client';
import type { DicomJson } from '../../api/dicomJson';
import { SOP_CLASS } from '../sopClasses';
import { defaultRegistry } from './index';
import { HandlerRegistry } from './registry';
import { imageStackHandler } from './imageStack';
import { unknownObjectHandler } from './structuredReport';

const ui = (v: string) => ({ vr: 'UI', Value: [v] });
const cs = (...v: string[]) => ({ vr: 'CS', Value: v });
function frames(meta: DicomJson, n = 1): FrameRef[] {
  return Array.from({ length: n }, (_, i) => ({ sopUid: `1.2.${i}`, frame: 1, meta }));
}
const image = (sopClass: string, extra: DicomJson = {}): DicomJson => ({
  '00080016': ui(sopClass),
  '00280010': { vr: 'US', Value: [64] },
  '00280004': cs('MONOCHROME2'),
  ...extra,
});

describe('the SOP-class handler registry', () => {
  const registry = defaultRegistry();

  it('shows images of any SOP class with pixel data as a greyscale stack', () => {
    for (const sopClass of [SOP_CLASS.CTImageStorage, '1.2.840.10008.5.1.4.1.1.6.1' /* US, not registered */]) {
      const set = registry.displaySet(frames(image(sopClass), 3));
      expect(set.kind).toBe('stack');
      expect(set.handler).toBe('image-stack');
      if (set.kind === 'stack') expect([set.frames.length, set.colormap]).toEqual([3, undefined]);
    }
  });

  it('colours derived CBF images and parametric maps, but not an RGB capture', () => {
    const cbf = registry.displaySet(frames(image(SOP_CLASS.MRImageStorage, { '00080008': cs('DERIVED', 'SECONDARY', 'CBF') })));
    expect(cbf).toMatchObject({ kind: 'stack', handler: 'image-stack', colormap: 'cirrus-perfusion' });
    const pm = registry.displaySet(frames(image(SOP_CLASS.ParametricMapStorage)));
    expect(pm).toMatchObject({ kind: 'stack', handler: 'parametric-map', colormap: 'cirrus-perfusion' });
    const rgb = image(SOP_CLASS.SecondaryCaptureImageStorage, { '00280004': cs('RGB'), '00080008': cs('DERIVED', 'SECONDARY', 'CBF') });
    expect(registry.displaySet(frames(rgb))).toMatchObject({ kind: 'stack', colormap: undefined });
  });

  it('offers an encapsulated PDF as a document with its bulk data URI', () => {
    const meta = { '00080016': ui(SOP_CLASS.EncapsulatedPDFStorage), '00420011': { vr: 'OB', BulkDataURI: 'http://x/bulk/1' }, '00420012': { vr: 'LO', Value: ['application/pdf'] } };
    expect(registry.displaySet(frames(meta))).toEqual({ kind: 'document', handler: 'encapsulated-pdf', uri: 'http://x/bulk/1', mediaType: 'application/pdf' });
    const empty = { '00080016': ui(SOP_CLASS.EncapsulatedPDFStorage) };
    expect(registry.displaySet(frames(empty))).toMatchObject({ kind: 'unsupported', message: 'viewer.noDocument' });
  });

  it('says plainly that structured reports and unknown objects are not supported', () => {
    const sr = registry.displaySet(frames({ '00080016': ui('1.2.840.10008.5.1.4.1.1.88.33') }));
    expect(sr).toEqual({ kind: 'unsupported', handler: 'structured-report', message: 'viewer.srNotSupported', sopClassUid: '1.2.840.10008.5.1.4.1.1.88.33' });
    const raw = registry.displaySet(frames({ '00080016': ui('1.2.840.10008.5.1.4.1.1.66') }));
    expect(raw).toMatchObject({ kind: 'unsupported', handler: 'unknown', message: 'viewer.notSupported' });
  });

  it('refuses two handlers for one SOP class', () => {
    const r = new HandlerRegistry(imageStackHandler, unknownObjectHandler).register(imageStackHandler);
    expect(() => r.register({ ...imageStackHandler, id: 'other' })).toThrow(/already has the handler image-stack/);
  });
});

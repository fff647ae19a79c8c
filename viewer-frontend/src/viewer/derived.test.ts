import { describe, expect, it } from 'vitest';
import type { DicomJson } from '../api/dicomJson';
import { isMosaic, isQuantitativeMap, mayBeMap, overlayChoices, overlayOrder, overlayQuantity, quantityFromImageType, quantityOf, type Quantity } from './derived';
import { SOP_CLASS } from './sopClasses';

const cs = (...v: string[]) => ({ vr: 'CS', Value: v });
const lo = (v: string) => ({ vr: 'LO', Value: [v] });
const seq = (...items: DicomJson[]) => ({ vr: 'SQ', Value: items });
const unit = (code: string) => ({ '00080100': { vr: 'SH', Value: [code] }, '00080102': { vr: 'SH', Value: ['UCUM'] } });
const mono = { '00280004': cs('MONOCHROME2') };

describe('derived objects are recognised by what they are', () => {
  it('reads the quantity from ImageType DERIVED', () => {
    expect(quantityFromImageType({ '00080008': cs('DERIVED', 'SECONDARY', 'CBF') })).toBe('CBF');
    expect(quantityFromImageType({ '00080008': cs('DERIVED', 'SECONDARY', 'ATT') })).toBe('ATT');
    expect(quantityFromImageType({ '00080008': cs('ORIGINAL', 'PRIMARY', 'CBF') })).toBeUndefined();
    expect(quantityFromImageType({ '00080008': cs('DERIVED', 'PRIMARY') })).toBeUndefined();
  });

  it('reads it from the real world value mapping: UCUM perfusion units or the LUT label', () => {
    const byUnits = { '00409096': seq({ '004008EA': seq(unit('ml/(100.g.min)')) }) };
    expect(quantityOf(byUnits)).toBe('CBF');
    const byLabel = { '00409096': seq({ '00283003': { vr: 'SH', Value: ['ATT'] }, '004008EA': seq(unit('s')) }) };
    expect(quantityOf(byLabel)).toBe('ATT');
    // A Parametric Map keeps its mapping in the shared functional groups.
    const pm = { '00080016': { vr: 'UI', Value: [SOP_CLASS.ParametricMapStorage] }, '52009229': seq({ '00409096': seq({ '004008EA': seq(unit('ml/(100.g.min)')) }) }) };
    expect(quantityOf(pm)).toBe('CBF');
    expect(quantityOf({ '00409096': seq({ '004008EA': seq(unit('s')) }) })).toBeUndefined();
  });

  it('never reads the series description', () => {
    const named = { '0008103E': lo('CBF (consensus) ml/100g/min'), ...mono };
    expect(quantityOf(named)).toBeUndefined();
    expect(isQuantitativeMap(named)).toBe(false);
    expect(overlayOrder([named, { '0020000E': { vr: 'UI', Value: ['2'] } }])[0]).toBe(named);
  });

  it('colours greyscale maps only', () => {
    expect(isQuantitativeMap({ '00080008': cs('DERIVED', 'SECONDARY', 'CBF'), ...mono })).toBe(true);
    expect(isQuantitativeMap({ '00080008': cs('DERIVED', 'SECONDARY', 'CBF'), '00280004': cs('RGB') })).toBe(false);
    expect(isQuantitativeMap({ '00080016': { vr: 'UI', Value: [SOP_CLASS.ParametricMapStorage] }, ...mono })).toBe(true);
  });

  it('puts CBF series first among the overlay choices, keeping the rest in order', () => {
    const a = { '0020000E': { vr: 'UI', Value: ['a'] } };
    const b = { '0020000E': { vr: 'UI', Value: ['b'] }, '00080008': cs('DERIVED', 'SECONDARY', 'ATT') };
    const c = { '0020000E': { vr: 'UI', Value: ['c'] }, '00080008': cs('DERIVED', 'SECONDARY', 'CBF') };
    expect(overlayOrder([a, b, c])).toEqual([c, a, b]);
  });
});

describe('the overlay menu offers only real maps', () => {
  const ui = (v: string) => ({ vr: 'UI', Value: [v] });
  const series = (uid: string, modality: string, type: string[] = []): DicomJson => ({ '0020000E': ui(uid), '00080060': cs(modality), '00080008': cs(...type) });
  const instance = (sopClass: string, type: string[] = []): DicomJson => ({ '00080016': ui(sopClass), '00080008': cs(...type) });

  it('by the SOP class and ImageType of an instance', () => {
    expect(overlayQuantity(instance(SOP_CLASS.MRImageStorage, ['DERIVED', 'SECONDARY', 'CBF']))).toBe('CBF');
    expect(overlayQuantity(instance(SOP_CLASS.MRImageStorage, ['DERIVED', 'SECONDARY', 'ATT']))).toBe('ATT');
    expect(overlayQuantity(instance(SOP_CLASS.ParametricMapStorage, ['DERIVED', 'PRIMARY']))).toBe('CBF');
    // the colour series (RGB Secondary Capture with a burned-in bar), the report PDF, the raw ASL series
    expect(overlayQuantity(instance(SOP_CLASS.SecondaryCaptureImageStorage, ['DERIVED', 'SECONDARY', 'CBF']))).toBeUndefined();
    expect(overlayQuantity(instance(SOP_CLASS.EncapsulatedPDFStorage))).toBeUndefined();
    expect(overlayQuantity(instance(SOP_CLASS.MRImageStorage, ['ORIGINAL', 'PRIMARY', 'ASL', 'MOSAIC']))).toBeUndefined();
  });

  it('lists the maps, CBF first, and skips series that cannot be maps without asking', () => {
    const all = [series('raw', 'MR', ['ORIGINAL', 'PRIMARY']), series('att', 'MR'), series('pdf', 'DOC'), series('cbf', 'MR'), series('sc', 'OT'), series('pm', 'MR')];
    expect(all.filter(mayBeMap).map((s) => s['0020000E'].Value?.[0])).toEqual(['raw', 'att', 'cbf', 'sc', 'pm']);
    const q = new Map<string, Quantity | undefined>([['raw', undefined], ['att', 'ATT'], ['cbf', 'CBF'], ['sc', undefined], ['pm', 'CBF']]);
    expect(overlayChoices(all, q).map((s) => s['0020000E'].Value?.[0])).toEqual(['cbf', 'pm', 'att']);
  });

  it('recognises a Siemens mosaic by its ImageType', () => {
    expect(isMosaic({ '00080008': cs('ORIGINAL', 'PRIMARY', 'ASL', 'NONE', 'ND', 'NORM', 'MOSAIC') })).toBe(true);
    expect(isMosaic({ '00080008': cs('DERIVED', 'SECONDARY', 'CBF') })).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import type { DicomJson } from '../api/dicomJson';
import { isQuantitativeMap, overlayOrder, quantityFromImageType, quantityOf } from './derived';
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

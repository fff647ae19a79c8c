import { describe, expect, it } from 'vitest';
import { curveParameterSummary, curvePlot, mapSummary, polyline } from './dceCurve';
import { dceCurveQuery } from '../api/jobs';
import { overlayQuantity, quantityOf } from './derived';
import { presetsFor } from './presets';

const cs = (...v: string[]) => ({ vr: 'CS', Value: v });

describe('DCE curve panel', () => {
  it('draws each line on the shared time axis, scaled to its own peak', () => {
    expect(polyline([0, 5, 10], [0, 2, 1], 100, 50, 2)).toBe('0.0,50.0 50.0,0.0 100.0,25.0');
    const plot = curvePlot([0, 4, 8, 12], [0, 0.1, 0.4, 0.3], [0, 6, 2, 1], 200, 100);
    expect(plot.tissue.max).toBe(0.4);
    expect(plot.aif.max).toBe(6);
    expect(plot.duration).toBe(12);
    expect(plot.aif.points.split(' ')[1]).toBe('66.7,0.0');
    expect(plot.tissue.points.split(' ')[2]).toBe('133.3,0.0');
  });

  it('survives empty and non-finite values', () => {
    expect(polyline([], [], 10, 10, 1)).toBe('');
    expect(curvePlot([0, 1], [Number.NaN, 0], [], 10, 10).aif.points).toBe('');
  });

  it('summarises the ROI maps the model gave', () => {
    expect(mapSummary({ ktrans: { median: 0.2 }, ve: { median: 0.4 }, kep: { median: null } })).toBe('Ktrans 0.200 /min · ve 0.400');
  });

  it('asks for a circle or a rectangle', () => {
    expect(dceCurveQuery({ slice: 2, x: 10, y: 12, r: 3 }).toString()).toBe('slice=2&x=10&y=12&r=3');
    expect(dceCurveQuery({ slice: 0, x: 1, y: 2, width: 4, height: 5 }).toString()).toBe('slice=0&x=1&y=2&width=4&height=5');
  });
});

describe('DCE maps as overlays', () => {
  it('recognises the Ktrans, ve, kep and vp maps and offers their ranges', () => {
    const mr = { '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.4'] }, '00080008': cs('DERIVED', 'SECONDARY', 'KTRANS') };
    expect(overlayQuantity(mr)).toBe('KTRANS');
    const pmap = { '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.30'] }, '00700080': cs('VE') };
    expect(quantityOf(pmap)).toBe('VE');
    expect(overlayQuantity(pmap)).toBe('VE');
    const colour = { '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.7'] }, '00080008': cs('DERIVED', 'SECONDARY', 'KTRANS') };
    expect(overlayQuantity(colour)).toBeUndefined();
    expect(presetsFor('KTRANS')[0].range).toEqual({ lower: 0, upper: 0.5 });
  });

  it('summarises the semi-quantitative medians the server gave, in a fixed order', () => {
    expect(curveParameterSummary({ auc: { median: 12.346 }, ttp: { median: 24.4 }, ktrans: { median: 0.2 }, washout: { median: -3.21 } }))
      .toBe('TTP 24 s · wash-out -3.2 % · AUC 12.35 mM·s');
    expect(curveParameterSummary({ ktrans: { median: 0.2 } })).toBe('');
  });
});

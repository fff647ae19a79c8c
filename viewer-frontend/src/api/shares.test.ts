import { describe, expect, it } from 'vitest';
import { exchangeFailure, renderedPath, slicesOf, windowChoices, type ShareSeries } from './shares';

const series = (modality: string, frames: number[], window = { center: 300, width: 600 }): ShareSeries => ({
  series_uid: '1.2.3',
  modality,
  number: 1,
  description: '',
  window,
  instances: frames.map((f, i) => ({ sop_instance_uid: `1.2.3.${i + 1}`, frames: f })),
});

describe('share page helpers', () => {
  it('lists every frame in order', () => {
    const s = slicesOf(series('MR', [1, 3]));
    expect(s.map((x) => `${x.sopInstanceUid}#${x.frame}`)).toEqual(['1.2.3.1#1', '1.2.3.2#1', '1.2.3.2#2', '1.2.3.2#3']);
  });
  it('offers CT windows for CT and relative ones otherwise', () => {
    expect(windowChoices(series('CT', [1])).map((c) => c.id)).toEqual(['default', 'brain', 'abdomen', 'lung', 'bone']);
    const mr = windowChoices(series('MR', [1]));
    expect(mr.map((c) => c.window?.width)).toEqual([undefined, 1200, 300]);
    expect(windowChoices(series('MR', [1], { center: null as unknown as number, width: 0 })).length).toBe(1);
  });
  it('builds the rendered URL with the window', () => {
    const [slice] = slicesOf(series('CT', [1]));
    const url = renderedPath('9.8', slice, windowChoices(series('CT', [1]))[1]);
    expect(url).toBe('/dicom-web/studies/9.8/series/1.2.3/instances/1.2.3.1/frames/1/rendered?viewport=1024%2C1024&window=40%2C80%2Clinear');
  });
  it('maps exchange statuses to what the patient is told', () => {
    expect([403, 423, 429, 410, 404, 500].map(exchangeFailure)).toEqual(['wrong', 'locked', 'throttled', 'gone', 'notFound', 'other']);
  });
});

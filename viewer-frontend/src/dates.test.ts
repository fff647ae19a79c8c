import { describe, expect, it } from 'vitest';
import { isoToDA, presetRange, toDA } from './dates';

describe('presetRange', () => {
  const now = new Date(2024, 2, 1, 15, 30); // 1 March 2024, a leap year
  it('computes calendar-day ranges ending today', () => {
    expect(presetRange('today', now)).toEqual({ from: '20240301', to: '20240301' });
    expect(presetRange('last2', now)).toEqual({ from: '20240229', to: '20240301' });
    expect(presetRange('lastWeek', now)).toEqual({ from: '20240224', to: '20240301' });
    expect(presetRange('any', now)).toEqual({ from: '', to: '' });
  });
  it('takes custom bounds from date inputs', () => {
    expect(presetRange('custom', now, { from: '2023-12-31', to: '' })).toEqual({ from: '20231231', to: '' });
    expect(isoToDA('31/12/2023')).toBe('');
    expect(toDA(new Date(2024, 0, 5))).toBe('20240105');
  });
});

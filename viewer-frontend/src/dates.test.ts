import { describe, expect, it } from 'vitest';
import { isoToDA, localDateTime, presetRange, toDA } from './dates';

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

describe('localDateTime', () => {
  it('shows a UTC server time in the given zone, with the zone named, in both languages', () => {
    expect(localDateTime('2024-01-31T10:05:09+00:00', 'en', 'Asia/Shanghai')).toBe('2024-01-31 18:05:09 GMT+8');
    expect(localDateTime('2024-01-31T10:05:09+00:00', 'zh-CN', 'Asia/Shanghai')).toBe('2024-01-31 18:05:09 GMT+8');
    // No offset: the server's UTC; an offset other than UTC is honoured.
    expect(localDateTime('2024-01-31T23:30:00.123456', 'en', 'Asia/Shanghai')).toBe('2024-02-01 07:30:00 GMT+8');
    expect(localDateTime('2024-07-01T12:00:00+02:00', 'en', 'UTC')).toBe('2024-07-01 10:00:00 UTC');
  });
  it('keeps an unparsable text as it came', () => {
    expect(localDateTime('soon', 'en')).toBe('soon');
  });
});

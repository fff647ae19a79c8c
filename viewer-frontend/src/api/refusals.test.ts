import { afterEach, describe, expect, it } from 'vitest';
import { locale } from '../i18n';
import { problemsOf } from './http';
import { refusalText } from './refusals';

// The body the server sends for {"pld": 1800} (no unit) and a text in a number field.
const BODY = JSON.stringify({
  error: 'post-labeling delay(s) (pld) is in seconds; 1800 s is not plausible (did you mean 1800 ms? give the unit); labeling duration (labeling_duration) must be a number, got \'x\'',
  status: 400,
  problems: [
    { code: 'implausible_seconds', params: { name: 'pld', value: 1800 }, message: 'post-labeling delay(s) (pld) is in seconds; 1800 s is not plausible' },
    { code: 'not_a_number', params: { name: 'labeling_duration', value: 'x' }, message: "labeling duration (labeling_duration) must be a number, got 'x'" },
    { code: 'something_new', params: {}, message: 'a refusal this UI has no words for' },
  ],
});
const NAMES: Record<string, string> = { pld: '标记后延迟', labeling_duration: '标记时长' };

describe('server refusals in the UI language', () => {
  afterEach(() => {
    locale.value = 'en';
  });
  it('reads the problems of an error body, and none from other bodies', () => {
    expect(problemsOf(BODY, 'application/json').map((p) => p.code)).toEqual(['implausible_seconds', 'not_a_number', 'something_new']);
    expect(problemsOf('{"error": "x", "status": 400}', 'application/json')).toEqual([]);
    expect(problemsOf('<html>', 'text/html')).toEqual([]);
  });
  it('words each problem in Chinese with the dialog names, keeping unknown codes in English', () => {
    locale.value = 'zh-CN';
    const text = refusalText(problemsOf(BODY, 'application/json'), (n) => NAMES[n] ?? n);
    expect(text).toBe('标记后延迟 以秒为单位：1800 秒不合理（是否应为 1800 毫秒？请选择单位）; 标记时长 必须是数字，而不是“x”; a refusal this UI has no words for');
    expect(text).not.toContain('is in seconds');
  });
  it('words them in English in the English UI', () => {
    const text = refusalText(problemsOf(BODY, 'application/json'), (n) => n);
    expect(text).toContain('pld is in seconds: 1800 s is not plausible (did you mean 1800 ms? choose the unit)');
  });
});

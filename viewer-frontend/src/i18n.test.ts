import { describe, expect, it } from 'vitest';
import { LOCALES, pickLocale, translate } from './i18n';

describe('i18n', () => {
  it('picks Chinese for any zh variant and English otherwise', () => {
    expect(pickLocale(['zh-TW', 'en'])).toBe('zh-CN');
    expect(pickLocale(['en-GB', 'zh-CN'])).toBe('en');
    expect(pickLocale(['fr-FR', 'zh'])).toBe('zh-CN');
    expect(pickLocale(['fr-FR'])).toBe('en');
    expect(pickLocale([])).toBe('en');
  });

  it('fills placeholders and leaves unknown ones visible', () => {
    expect(translate('en', 'viewer.image', { index: 3, count: 250 })).toBe('Image 3 / 250');
    expect(translate('zh-CN', 'viewer.image', { index: 3, count: 250 })).toBe('图像 3 / 250');
    expect(translate('en', 'viewer.image', { index: 3 })).toBe('Image 3 / {count}');
  });

  it('has a non-empty translation for every key in both languages', () => {
    const keys = Object.keys(LOCALES.en);
    expect(Object.keys(LOCALES['zh-CN']).sort()).toEqual([...keys].sort());
    for (const key of keys) {
      expect(LOCALES['zh-CN'][key as keyof typeof LOCALES.en].length).toBeGreaterThan(0);
    }
  });
});

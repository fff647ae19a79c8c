import { describe, expect, it } from 'vitest';
import { translate, type MessageKey } from '../i18n';
import { PULL_EN, PULL_ZH } from '../i18nPull';
import { whyQuery, whySentence } from './pull';

describe('whyQuery', () => {
  it('asks by StudyInstanceUID for a UID and by accession number otherwise', () => {
    expect(whyQuery(' 1.2.840.113619.2.5 ')).toBe('study=1.2.840.113619.2.5');
    expect(whyQuery('ACC123')).toBe('accession=ACC123');
    expect(whyQuery('20240101')).toBe('accession=20240101');
  });
});

describe('whySentence', () => {
  const zh = (key: string, params?: Record<string, string | number>) => translate('zh-CN', key as MessageKey, params);
  const en = (key: string, params?: Record<string, string | number>) => translate('en', key as MessageKey, params);

  it('words the server\'s code and parameters in the UI language, naming a state in words', () => {
    const complete = { summary_code: 'complete' as const, summary_params: { count: '4' } };
    expect(whySentence(complete, zh)).toBe('完整：已拉取 4 幅图像');
    expect(whySentence(complete, en)).toBe('complete: 4 instance(s) pulled');
    const failed = { summary_code: 'state_error' as const, summary_params: { state: 'failed', error: 'PACS A: refused' } };
    expect(whySentence(failed, zh)).toBe('失败：PACS A: refused');
    expect(whySentence({ summary_code: 'unseen', summary_params: {} }, zh)).toContain('尚无数据源');
  });

  it('has a sentence for every code the server documents, in both languages', () => {
    const codes = ['unseen', 'rejected', 'rejected_no_rule', 'incomplete', 'complete', 'waiting', 'state', 'state_error'];
    for (const code of codes) {
      expect(PULL_EN).toHaveProperty(`pull.summary.${code}`);
      expect(PULL_ZH[`pull.summary.${code}` as keyof typeof PULL_ZH]).toBeTruthy();
    }
  });
});

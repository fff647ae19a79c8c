// @vitest-environment jsdom
/// <reference types="node" />
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushPromises, mount } from '@vue/test-utils';
import AnalysisPage from './AnalysisPage.vue';
import { setLocale } from '../i18n';
import type { JobDetail, JobSummary } from '../api/jobs';

// A real HTTP server answering the jobs routes the way the contract says (one waiting job; a refused
// post-labeling delay); the page's relative URLs are sent to it.
const summary: JobSummary = {
  id: 1, method: 'ASL', state: 'waiting', actions: ['set_parameters', 'cancel', 'delete'], missing: [], reason: '',
  label: 'pcasl', vendor: 'Siemens', labeling: 'pcasl', study_instance_uid: '1.2', series_instance_uids: ['1.2.3'],
  m0_series_instance_uid: null, t1_series_instance_uid: null, patient_name: 'DOE^J', patient_id: 'P1',
  study_date: '20240101', study_description: '', priority: 0, progress: 0, stage: '', attempts: 0, worker: null,
  max_attempts: 3, version: 0, cbf_mean: null, qc: null, created_at: '2024-01-31T10:05:09+00:00',
  updated_at: '2024-01-31T10:05:09+00:00', queued_at: null, started_at: null, finished_at: null,
};
const REFUSAL = 'pld: 1800 s is not a plausible post-labeling delay (did you mean 1800 ms?)';
const spec = { label: 'Post-labeling delay', kind: 'seconds' as const, unit: 's' };
const detail: JobDetail = {
  ...summary,
  parameters: { detected: { pld: { name: 'pld', value: 1.8, unit: 's', source: 'tag', detail: '' } }, overrides: {}, model: 'auto' },
  provenance: {}, statistics: {}, timings: {}, diagnostic_text: '', results: [], override_notes: {}, protocol: null,
  parameter_schema: { pld: spec, vendor: { label: 'vendor', kind: 'choice', choices: ['GE', 'Philips', 'Siemens', 'generic'] } },
} as JobDetail;
// The problems[] of the refusal: what the zh-CN dialog words in Chinese.
const PROBLEMS = [{ code: 'implausible_seconds', params: { name: 'pld', value: 1800 }, message: REFUSAL }];
let server: Server;
const nodeFetch = globalThis.fetch;

beforeAll(async () => {
  server = createServer((req, res) => {
    const send = (status: number, value: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    req.resume();
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/api/jobs') send(200, { total: 1, limit: 50, offset: 0, jobs: [summary] });
      else if (path === '/api/jobs/1') send(200, detail);
      else if (path === '/api/jobs/1/parameters') send(400, { error: REFUSAL, status: 400, problems: PROBLEMS });
      else send(404, { error: 'not found' });
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  globalThis.fetch = (input, init) => nodeFetch(new URL(String(input), base), init);
});
afterAll(() => {
  globalThis.fetch = nodeFetch;
  setLocale('en');
  return new Promise<void>((ok) => server.close(() => ok()));
});

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) {
    await new Promise((r) => setTimeout(r, 20));
    await flushPromises();
  }
}

describe('AnalysisPage', () => {
  it('shows the update time in local time with its zone, in both languages', async () => {
    for (const locale of ['en', 'zh-CN'] as const) {
      setLocale(locale);
      const w = mount(AnalysisPage);
      await settle();
      // vitest runs with TZ unset or set by the machine: the expected text is computed for that zone.
      const cell = w.get('[data-testid=job-updated]').text();
      expect(cell).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (GMT|UTC)/);
      expect(cell).not.toBe('2024-01-31 10:05:09');
      w.unmount();
    }
  });

  it('shows a refused parameter inside the dialog, which stays open, not on the page behind it', async () => {
    setLocale('en');
    const w = mount(AnalysisPage, { attachTo: document.body });
    await settle();
    await w.get('[data-action=params]').trigger('click');
    await settle();
    await w.get('[data-testid=params-dialog] input[name=pld]').setValue('1800');
    await w.get('[data-testid=params-dialog]').trigger('submit');
    await settle();
    const dialog = w.get('[data-testid=params-dialog]');
    // In English the codes are worded by the UI too (the server's own text is for API clients).
    expect(dialog.get('[data-testid=params-error]').text()).toContain('Post-labeling delay is in seconds: 1800 s is not plausible (did you mean 1800 ms?');
    expect(w.findAll('.page > p.error')).toHaveLength(0);
    w.unmount();
  });

  it('words the refusal in Chinese in the zh-CN dialog, says that saving starts the analysis, prefills the vendor', async () => {
    setLocale('zh-CN');
    const w = mount(AnalysisPage, { attachTo: document.body });
    await settle();
    await w.get('[data-action=params]').trigger('click');
    await settle();
    const dialog = w.get('[data-testid=params-dialog]');
    // Nothing missing: saving queues the job, and the button says so.
    expect(dialog.get('[data-action=save-params]').text()).toBe('保存并开始分析');
    expect(dialog.get('[data-testid=params-starts]').text()).toContain('立即开始分析');
    // The vendor the detector read, filled in with where it came from.
    const vendor = dialog.findAll('select').find((sel) => sel.findAll('option').some((o) => o.text() === 'Siemens'));
    expect((vendor?.element as HTMLSelectElement | undefined)?.value).toBe('Siemens');
    expect(dialog.text()).toContain('读取自图像头：Manufacturer');
    await dialog.get('input[name=pld]').setValue('1800');
    await dialog.trigger('submit');
    await settle();
    const error = w.get('[data-testid=params-error]').text();
    expect(error).toContain('以秒为单位：1800 秒不合理');
    expect(error).not.toContain('plausible');
    w.unmount();
    setLocale('en');
  });
});

import { describe, expect, it } from 'vitest';
import { contentType, multipartBody, parseStoreResponse } from './stow';

describe('multipartBody', () => {
  it('frames each part with the boundary and a DICOM content type', async () => {
    const body = multipartBody([new Blob(['AAA']), new Blob(['BB'])], 'b0');
    const text = await body.text();
    expect(text).toBe(
      '--b0\r\nContent-Type: application/dicom\r\n\r\nAAA\r\n' +
        '--b0\r\nContent-Type: application/dicom\r\n\r\nBB\r\n--b0--\r\n',
    );
    expect(contentType('b0')).toBe('multipart/related; type="application/dicom"; boundary=b0');
  });
});

describe('parseStoreResponse', () => {
  it('reports stored and refused instances with readable reasons', () => {
    const body = {
      '00081199': {
        vr: 'SQ',
        Value: [
          { '00081155': { vr: 'UI', Value: ['1.2.3'] } },
          { '00081155': { vr: 'UI', Value: ['1.2.4'] }, '00081196': { vr: 'US', Value: [0xb000] } },
        ],
      },
      '00081198': {
        vr: 'SQ',
        Value: [
          { '00081155': { vr: 'UI', Value: ['1.2.5'] }, '00081197': { vr: 'US', Value: [0xa900] }, '0040A160': { vr: 'UT', Value: ['no Rows'] } },
          { '00081155': { vr: 'UI', Value: ['1.2.6'] }, '00081197': { vr: 'US', Value: [0x1234] } },
        ],
      },
    };
    expect(parseStoreResponse(body)).toEqual([
      { sopUid: '1.2.3', outcome: 'stored' },
      { sopUid: '1.2.4', outcome: 'stored', reason: 'warning 0xB000' },
      { sopUid: '1.2.5', outcome: 'refused', reason: 'no Rows — data set does not match SOP class (0xA900)' },
      { sopUid: '1.2.6', outcome: 'refused', reason: '0x1234' },
    ]);
    expect(parseStoreResponse(undefined)).toEqual([]);
  });
});

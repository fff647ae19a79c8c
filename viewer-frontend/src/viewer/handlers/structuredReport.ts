// Structured Reports (PS3.3 A.35): recognised, not rendered yet — the pane says so instead of failing.
import { str } from '../../api/dicomJson';
import { STRUCTURED_REPORT_SOP_CLASSES } from '../sopClasses';
import type { SopClassHandler } from './registry';

export const structuredReportHandler: SopClassHandler = {
  id: 'structured-report',
  sopClassUids: STRUCTURED_REPORT_SOP_CLASSES,
  displaySet(frames) {
    return { kind: 'unsupported', handler: this.id, message: 'viewer.srNotSupported', sopClassUid: str(frames[0].meta, 'SOPClassUID') };
  },
};

/** Anything else without pixel data (raw data, waveforms, other documents). */
export const unknownObjectHandler: SopClassHandler = {
  id: 'unknown',
  sopClassUids: [],
  displaySet(frames) {
    return { kind: 'unsupported', handler: this.id, message: 'viewer.notSupported', sopClassUid: str(frames[0].meta, 'SOPClassUID') };
  },
};

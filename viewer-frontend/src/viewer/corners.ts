// The texts in a viewport's four corners, as on a reading workstation: who and when (top left), which
// series (top right), where in the stack (bottom left: image, slice position and thickness) and how it
// is shown (bottom right: W/L and zoom). Pure: built from the shown frame's DICOM JSON.
import { formatDate, nums, num, str, type DicomJson } from '../api/dicomJson';
import { t } from '../i18n';

export interface Corners {
  topLeft: string[];
  bottomLeft: string[];
  bottomRight: string[];
}

/** Position of the slice along its normal (mm): ImagePositionPatient · (row × column direction). */
export function slicePosition(meta: DicomJson | undefined): number | undefined {
  const iop = nums(meta, 'ImageOrientationPatient');
  const ipp = nums(meta, 'ImagePositionPatient');
  if (iop.length === 6 && ipp.length === 3) {
    const [r, c] = [iop.slice(0, 3), iop.slice(3)];
    const n = [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]];
    return n[0] * ipp[0] + n[1] * ipp[1] + n[2] * ipp[2];
  }
  return num(meta, 'SliceLocation');
}

const mm = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1));

export function cornerTexts(meta: DicomJson | undefined, view: { index: number; count: number; wl?: string; zoom?: number; position?: number }): Corners {
  const sexAge = [str(meta, 'PatientSex'), str(meta, 'PatientAge')].filter(Boolean).join(' ');
  const topLeft = [str(meta, 'PatientName'), [str(meta, 'PatientID'), sexAge].filter(Boolean).join(' · '), formatDate(str(meta, 'StudyDate'))].filter(Boolean);
  // The viewport's own plane when it knows it (per-frame geometry of a multi-frame object), else the frame's.
  const pos = view.position ?? slicePosition(meta);
  const thickness = num(meta, 'SliceThickness');
  const where = [pos !== undefined ? t('viewer.corner.position', { mm: mm(pos) }) : '', thickness ? t('viewer.corner.thickness', { mm: mm(thickness) }) : ''].filter(Boolean).join(' · ');
  const bottomLeft = [view.count ? t('viewer.image', { index: view.index + 1, count: view.count }) : '', where].filter(Boolean);
  const bottomRight = [view.wl ?? '', view.zoom ? t('viewer.corner.zoom', { zoom: view.zoom.toFixed(2) }) : ''].filter(Boolean);
  return { topLeft, bottomLeft, bottomRight };
}

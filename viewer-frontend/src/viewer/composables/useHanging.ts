// Applies the ASL hanging protocol (../hanging.ts) when a study opens without a series asked for: the
// grid's layout, the series in pane order, synced scrolling. Studies without a CBF map are left alone.
import type { Ref } from 'vue';
import { str, type DicomJson } from '../../api/dicomJson';
import { quantityFromImageType } from '../derived';
import { aslHanging, hangingOrder, hungFirst, type AslHanging } from '../hanging';
import type { Layout } from './useViewports';

export interface HangingOptions {
  series: Ref<DicomJson[]>;
  layout: Ref<Layout>;
  syncScroll: Ref<boolean>;
  /** One instance of the series at QIDO instance level (its SOP Class UID). */
  firstInstance: (seriesUid: string) => Promise<DicomJson | undefined>;
  superseded: () => Promise<Set<string>>;
}

export function useHanging(options: HangingOptions) {
  /** Lay the study out by the ASL protocol; resolves with what it chose (undefined: not an ASL study with results). */
  async function apply(): Promise<AslHanging | undefined> {
    const candidates = options.series.value.filter((s) => quantityFromImageType(s));
    if (!candidates.some((s) => quantityFromImageType(s) === 'CBF')) return undefined;
    const [classes, superseded] = await Promise.all([
      Promise.all(candidates.map(async (s) => [str(s, 'SeriesInstanceUID'), str(await options.firstInstance(str(s, 'SeriesInstanceUID')).catch(() => undefined), 'SOPClassUID')] as [string, string])),
      options.superseded().catch(() => new Set<string>()),
    ]);
    const hanging = aslHanging(options.series.value, new Map(classes), superseded);
    if (!hanging) return undefined;
    const order = hangingOrder(hanging);
    options.series.value = hungFirst(options.series.value, order);
    options.layout.value = order.length > 2 ? '2x2' : order.length > 1 ? '1x2' : '1x1';
    options.syncScroll.value = order.length > 1;
    return hanging;
  }
  return { apply };
}

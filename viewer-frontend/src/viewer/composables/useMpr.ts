// The MPR mode of the viewer: the toolbar's MPR button opens the active pane's series as a volume
// (axial/sagittal/coronal), or says why that series is not one; the button again, or "back", returns.
import { ref, shallowRef, type Ref } from 'vue';
import type { FrameRef } from '../../api/client';
import { str, type DicomJson } from '../../api/dicomJson';
import { t } from '../../i18n';
import { seriesLabel } from '../labels';
import { volumeRefusal } from '../mpr';

export interface MprOptions {
  slot: () => { seriesUid: string; kind?: string } | undefined;
  stack: () => { imageIds: string[]; frames: FrameRef[] } | undefined;
  series: Ref<DicomJson[]>;
}

export function useMpr(options: MprOptions) {
  const shown = shallowRef<{ seriesUid: string; imageIds: string[]; label: string }>();
  const refusal = ref('');

  function open(): void {
    const slot = options.slot();
    const stack = options.stack();
    refusal.value = '';
    const why = !slot || slot.kind !== 'stack' || !stack ? { key: 'viewer.mprNotImage' as const } : volumeRefusal(stack.frames);
    if (why || !slot || !stack) {
      refusal.value = t('viewer.mprNotVolume', { reason: t(why?.key ?? 'viewer.mprNotImage', why?.params) });
      return;
    }
    const label = seriesLabel(options.series.value.find((s) => str(s, 'SeriesInstanceUID') === slot.seriesUid));
    shown.value = { seriesUid: slot.seriesUid, imageIds: stack.imageIds, label };
  }

  function close(): void {
    shown.value = undefined;
  }

  return {
    shown,
    refusal,
    close,
    toggle(): void {
      if (shown.value) close();
      else open();
    },
  };
}

import { effectScope, nextTick, ref } from 'vue';
import { afterEach, describe, expect, it } from 'vitest';
import { SLICE_SYNC, VOI_SYNC, ZOOM_PAN_SYNC, useSync, type SyncDriver } from './useSync';

let scope = effectScope();
afterEach(() => scope.stop());

function setup(count: number) {
  const log: string[] = [];
  const driver: SyncDriver = {
    engineId: 'eng',
    createSliceSync: (id) => ({ add: (v) => log.push(`${id} + ${v.renderingEngineId}/${v.viewportId}`) }),
    createVoiSync: (id) => ({ add: (v) => log.push(`${id} + ${v.renderingEngineId}/${v.viewportId}`) }),
    createZoomPanSync: (id) => ({ add: (v) => log.push(`${id} + ${v.renderingEngineId}/${v.viewportId}`) }),
    destroySync: (id) => log.push(`destroy ${id}`),
    referenceLines: { show: (source) => log.push(`lines ${source ?? 'off'}`), refresh: () => log.push('refresh') },
    render: () => log.push('render'),
  };
  const ids = ref(Array.from({ length: count }, (_, i) => `vp-${i}`));
  const active = ref(0);
  scope = effectScope();
  const sync = scope.run(() => useSync({ viewportIds: () => ids.value, active, driver: () => driver }))!;
  return { sync, log, ids, active };
}

describe('useSync', () => {
  it('links every viewport of the layout for scroll and W/L, once each', async () => {
    const { sync, log } = setup(2);
    sync.syncScroll.value = true;
    sync.syncWL.value = true;
    await nextTick();
    expect(log).toEqual([
      `destroy ${SLICE_SYNC}`, `destroy ${VOI_SYNC}`, `destroy ${ZOOM_PAN_SYNC}`,
      `${SLICE_SYNC} + eng/vp-0`, `${SLICE_SYNC} + eng/vp-1`,
      `${VOI_SYNC} + eng/vp-0`, `${VOI_SYNC} + eng/vp-1`,
      'lines off', 'render',
    ]);
  });

  it('links zoom and pan of every viewport when asked', async () => {
    const { sync, log } = setup(2);
    sync.syncZoomPan.value = true;
    await nextTick();
    expect(log.filter((l) => l.includes('+'))).toEqual([`${ZOOM_PAN_SYNC} + eng/vp-0`, `${ZOOM_PAN_SYNC} + eng/vp-1`]);
  });

  it('links nothing with a single viewport', () => {
    const { sync, log } = setup(1);
    sync.syncScroll.value = true;
    sync.refLines.value = true;
    sync.apply();
    expect(log.filter((l) => l.includes('+') || l.startsWith('lines'))).toEqual(['lines off']);
  });

  it('draws reference lines from the active viewport and follows it', async () => {
    const { sync, log, active } = setup(2);
    sync.refLines.value = true;
    await nextTick();
    expect(log).toContain('lines vp-0');
    log.length = 0;
    sync.onRendered(1); // not the source
    sync.onRendered(0);
    expect(log).toEqual(['refresh']);
    active.value = 1;
    await nextTick();
    expect(log).toContain('lines vp-1');
    sync.refLines.value = false;
    await nextTick();
    log.length = 0;
    sync.onRendered(1);
    expect(log).toEqual([]);
  });

  it('removes its synchronizers when it ends', () => {
    const { sync, log } = setup(2);
    sync.destroy();
    expect(log).toEqual([`destroy ${SLICE_SYNC}`, `destroy ${VOI_SYNC}`, `destroy ${ZOOM_PAN_SYNC}`]);
  });
});

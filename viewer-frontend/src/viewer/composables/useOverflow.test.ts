// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { defineComponent, h, nextTick, ref } from 'vue';
import { mount } from '@vue/test-utils';
import { hidesItems, useOverflow } from './useOverflow';

describe('useOverflow', () => {
  it('reports hidden items when the content is taller than the one row shown', () => {
    expect(hidesItems({ scrollHeight: 64, clientHeight: 32 })).toBe(true);
    expect(hidesItems({ scrollHeight: 33, clientHeight: 32 })).toBe(false);
    expect(hidesItems(null)).toBe(false);
  });

  it('measures on mount and on every size change, and not while open', async () => {
    const box = { scrollHeight: 32, clientHeight: 32 };
    let changed: () => void = () => undefined;
    let api: ReturnType<typeof useOverflow> | undefined;
    const Host = defineComponent({
      setup() {
        const el = ref(box as unknown as HTMLElement);
        api = useOverflow(el, (_t, fn) => {
          changed = fn;
          return () => undefined;
        });
        return () => h('div');
      },
    });
    const w = mount(Host);
    await nextTick();
    expect(api!.overflowing.value).toBe(false);
    box.scrollHeight = 70; // a narrower window: the items wrap to a second row
    changed();
    expect(api!.overflowing.value).toBe(true);
    api!.toggle();
    box.scrollHeight = 32;
    changed();
    expect([api!.open.value, api!.overflowing.value]).toEqual([true, true]);
    api!.toggle();
    expect([api!.open.value, api!.overflowing.value]).toEqual([false, false]);
    w.unmount();
  });
});

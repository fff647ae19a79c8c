// A one-row bar whose items wrap into rows that are clipped: `overflowing` says some are hidden (the
// bar then offers a "more" button that opens every row over the content below). Watching the size
// keeps it right when the window, the language or the set of items changes.
import { onBeforeUnmount, onMounted, ref, type Ref } from 'vue';

export interface OverflowHost {
  scrollHeight: number;
  clientHeight: number;
}

/** Items lie below the first row (1 px of rounding allowed). */
export function hidesItems(el: OverflowHost | null | undefined): boolean {
  return !!el && el.scrollHeight > el.clientHeight + 1;
}

export function useOverflow(el: Ref<HTMLElement | null | undefined>, observe: (target: Element, fn: () => void) => () => void = resizeObserver) {
  const overflowing = ref(false);
  const open = ref(false);
  let stop: (() => void) | undefined;
  const measure = () => {
    // Measured closed: an open bar shows every row and never overflows.
    if (!open.value) overflowing.value = hidesItems(el.value);
  };
  onMounted(() => {
    if (!el.value) return;
    stop = observe(el.value, measure);
    measure();
  });
  onBeforeUnmount(() => stop?.());
  return {
    overflowing,
    open,
    measure,
    toggle(): void {
      open.value = !open.value;
      if (open.value) return;
      // A control focused while open may have scrolled the clipped bar: back to its first row.
      if (el.value) el.value.scrollTop = 0;
      measure();
    },
  };
}

function resizeObserver(target: Element, fn: () => void): () => void {
  if (typeof ResizeObserver === 'undefined') return () => undefined;
  const ro = new ResizeObserver(fn);
  ro.observe(target);
  // Items (their labels, a language switch) change the content's height without resizing the bar.
  const mo = typeof MutationObserver === 'undefined' ? undefined : new MutationObserver(fn);
  mo?.observe(target, { childList: true, subtree: true, characterData: true });
  return () => {
    ro.disconnect();
    mo?.disconnect();
  };
}

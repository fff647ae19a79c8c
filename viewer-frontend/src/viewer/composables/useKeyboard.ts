// Keyboard as on a reading workstation: arrows/PageUp/PageDown/Home/End scroll, I inverts, R resets,
// 1-5 apply the window presets, space plays or stops cine. Keys typed into form fields are left alone.
import { onScopeDispose } from 'vue';
import type { Types } from '@cornerstonejs/core';

export type ScrollViewport = Pick<Types.IStackViewport, 'getImageIds' | 'getCurrentImageIdIndex' | 'setImageIdIndex'>;

export interface KeyActions {
  invert: () => void;
  reset: () => void;
  cine: () => void;
  /** The window presets of the active viewport, in the order of the number keys 1, 2, … */
  presets: () => (() => void)[];
}

interface KeyLike {
  key: string;
  target: EventTarget | null;
  preventDefault(): void;
}

const FORM_FIELDS = ['INPUT', 'SELECT', 'TEXTAREA'];

export function useKeyboard(options: { target: EventTarget; viewport: () => ScrollViewport | undefined; actions: KeyActions }) {
  function onKey(e: KeyLike): void {
    const tag = (e.target as { tagName?: string } | null)?.tagName;
    if (tag && FORM_FIELDS.includes(tag)) return;
    const vp = options.viewport();
    if (!vp) return;
    const n = vp.getImageIds().length;
    const at = vp.getCurrentImageIdIndex();
    const go = (i: number) => vp.setImageIdIndex(Math.max(0, Math.min(n - 1, i)));
    const { actions } = options;
    const keys: Record<string, () => unknown> = {
      ArrowUp: () => go(at - 1),
      ArrowDown: () => go(at + 1),
      PageUp: () => go(at - 10),
      PageDown: () => go(at + 10),
      Home: () => go(0),
      End: () => go(n - 1),
      i: actions.invert,
      r: actions.reset,
      ' ': actions.cine,
    };
    actions.presets().forEach((fn, k) => (keys[String(k + 1)] = fn));
    const action = keys[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  }

  const listener = (e: Event) => onKey(e as unknown as KeyLike);
  options.target.addEventListener('keydown', listener);
  onScopeDispose(() => options.target.removeEventListener('keydown', listener));
  return { onKey };
}

// Keyboard as on a reading workstation: arrows/PageUp/PageDown/Home/End scroll, I inverts, R resets,
// 1-5 apply the window presets, space plays or stops cine, H hides the corner texts, C takes the
// crosshair, ? shows the list (KEY_HELP). Keys typed into form fields are left alone.
import { onScopeDispose } from 'vue';
import type { Types } from '@cornerstonejs/core';
import type { MessageKey } from '../../i18n';

export type ScrollViewport = Pick<Types.IStackViewport, 'getImageIds' | 'getCurrentImageIdIndex' | 'setImageIdIndex'>;

export interface KeyActions {
  invert: () => void;
  reset: () => void;
  cine: () => void;
  /** The window presets of the active viewport, in the order of the number keys 1, 2, … */
  presets: () => (() => void)[];
  corners?: () => void;
  crosshair?: () => void;
  help?: () => void;
}

/** The shortcuts as the help overlay lists them. */
export const KEY_HELP: readonly { keys: string; label: MessageKey }[] = [
  { keys: '↑ ↓', label: 'viewer.key.scroll' },
  { keys: 'PgUp PgDn', label: 'viewer.key.page' },
  { keys: 'Home End', label: 'viewer.key.ends' },
  { keys: '1 – 5', label: 'viewer.key.presets' },
  { keys: 'I', label: 'viewer.key.invert' },
  { keys: 'R', label: 'viewer.key.reset' },
  { keys: 'Space', label: 'viewer.key.cine' },
  { keys: 'C', label: 'viewer.key.crosshair' },
  { keys: 'H', label: 'viewer.key.corners' },
  { keys: '?', label: 'viewer.key.help' },
];

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
    const { actions } = options;
    const global: Record<string, (() => void) | undefined> = { h: actions.corners, c: actions.crosshair, '?': actions.help };
    const now = global[e.key];
    if (now) {
      e.preventDefault();
      now();
      return;
    }
    const vp = options.viewport();
    if (!vp) return;
    const n = vp.getImageIds().length;
    const at = vp.getCurrentImageIdIndex();
    const go = (i: number) => vp.setImageIdIndex(Math.max(0, Math.min(n - 1, i)));
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

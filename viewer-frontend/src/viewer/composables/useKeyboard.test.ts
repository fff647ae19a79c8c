import { effectScope } from 'vue';
import { describe, expect, it } from 'vitest';
import { useKeyboard, type ScrollViewport } from './useKeyboard';
import { FakeViewport, element } from './testFakes';

function setup() {
  const vp = new FakeViewport(element());
  vp.imageIds = Array.from({ length: 30 }, (_, i) => `id${i}`);
  vp.index = 5;
  const done: string[] = [];
  const target = new EventTarget();
  const scope = effectScope();
  const keyboard = scope.run(() =>
    useKeyboard({
      target,
      viewport: () => vp as unknown as ScrollViewport,
      actions: { invert: () => done.push('invert'), reset: () => done.push('reset'), cine: () => done.push('cine'), presets: () => [() => done.push('p1'), () => done.push('p2')], corners: () => done.push('corners'), crosshair: () => done.push('crosshair'), help: () => done.push('help') },
    }),
  )!;
  const press = (key: string, tagName = 'BODY') => {
    let prevented = false;
    keyboard.onKey({ key, target: { tagName } as unknown as EventTarget, preventDefault: () => (prevented = true) });
    return prevented;
  };
  return { vp, done, press, target, scope };
}

describe('useKeyboard', () => {
  it('scrolls within the stack', () => {
    const { vp, press } = setup();
    const to = (key: string) => {
      press(key);
      return vp.index;
    };
    expect([to('ArrowDown'), to('ArrowUp'), to('PageDown'), to('PageDown'), to('PageDown'), to('Home'), to('PageUp'), to('End')]).toEqual([6, 5, 15, 25, 29, 0, 0, 29]);
  });

  it('maps letters, space and number keys to actions, and claims only those keys', () => {
    const { done, press } = setup();
    expect([press('i'), press('r'), press(' '), press('1'), press('2'), press('3'), press('x')]).toEqual([true, true, true, true, true, false, false]);
    expect(done).toEqual(['invert', 'reset', 'cine', 'p1', 'p2']);
  });

  it('leaves keys typed into form fields alone', () => {
    const { vp, done, press } = setup();
    expect(press('ArrowDown', 'INPUT')).toBe(false);
    press('i', 'SELECT');
    press('r', 'TEXTAREA');
    expect([vp.index, done]).toEqual([5, []]);
  });

  it('listens to keydown on its target until its scope ends', () => {
    const { done, target, scope } = setup();
    const key = (k: string) => Object.assign(new Event('keydown'), { key: k });
    target.dispatchEvent(key('i'));
    scope.stop();
    target.dispatchEvent(key('i'));
    expect(done).toEqual(['invert']);
  });

  it('hides the corners, takes the crosshair and opens the help without a viewport action', () => {
    const { vp, done, press } = setup();
    expect(press('h')).toBe(true);
    expect(press('c')).toBe(true);
    expect(press('?')).toBe(true);
    expect(press('h', 'INPUT')).toBe(false);
    expect(done).toEqual(['corners', 'crosshair', 'help']);
    expect(vp.index).toBe(5);
  });
});

import { effectScope, nextTick, ref } from 'vue';
import { afterEach, describe, expect, it } from 'vitest';
import { useCine, type CinePlayer } from './useCine';
import { element } from './testFakes';

let scope = effectScope();
afterEach(() => scope.stop());

function setup() {
  const calls: string[] = [];
  const els = [element(), element()];
  const name = (el: HTMLDivElement) => `el${els.indexOf(el)}`;
  const player: CinePlayer = {
    playClip: (el, o) => calls.push(`play ${name(el)} ${o.framesPerSecond}${o.loop ? ' loop' : ''}`),
    stopClip: (el) => calls.push(`stop ${name(el)}`),
  };
  const active = ref(0);
  scope = effectScope();
  const cine = scope.run(() => useCine({ element: () => els[active.value], player: () => player, active }))!;
  return { cine, calls, active };
}

describe('useCine', () => {
  it('plays and stops the active viewport in a loop', () => {
    const { cine, calls } = setup();
    cine.toggle();
    expect(cine.playing.value).toBe(true);
    cine.toggle();
    expect(cine.playing.value).toBe(false);
    expect(calls).toEqual(['play el0 15 loop', 'stop el0']);
  });

  it('restarts at a new rate while playing, and only then', async () => {
    const { cine, calls } = setup();
    cine.fps.value = 30;
    await nextTick();
    expect(calls).toEqual([]);
    cine.toggle();
    cine.fps.value = 8;
    await nextTick();
    expect(calls).toEqual(['play el0 30 loop', 'stop el0', 'play el0 8 loop']);
  });

  it('stops the clip it started when another viewport becomes active', () => {
    const { cine, calls, active } = setup();
    cine.toggle();
    active.value = 1;
    expect(calls).toEqual(['play el0 15 loop', 'stop el0']);
    expect(cine.playing.value).toBe(false);
    cine.toggle();
    expect(calls[2]).toBe('play el1 15 loop');
  });

  it('does nothing before cornerstone is there', () => {
    const active = ref(0);
    scope = effectScope();
    const cine = scope.run(() => useCine({ element: () => undefined, player: () => undefined, active }))!;
    cine.toggle();
    expect(cine.playing.value).toBe(false);
  });
});

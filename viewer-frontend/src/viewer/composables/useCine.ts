// Cine: plays the active viewport's stack at the chosen rate; stops when another viewport becomes active
// and restarts when the rate changes.
import { ref, watch, type Ref } from 'vue';

/** The shape of cornerstone tools' `utilities.cine`. */
export interface CinePlayer {
  playClip(element: HTMLDivElement, options: { framesPerSecond: number; loop: boolean }): void;
  stopClip(element: HTMLDivElement): void;
}

export function useCine(options: { element: () => HTMLDivElement | undefined; player: () => CinePlayer | undefined; active: Ref<number> }) {
  const playing = ref(false);
  const fps = ref(15);
  let playingOn: HTMLDivElement | undefined;

  function play(): void {
    const el = options.element();
    const player = options.player();
    if (!el || !player) return;
    player.playClip(el, { framesPerSecond: fps.value, loop: true });
    playingOn = el;
    playing.value = true;
  }

  function stop(): void {
    if (playingOn) options.player()?.stopClip(playingOn);
    playingOn = undefined;
    playing.value = false;
  }

  function toggle(): void {
    if (playing.value) stop();
    else play();
  }

  watch(fps, () => {
    if (playing.value) {
      stop();
      play();
    }
  });
  watch(options.active, () => {
    if (playing.value) stop();
  }, { flush: 'sync' });

  return { playing, fps, toggle, stop };
}

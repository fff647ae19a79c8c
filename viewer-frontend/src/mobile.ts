// Mobile mode: on a phone (or when chosen) the viewer shows server-rendered JPEGs instead of decoding DICOM.
import { computed, ref } from 'vue';

export type MobileChoice = 'auto' | 'on' | 'off';
const KEY = 'cirrus.mobile';

export function isPhone(width: number, coarsePointer: boolean): boolean {
  return width <= 600 || (coarsePointer && width <= 900);
}

const choice = ref<MobileChoice>((localStorage.getItem(KEY) as MobileChoice | null) ?? 'auto');
const phone = ref(false);

function measure(): void {
  phone.value = isPhone(window.innerWidth, window.matchMedia?.('(pointer: coarse)').matches ?? false);
}
measure();
window.addEventListener('resize', measure);

export const mobileChoice = choice;
export const mobileMode = computed(() => (choice.value === 'auto' ? phone.value : choice.value === 'on'));

export function setMobileChoice(next: MobileChoice): void {
  choice.value = next;
  localStorage.setItem(KEY, next);
}

// What the login page says when a sign-in is refused: wrong credentials, a locked account (with the time
// left), throttling, or the server's own message.
import type { MessageKey } from './i18n';
import { LoginError } from './api/auth';

type Translate = (key: MessageKey, params?: Record<string, string | number>) => string;

/** A wait in words: "45 s", "4 min 10 s", "2 h 5 min". */
export function formatWait(seconds: number, t: Translate): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return t('time.seconds', { seconds: s });
  if (s < 3600) return t('time.minutesSeconds', { minutes: Math.floor(s / 60), seconds: s % 60 });
  return t('time.hoursMinutes', { hours: Math.floor(s / 3600), minutes: Math.floor((s % 3600) / 60) });
}

export function loginFailureText(error: unknown, t: Translate): string {
  if (!(error instanceof LoginError)) return t('login.failed', { message: (error as Error)?.message ?? String(error) });
  const wait = error.retryAfter !== null && error.retryAfter > 0 ? formatWait(error.retryAfter, t) : null;
  switch (error.kind) {
    case 'credentials':
      return t('login.credentials');
    case 'locked':
      return wait ? t('login.locked', { time: wait }) : t('login.lockedNoTime');
    case 'throttled':
      return wait ? t('login.throttled', { time: wait }) : t('login.throttledNoTime');
    case 'invalid':
      return t('login.invalid');
    default:
      return t('login.failed', { message: error.message });
  }
}

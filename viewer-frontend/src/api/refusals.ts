// The server's refusal of entered values in the UI's language: each problem's code names a message,
// its parameters fill it in (parameter names as the dialog shows them); a code the UI does not know
// keeps the server's English text.
import { t, type MessageKey } from '../i18n';
import { VIEWER2_EN } from '../i18nViewer2';
import type { Problem } from './http';

const known = (key: string): key is MessageKey => key in VIEWER2_EN;

export function refusalText(problems: Problem[], nameOf: (name: string) => string): string {
  return problems
    .map((p) => {
      const key = `refusal.${p.code}`;
      if (!known(key)) return p.message;
      const params = { ...p.params };
      if (typeof params.name === 'string') params.name = nameOf(params.name);
      return t(key, params);
    })
    .join('; ');
}

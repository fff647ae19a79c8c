import { createApp } from 'vue';
import App from './App.vue';
import { PUBLIC_PAGES, loginUrl, navigate, route, setGuard, signInRedirect, startRouter } from './router';
import { clearSession, loadSession, session } from './api/auth';
import { onUnauthorized } from './api/http';
import { locale } from './i18n';
import './style.css';

document.documentElement.lang = locale.value;

// Signed-out users land on the login page (keeping the route they asked for); a 401 from any call means
// the session ended (expired, logged out elsewhere, deactivated): back to login, then on to the same page.
setGuard((target, path) => signInRedirect(target, path, session.user !== null));
onUnauthorized(() => {
  // Public pages (login, the patient's share page) answer their own 401s.
  if (PUBLIC_PAGES.has(route.page)) return;
  const wasSignedIn = session.user !== null;
  clearSession();
  const url = loginUrl(location.pathname + location.search);
  navigate(wasSignedIn ? `${url}${url.includes('?') ? '&' : '?'}expired=1` : url, true);
});
try {
  await loadSession();
} catch {
  /* the server did not answer: the login page will say so when the user tries */
}
startRouter();
createApp(App).mount('#app');

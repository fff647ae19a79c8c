// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { mount } from '@vue/test-utils';
import UserMenu from './UserMenu.vue';
import { clearSession, session, type SessionUser } from '../api/auth';
import { setLocale } from '../i18n';

const user = (role: SessionUser['role']): SessionUser => ({
  id: 7,
  username: 'li.wei',
  role,
  institution_id: 3,
  institution_name: 'County Hospital',
  display_name: 'Li Wei',
});

afterEach(() => clearSession());

describe('UserMenu', () => {
  it('shows the user and institution, and nothing when signed out', async () => {
    setLocale('en');
    expect(mount(UserMenu).find('[data-testid=user-menu]').exists()).toBe(false);
    session.user = user('reporting_doctor');
    const w = mount(UserMenu);
    expect(w.get('[data-testid=current-user]').text()).toBe('Li Wei');
    expect(w.get('[data-testid=current-user]').attributes('data-username')).toBe('li.wei');
    expect(w.get('[data-testid=current-institution]').text()).toBe('County Hospital');
  });

  it('offers the admin pages by role', async () => {
    const links = async (role: SessionUser['role']) => {
      session.user = user(role);
      const w = mount(UserMenu);
      await w.get('[data-testid=user-menu]').trigger('click');
      return w.findAll('[role=menuitem]').map((a) => a.attributes('data-testid'));
    };
    expect(await links('admin')).toEqual(['nav-tokens', 'nav-users', 'nav-presets', 'nav-institutions', 'nav-templates', 'nav-pull', 'logout', 'logout-all']);
    expect(await links('institution_admin')).toEqual(['nav-tokens', 'nav-users', 'nav-presets', 'nav-pull', 'logout', 'logout-all']);
    expect(await links('technologist')).toEqual(['nav-tokens', 'logout', 'logout-all']);
  });
});

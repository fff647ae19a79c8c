import { describe, expect, it } from 'vitest';
import type { ToolKey } from '../cornerstone';
import { TOOL_BUTTONS, useTools } from './useTools';

describe('useTools', () => {
  it('remembers the choice before cornerstone is loaded and applies it once it is', () => {
    const applied: ToolKey[] = [];
    let ready = false;
    const tools = useTools(() => (ready ? (key) => applied.push(key) : undefined));
    tools.choose('length');
    expect([tools.tool.value, applied]).toEqual(['length', []]);
    ready = true;
    tools.apply();
    tools.choose('zoom');
    expect(applied).toEqual(['length', 'zoom']);
  });

  it('offers each tool once, with its label', () => {
    const keys = TOOL_BUTTONS.map((b) => b.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toContain('wl');
    expect(TOOL_BUTTONS.every((b) => b.label === `viewer.${b.key}`)).toBe(true);
  });
});

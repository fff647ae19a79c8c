// @vitest-environment jsdom
// cornerstone3D's own ToolGroup (no stand-in): the bindings it holds after each tool switch.
import { beforeAll, describe, expect, it } from 'vitest';
import * as csTools from '@cornerstonejs/tools';
import { TOOLS, TOOL_CLASSES, TOOL_KEYS, addTools, primaryTools, setPrimaryTool, toolState } from './toolBindings';

const { MouseBindings } = csTools.Enums;
let n = 0;
function group(): csTools.Types.IToolGroup {
  n += 1;
  const g = csTools.ToolGroupManager.createToolGroup(`bindings-test-${n}`)!;
  addTools(g);
  return g;
}

beforeAll(() => {
  for (const tool of TOOL_CLASSES) csTools.addTool(tool);
});

describe('tool bindings', () => {
  it('start with window/level on the left button, pan middle, zoom right, scroll on the wheel', () => {
    const g = group();
    expect(primaryTools(g)).toEqual([TOOLS.wl]);
    expect(toolState(g, 'pan').buttons).toEqual([MouseBindings.Auxiliary]);
    expect(toolState(g, 'zoom').buttons).toEqual([MouseBindings.Secondary]);
    expect(toolState(g, 'scroll').buttons).toEqual([MouseBindings.Wheel]);
  });

  it('leave exactly one tool on the left button after every switch, for every pair of tools', () => {
    for (const from of TOOL_KEYS) {
      for (const to of TOOL_KEYS) {
        const g = group();
        setPrimaryTool(g, from);
        setPrimaryTool(g, to);
        const where = `${from} → ${to}`;
        expect(primaryTools(g), where).toEqual([TOOLS[to]]);
        expect(toolState(g, to).mode, where).toBe('Active');
        // The previous tool is passive (annotations stay editable) or keeps only its own button.
        if (from !== to) {
          const prev = toolState(g, from);
          expect(prev.buttons, where).not.toContain(MouseBindings.Primary);
          if (!['pan', 'zoom', 'scroll'].includes(from)) expect(prev.mode, where).toBe('Passive');
        }
        // Pan, zoom and scroll never lose their own buttons.
        expect(toolState(g, 'pan').buttons, where).toContain(MouseBindings.Auxiliary);
        expect(toolState(g, 'zoom').buttons, where).toContain(MouseBindings.Secondary);
        expect(toolState(g, 'scroll').buttons, where).toContain(MouseBindings.Wheel);
      }
    }
  });

  it('survive a long sequence of switches (zoom, pan, then every measurement tool)', () => {
    const g = group();
    for (const key of ['zoom', 'pan', 'length', 'zoom', 'ellipse', 'pan', 'rectangle', 'scroll', 'angle', 'magnify', 'probe', 'wl'] as const) {
      setPrimaryTool(g, key);
      expect(primaryTools(g)).toEqual([TOOLS[key]]);
    }
  });
});

describe('the magnifier lens', () => {
  it('reads the square around the cursor that fills the lens at its factor', async () => {
    const { lensSource, LENS } = await import('./toolBindings');
    expect(lensSource([300, 200], 200, 2)).toEqual({ sx: 250, sy: 150, size: 100 });
    const { size } = lensSource([0, 0], LENS.size, LENS.factor);
    expect(LENS.size / size).toBe(LENS.factor); // magnified, never a shrunken copy
  });
});

// The left-button tool: chosen in the toolbar, applied to cornerstone's tool group once it is there.
import { ref } from 'vue';
import type { ToolKey } from '../cornerstone';

export interface ToolButton {
  key: ToolKey;
  label: 'viewer.wl' | 'viewer.pan' | 'viewer.zoom' | 'viewer.scroll' | 'viewer.magnify' | 'viewer.length' | 'viewer.angle' | 'viewer.ellipse' | 'viewer.rectangle' | 'viewer.freehand' | 'viewer.probe' | 'viewer.eraser' | 'viewer.crosshair';
  icon: string;
}

export const TOOL_BUTTONS: readonly ToolButton[] = [
  { key: 'wl', label: 'viewer.wl', icon: '◐' },
  { key: 'pan', label: 'viewer.pan', icon: '✥' },
  { key: 'zoom', label: 'viewer.zoom', icon: '±' },
  { key: 'scroll', label: 'viewer.scroll', icon: '⇕' },
  { key: 'magnify', label: 'viewer.magnify', icon: '⊕' },
  { key: 'length', label: 'viewer.length', icon: '↔' },
  { key: 'angle', label: 'viewer.angle', icon: '∠' },
  { key: 'ellipse', label: 'viewer.ellipse', icon: '◯' },
  { key: 'rectangle', label: 'viewer.rectangle', icon: '▭' },
  { key: 'freehand', label: 'viewer.freehand', icon: '✎' },
  { key: 'probe', label: 'viewer.probe', icon: '⌖' },
  { key: 'eraser', label: 'viewer.eraser', icon: '⌫' },
  { key: 'crosshair', label: 'viewer.crosshair', icon: '✛' },
];

export function useTools(setPrimaryTool: () => ((key: ToolKey) => void) | undefined, initial: ToolKey = 'wl') {
  const tool = ref<ToolKey>(initial);

  function choose(key: ToolKey): void {
    tool.value = key;
    setPrimaryTool()?.(key);
  }

  /** Apply the current choice (once cornerstone is loaded). */
  function apply(): void {
    setPrimaryTool()?.(tool.value);
  }

  return { tool, choose, apply };
}

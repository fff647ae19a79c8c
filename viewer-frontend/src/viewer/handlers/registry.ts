// SOP-class handlers, looked up by SOP Class UID in a registry (as OHIF's SOPClassHandlers are), never
// switched on: a series' first instance names its SOP class, the registry returns the handler, and the
// handler turns the series' frames into a display set that says which kind of viewport shows it.
import type { FrameRef } from '../../api/client';
import { str } from '../../api/dicomJson';
import type { MessageKey } from '../../i18n';

export type DisplaySet =
  /** Images in a stack viewport; `colormap` for greyscale quantitative maps. */
  | { kind: 'stack'; handler: string; frames: FrameRef[]; colormap?: string }
  /** An encapsulated document: a button opens it (the bytes come from `uri`, WADO-RS bulk data). */
  | { kind: 'document'; handler: string; uri: string; mediaType: string }
  /** Recognised or not, nothing to show yet: the pane says so. */
  | { kind: 'unsupported'; handler: string; message: MessageKey; sopClassUid: string };

export interface SopClassHandler {
  readonly id: string;
  /** The SOP classes it is registered for. */
  readonly sopClassUids: readonly string[];
  /** The display set of a series (frames in display order; never empty). */
  displaySet(frames: FrameRef[]): DisplaySet;
}

export class HandlerRegistry {
  private readonly bySopClass = new Map<string, SopClassHandler>();

  /**
   * @param fallback shows a series whose SOP class has no handler (any image with pixel rows:
   *   CT, MR, US, ... need no entry each); `unknown` is the display set of everything else.
   */
  constructor(
    private readonly fallback: SopClassHandler,
    private readonly unknown: SopClassHandler,
  ) {}

  register(handler: SopClassHandler): this {
    for (const uid of handler.sopClassUids) {
      const taken = this.bySopClass.get(uid);
      if (taken && taken !== handler) throw new Error(`SOP class ${uid} already has the handler ${taken.id}`);
      this.bySopClass.set(uid, handler);
    }
    return this;
  }

  handlerFor(frames: FrameRef[]): SopClassHandler {
    const first = frames[0]?.meta;
    const registered = this.bySopClass.get(str(first, 'SOPClassUID'));
    if (registered) return registered;
    return first && str(first, 'Rows') ? this.fallback : this.unknown;
  }

  displaySet(frames: FrameRef[]): DisplaySet {
    return this.handlerFor(frames).displaySet(frames);
  }
}

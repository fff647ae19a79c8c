// Encapsulated PDF Storage (PS3.3 A.45.1): the document is bulk data; the pane offers to open it.
import { firstPart } from '../../api/multipart';
import { request } from '../../api/http';
import { TAGS, str } from '../../api/dicomJson';
import { SOP_CLASS } from '../sopClasses';
import type { SopClassHandler } from './registry';

export const encapsulatedPdfHandler: SopClassHandler = {
  id: 'encapsulated-pdf',
  sopClassUids: [SOP_CLASS.EncapsulatedPDFStorage],
  displaySet(frames) {
    const meta = frames[0].meta;
    const uri = meta[TAGS.EncapsulatedDocument]?.BulkDataURI;
    const sopClassUid = str(meta, 'SOPClassUID');
    if (!uri) return { kind: 'unsupported', handler: this.id, message: 'viewer.noDocument', sopClassUid };
    return { kind: 'document', handler: this.id, uri, mediaType: str(meta, 'MIMETypeOfEncapsulatedDocument') || 'application/pdf' };
  },
};

/**
 * The document's bytes as a blob URL: WADO-RS bulk data arrives as multipart/related, so its first
 * part is unwrapped (PS3.18 8.6.1.2); the caller opens the URL.
 */
export async function documentUrl(uri: string, mediaType: string): Promise<string> {
  const res = await request(uri, { accept: 'multipart/related; type="application/octet-stream"' });
  const bytes = firstPart(new Uint8Array(await res.arrayBuffer()), res.headers.get('content-type') ?? '');
  return URL.createObjectURL(new Blob([bytes as BlobPart], { type: mediaType }));
}

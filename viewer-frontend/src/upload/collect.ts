// Turning dropped or chosen files, folders and ZIP archives into a flat list of candidate DICOM files.
import { unzip } from 'fflate';
import dicomParser from 'dicom-parser';
import { hasPart10Magic, isZipMagic, looksLikeRawDataset } from './batches';

export interface Candidate {
  name: string;
  blob: Blob;
  size: number;
  /** SOP Instance UID read from the header, used to match the server's per-instance answer. */
  sopUid?: string;
  skipReason?: string;
}

interface FsEntry {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  fullPath: string;
  file?: (ok: (f: File) => void, err: (e: unknown) => void) => void;
  createReader?: () => { readEntries: (ok: (e: FsEntry[]) => void, err: (e: unknown) => void) => void };
}

async function walkEntry(entry: FsEntry, out: { name: string; blob: Blob }[]): Promise<void> {
  if (entry.isFile && entry.file) {
    const file = await new Promise<File>((ok, err) => entry.file!(ok, err));
    out.push({ name: entry.fullPath.replace(/^\//, '') || file.name, blob: file });
  } else if (entry.isDirectory && entry.createReader) {
    const reader = entry.createReader();
    // readEntries returns at most ~100 entries per call: keep asking until it returns none.
    for (;;) {
      const batch = await new Promise<FsEntry[]>((ok, err) => reader.readEntries(ok, err));
      if (!batch.length) break;
      for (const child of batch) await walkEntry(child, out);
    }
  }
}

export async function filesFromDataTransfer(dt: DataTransfer): Promise<{ name: string; blob: Blob }[]> {
  const out: { name: string; blob: Blob }[] = [];
  const entries: FsEntry[] = [];
  for (const item of Array.from(dt.items ?? [])) {
    const entry = (item as DataTransferItem & { webkitGetAsEntry?: () => FsEntry | null }).webkitGetAsEntry?.();
    if (entry) entries.push(entry);
  }
  if (entries.length) {
    for (const entry of entries) await walkEntry(entry, out);
  } else {
    for (const file of Array.from(dt.files)) out.push({ name: file.name, blob: file });
  }
  return out;
}

export function filesFromInput(list: FileList): { name: string; blob: Blob }[] {
  return Array.from(list, (f) => ({ name: f.webkitRelativePath || f.name, blob: f }));
}

async function unzipBlob(blob: Blob): Promise<Record<string, Uint8Array>> {
  const data = new Uint8Array(await blob.arrayBuffer());
  return new Promise((ok, err) => unzip(data, (e, files) => (e ? err(e) : ok(files))));
}

function readSopUid(bytes: Uint8Array): string | undefined {
  try {
    const ds = dicomParser.parseDicom(bytes, { untilTag: 'x00080018' });
    return ds.string('x00080018') || undefined;
  } catch {
    return undefined;
  }
}

const HEAD_BYTES = 64 * 1024;

async function classify(name: string, blob: Blob): Promise<Candidate[]> {
  const head = new Uint8Array(await blob.slice(0, HEAD_BYTES).arrayBuffer());
  if (isZipMagic(head)) {
    const files = await unzipBlob(blob);
    const out: Candidate[] = [];
    for (const [inner, bytes] of Object.entries(files)) {
      if (inner.endsWith('/')) continue;
      out.push(...(await classify(`${name}/${inner}`, new Blob([bytes as BlobPart]))));
    }
    return out;
  }
  const base = name.split('/').pop() ?? name;
  if (base.toUpperCase() === 'DICOMDIR') return [{ name, blob, size: blob.size, skipReason: 'DICOMDIR index' }];
  if (!hasPart10Magic(head)) {
    // Sent as is; without a SOP Instance UID the result is matched from the request's status.
    if (looksLikeRawDataset(head)) return [{ name, blob, size: blob.size }];
    return [{ name, blob, size: blob.size, skipReason: 'not a DICOM file' }];
  }
  let sopUid = readSopUid(head);
  if (!sopUid && blob.size > HEAD_BYTES) sopUid = readSopUid(new Uint8Array(await blob.arrayBuffer()));
  return [{ name, blob, size: blob.size, sopUid }];
}

export async function collectCandidates(files: { name: string; blob: Blob }[]): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const f of files) {
    try {
      out.push(...(await classify(f.name, f.blob)));
    } catch (e) {
      out.push({ name: f.name, blob: f.blob, size: f.blob.size, skipReason: `unreadable: ${(e as Error).message}` });
    }
  }
  return out;
}

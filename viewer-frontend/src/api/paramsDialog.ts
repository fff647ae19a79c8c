// Rules of the analysis parameters dialog that do not need the page: whether saving starts the
// analysis (the server queues a job once nothing is missing), and what the detector read from the
// headers that the parameter list does not carry (the vendor), to show it filled in with its source.
import type { JobDetail, ParameterName } from './jobs';

/** Saving queues the job: every missing parameter has a value and nothing else (an M0 series) is missing. */
export function startsOnSave(job: Pick<JobDetail, 'missing'>, values: Partial<Record<ParameterName, string>>, notes: string[]): boolean {
  if (notes.length) return false;
  return job.missing.every((name) => (values[name as ParameterName] ?? '').trim() !== '');
}

export interface Prefill {
  name: ParameterName;
  value: string;
  source: string;
}

/** The detected vendor (from Manufacturer and the vendor's private tags) where the dialog has no value for it. */
export function headerPrefill(job: Pick<JobDetail, 'vendor' | 'parameter_schema'>, values: Partial<Record<ParameterName, string>>): Prefill[] {
  const out: Prefill[] = [];
  const vendor = job.parameter_schema.vendor;
  if (vendor && !values.vendor && job.vendor && vendor.choices?.includes(job.vendor)) {
    out.push({ name: 'vendor', value: job.vendor, source: 'Manufacturer' });
  }
  return out;
}

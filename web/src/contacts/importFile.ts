// Pure helpers of the contact import (SPEC OUT-6): what to send, and how to read a plan.
import type { ImportAction, ImportNumber, ImportPlan, PlannedContact } from '../api/types';

/** The server's limit on a contact file (413 above it); checked before uploading. */
export const MAX_IMPORT_BYTES = 2 * 1024 * 1024;

/** What the file picker offers. */
export const IMPORT_ACCEPT = '.vcf,.vcard,.csv,.tsv,.txt,text/vcard,text/x-vcard,text/csv';

/**
 * The content type to upload a picked file with. Browsers often give a `.vcf` no type and a
 * `.csv` Excel's type, so the extension comes first; the server also looks at the content.
 */
export function importContentType(name: string, type: string): string {
  const ext = name.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1] ?? '';
  if (ext === 'vcf' || ext === 'vcard') return 'text/vcard';
  if (ext === 'csv' || ext === 'tsv') return 'text/csv';
  const t = type.trim().toLowerCase();
  if (t === 'text/vcard' || t === 'text/x-vcard' || t === 'text/directory') return 'text/vcard';
  if (t === 'text/csv' || t === 'application/vnd.ms-excel' || t === 'text/tab-separated-values') return 'text/csv';
  return 'application/octet-stream';
}

/** Why a picked file is not worth sending, or null. */
export function fileProblem(file: { size: number }): 'empty' | 'tooLarge' | null {
  if (file.size === 0) return 'empty';
  if (file.size > MAX_IMPORT_BYTES) return 'tooLarge';
  return null;
}

/** The numbers a contact saves (on its new lead, or added to the customer it joins). */
export function savedNumbers(c: PlannedContact): ImportNumber[] {
  return c.numbers.filter((n) => !n.known);
}

/** Whether applying the plan changes anything (new leads, or customers that get numbers or a name). */
export function planHasWork(plan: ImportPlan): boolean {
  return plan.counts.create + plan.counts.updated > 0;
}

export type ImportFilter = 'all' | ImportAction;

/** The contacts a filter shows, in file order. */
export function filterContacts(plan: ImportPlan, filter: ImportFilter): PlannedContact[] {
  return filter === 'all' ? plan.contacts : plan.contacts.filter((c) => c.action === filter);
}

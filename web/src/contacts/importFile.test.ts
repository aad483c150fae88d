import { describe, expect, it } from 'vitest';
import type { ImportPlan, PlannedContact } from '../api/types';
import { MAX_IMPORT_BYTES, fileProblem, filterContacts, importContentType, planHasWork, savedNumbers } from './importFile';

const contact = (over: Partial<PlannedContact>): PlannedContact => ({
  index: 1,
  name: 'A',
  numbers: [],
  action: 'create',
  customer: null,
  sets_name: false,
  skip_reason: null,
  problems: [],
  ...over,
});

const plan = (contacts: PlannedContact[], counts: Partial<ImportPlan['counts']> = {}): ImportPlan => ({
  format: 'vcard',
  encoding: 'utf-8',
  columns: [],
  ignored_columns: [],
  contacts,
  counts: { contacts: contacts.length, join: 0, updated: 0, create: 0, skip: 0, ...counts },
  applied: false,
  digest: 'd',
});

describe('importContentType', () => {
  it('goes by the extension first: browsers give .vcf no type and .csv an Excel type', () => {
    expect(importContentType('contacts.vcf', '')).toBe('text/vcard');
    expect(importContentType('Contacts.VCF', 'application/octet-stream')).toBe('text/vcard');
    expect(importContentType('export.csv', 'application/vnd.ms-excel')).toBe('text/csv');
    expect(importContentType('連絡先.csv', '')).toBe('text/csv');
  });
  it('then by the browser type, and leaves the rest to the server', () => {
    expect(importContentType('contacts', 'text/x-vcard')).toBe('text/vcard');
    expect(importContentType('list.txt', 'text/plain')).toBe('application/octet-stream');
    expect(importContentType('noext', '')).toBe('application/octet-stream');
  });
});

describe('fileProblem', () => {
  it('refuses empty and over-limit files before uploading', () => {
    expect(fileProblem({ size: 0 })).toBe('empty');
    expect(fileProblem({ size: MAX_IMPORT_BYTES })).toBeNull();
    expect(fileProblem({ size: MAX_IMPORT_BYTES + 1 })).toBe('tooLarge');
  });
});

describe('plans', () => {
  const join = contact({
    index: 1,
    action: 'join',
    customer: { id: 4, name: 'Yamada', blocked: false },
    numbers: [
      { number: '+819011112222', display: '090-1111-2222', known: true, mobile: null },
      { number: '+818099990000', display: '080-9999-0000', known: false, mobile: true },
    ],
  });
  const create = contact({ index: 2, numbers: [{ number: '+81665432100', display: '06-6543-2100', known: false, mobile: null }] });
  const skip = contact({ index: 3, action: 'skip', skip_reason: 'no_number' });

  it('says which numbers are saved', () => {
    expect(savedNumbers(join).map((n) => n.number)).toEqual(['+818099990000']);
    expect(savedNumbers(create)).toHaveLength(1);
    expect(savedNumbers(skip)).toEqual([]);
  });
  it('has work only with new leads or changed customers', () => {
    expect(planHasWork(plan([join, create, skip], { join: 1, updated: 1, create: 1, skip: 1 }))).toBe(true);
    expect(planHasWork(plan([join], { join: 1 }))).toBe(false);
    expect(planHasWork(plan([skip], { skip: 1 }))).toBe(false);
  });
  it('filters by action in file order', () => {
    const p = plan([join, create, skip]);
    expect(filterContacts(p, 'all').map((c) => c.index)).toEqual([1, 2, 3]);
    expect(filterContacts(p, 'skip').map((c) => c.index)).toEqual([3]);
    expect(filterContacts(p, 'join').map((c) => c.index)).toEqual([1]);
  });
});

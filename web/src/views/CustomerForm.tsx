import { useState, type FormEvent } from 'react';
import type { Customer, CustomerInput } from '../api/types';
import { useI18n } from '../i18n/context';

interface PhoneRow {
  number: string;
  mobile: boolean;
}
interface FieldRow {
  key: string;
  value: string;
}

export function emptyInput(): CustomerInput {
  return { name: '', kind: 'lead', blocked: false, phones: [], profile: {} };
}

export function toInput(c: Customer): CustomerInput {
  return {
    name: c.name,
    kind: c.kind,
    blocked: c.blocked,
    phones: c.phones.map((p) => ({ number: p.display || p.number, mobile: p.mobile })),
    profile: { ...c.profile },
  };
}

/** Edits a customer's name, kind, blocked flag, phone numbers and profile fields. */
export function CustomerForm({
  initial,
  submitLabel,
  busy,
  onSubmit,
  onCancel,
  onDirty,
  showKind = true,
}: {
  initial: CustomerInput;
  submitLabel: string;
  busy: boolean;
  onSubmit: (input: CustomerInput) => void;
  onCancel?: () => void;
  /** Called when the user first changes something. */
  onDirty?: () => void;
  showKind?: boolean;
}) {
  const { t } = useI18n();
  const [name, setName] = useState(initial.name ?? '');
  const [kind, setKind] = useState<Customer['kind']>(initial.kind ?? 'lead');
  const [blocked, setBlocked] = useState(!!initial.blocked);
  const [phones, setPhones] = useState<PhoneRow[]>(() => (initial.phones ?? []).map((p) => ({ number: p.number, mobile: !!p.mobile })));
  const [fields, setFields] = useState<FieldRow[]>(() => Object.entries(initial.profile ?? {}).map(([key, value]) => ({ key, value: String(value) })));

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const profile: Record<string, string> = {};
    for (const f of fields) if (f.key.trim()) profile[f.key.trim()] = f.value;
    onSubmit({
      name: name.trim(),
      ...(showKind ? { kind } : {}),
      blocked,
      phones: phones.filter((p) => p.number.trim()).map((p) => ({ number: p.number.trim(), mobile: p.mobile })),
      profile,
    });
  };

  return (
    <form className="customer-form" onSubmit={submit} onChange={onDirty} onClick={(e) => {
      if (e.target instanceof HTMLButtonElement && e.target.type === 'button') onDirty?.();
    }} data-testid="customer-form">
      <label className="field">
        <span>{t('customer.name')}</span>
        <input data-testid="customer-name-input" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      {showKind && (
        <label className="field">
          <span>{t('customer.kind')}</span>
          <select value={kind} onChange={(e) => setKind(e.target.value === 'member' ? 'member' : 'lead')}>
            <option value="lead">{t('customer.lead')}</option>
            <option value="member">{t('customer.member')}</option>
          </select>
        </label>
      )}
      <label className="check">
        <input type="checkbox" data-testid="customer-blocked-input" checked={blocked} onChange={(e) => setBlocked(e.target.checked)} />
        <span>{t('customer.blocked')}</span>
        <span className="muted small">{t('customer.blockedHelp')}</span>
      </label>
      <fieldset>
        <legend>{t('customer.phones')}</legend>
        {phones.map((p, i) => (
          <div className="row" key={i}>
            <input
              aria-label={t('customer.number')}
              data-testid="phone-input"
              inputMode="tel"
              className="mono grow"
              value={p.number}
              onChange={(e) => setPhones((ps) => ps.map((x, j) => (j === i ? { ...x, number: e.target.value } : x)))}
            />
            <label className="check">
              <input type="checkbox" checked={p.mobile} onChange={(e) => setPhones((ps) => ps.map((x, j) => (j === i ? { ...x, mobile: e.target.checked } : x)))} />
              <span>{t('customer.mobile')}</span>
            </label>
            <button type="button" className="ghost" aria-label={t('customer.removePhone', { number: p.number })} onClick={() => setPhones((ps) => ps.filter((_, j) => j !== i))}>
              ×
            </button>
          </div>
        ))}
        <button type="button" className="link" data-testid="add-phone" onClick={() => setPhones((ps) => [...ps, { number: '', mobile: false }])}>
          + {t('customer.addPhone')}
        </button>
      </fieldset>
      <fieldset>
        <legend>{t('customer.profile')}</legend>
        {fields.map((f, i) => (
          <div className="row" key={i}>
            <input aria-label={t('customer.field')} placeholder={t('customer.field')} value={f.key} onChange={(e) => setFields((fs) => fs.map((x, j) => (j === i ? { ...x, key: e.target.value } : x)))} />
            <input aria-label={t('customer.value')} placeholder={t('customer.value')} className="grow" value={f.value} onChange={(e) => setFields((fs) => fs.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)))} />
            <button type="button" className="ghost" aria-label={t('customer.removeField', { field: f.key })} onClick={() => setFields((fs) => fs.filter((_, j) => j !== i))}>
              ×
            </button>
          </div>
        ))}
        <button type="button" className="link" onClick={() => setFields((fs) => [...fs, { key: '', value: '' }])}>
          + {t('customer.addField')}
        </button>
      </fieldset>
      <div className="row end">
        {onCancel && (
          <button type="button" className="ghost" onClick={onCancel}>
            {t('common.cancel')}
          </button>
        )}
        <button type="submit" className="primary" data-testid="customer-save" disabled={busy}>
          {submitLabel}
        </button>
      </div>
    </form>
  );
}

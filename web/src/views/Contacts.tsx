import { useEffect, useRef, useState } from 'react';
import type { Customer, CustomerInput } from '../api/types';
import { useConsole, useEvents } from '../console';
import { useI18n } from '../i18n/context';
import { ErrorNote } from '../components/ErrorNote';
import { go, href } from '../router';
import { KindBadge } from './CustomerPanel';
import { CustomerForm, emptyInput } from './CustomerForm';
import { ContactImport } from './ContactImport';

export function Contacts() {
  const { t } = useI18n();
  const c = useConsole();
  const [q, setQ] = useState('');
  const [shown, setShown] = useState<{ q: string; list: Customer[] } | null>(null);
  const list = shown?.list ?? null;
  const [error, setError] = useState<unknown>(null);
  const [adding, setAdding] = useState(false);
  const [busy, setBusy] = useState(false);
  const [addError, setAddError] = useState<unknown>(null);
  const [importing, setImporting] = useState(false);
  const seq = useRef(0);
  const [tick, setTick] = useState(0);
  /** A reload for pushed customer events waits a little: an import pushes one per contact. */
  const eventReload = useRef(false);

  useEffect(() => {
    const n = ++seq.current;
    const delay = q ? 250 : eventReload.current ? 300 : 0;
    eventReload.current = false;
    const timer = setTimeout(() => {
      c.api.customers(c.cid, q, 100).then(
        (r) => {
          if (n === seq.current) {
            setShown({ q: q.trim(), list: r });
            setError(null);
          }
        },
        (e: unknown) => {
          if (n === seq.current) setError(e);
        },
      );
    }, delay);
    return () => clearTimeout(timer);
  }, [c.api, c.cid, q, tick]);

  useEvents((e) => {
    if (e.kind === 'customer_created' || e.kind === 'customer_updated' || e.kind === 'customer_deleted' || e.kind === 'resync') {
      eventReload.current = true;
      setTick((x) => x + 1);
    }
  });

  const create = (input: CustomerInput) => {
    setBusy(true);
    setAddError(null);
    c.api.createCustomer(c.cid, { ...input, kind: 'lead' }).then(
      (cu) => go({ name: 'customer', id: cu.id }),
      (e: unknown) => {
        setAddError(e);
        setBusy(false);
      },
    );
  };

  return (
    <section className="narrow wide-narrow" aria-labelledby="contacts-title">
      <div className="page-head">
        <h1 id="contacts-title">{t('contacts.title')}</h1>
        <div className="page-actions" role="group" aria-label={t('contacts.actions')}>
          <button type="button" data-testid="import-contacts" aria-expanded={importing} onClick={() => setImporting((i) => !i)}>
            {t('contacts.import')}
          </button>
          <button type="button" className="primary" data-testid="add-lead" aria-expanded={adding} onClick={() => setAdding((a) => !a)}>
            + {t('contacts.add')}
          </button>
        </div>
      </div>
      {importing && <ContactImport onClose={() => setImporting(false)} onApplied={() => setTick((x) => x + 1)} />}
      {adding && (
        <div className="card">
          <h2>{t('newLead.title')}</h2>
          <CustomerForm initial={emptyInput()} submitLabel={t('newLead.create')} busy={busy} showKind={false} onSubmit={create} onCancel={() => setAdding(false)} />
          <ErrorNote error={addError} />
        </div>
      )}
      <label className="field search-field">
        <span>{t('contacts.search')}</span>
        <input type="search" data-testid="contacts-search" value={q} onChange={(e) => setQ(e.target.value)} />
      </label>
      <ErrorNote error={error} />
      <div data-testid="contact-results" data-query={shown?.q} aria-live="polite">
      {list === null ? (
        <p className="muted" role="status">{t('common.loading')}</p>
      ) : list.length === 0 ? (
        <p className="empty">{t('contacts.empty')}</p>
      ) : (
        <ul className="contact-list" aria-label={t('contacts.results')} data-testid="contact-list">
          {list.map((cu) => (
            <li key={cu.id}>
              <a className="contact-row" href={href({ name: 'customer', id: cu.id })} data-testid="contact-row" data-customer-id={cu.id} data-blocked={cu.blocked ? 'yes' : 'no'}>
                <span className="contact-name">
                  <strong>{cu.name || t('customer.unnamed')}</strong> <KindBadge kind={cu.kind} />
                  {cu.blocked && (
                    <span className="badge blocked" data-testid="contact-blocked">
                      {t('customer.blocked')}
                    </span>
                  )}
                </span>
                <span className="mono muted">{cu.phones.map((p) => p.display || p.number).join(', ')}</span>
              </a>
            </li>
          ))}
        </ul>
      )}
      </div>
    </section>
  );
}

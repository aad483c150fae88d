import { useCallback, useEffect, useState } from 'react';
import type { ChatSummary, Customer, CustomerInput } from '../api/types';
import { defaultFilter } from '../api/query';
import { useConsole, useEvents } from '../console';
import { useI18n } from '../i18n/context';
import { upsertChat } from '../state/reducers';
import { ErrorNote } from '../components/ErrorNote';
import { MediumIcon } from '../components/icons';
import { fmtTime } from '../util';
import { href } from '../router';
import { CallNumber, KindBadge } from './CustomerPanel';
import { CustomerForm, toInput } from './CustomerForm';

export function CustomerPage({ id }: { id: number }) {
  const { t, lang } = useI18n();
  const c = useConsole();
  const [customer, setCustomer] = useState<Customer | null>(null);
  const [version, setVersion] = useState(0); // remounts the form with fresh values
  const [loadError, setLoadError] = useState<unknown>(null);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const [chats, setChats] = useState<ChatSummary[]>([]);
  const [dirty, setDirty] = useState(false);
  /** A newer version from someone else, held back while the form has unsaved edits. */
  const [theirs, setTheirs] = useState<Customer | null>(null);
  const chatFilter = { ...defaultFilter, state: '' as const, customer: id };

  const load = useCallback(() => {
    c.api.customer(c.cid, id).then(
      (cu) => {
        setCustomer(cu);
        setVersion((v) => v + 1);
        setDirty(false);
        setTheirs(null);
      },
      (e: unknown) => setLoadError(e),
    );
    c.api.chats(c.cid, { state: '', customer: id }, { limit: 200 }).then((p) => setChats(p.chats), () => {});
  }, [c.api, c.cid, id]);
  useEffect(load, [load]);

  useEvents((e) => {
    if (e.kind === 'resync') load();
    if (e.kind === 'customer_updated' && e.data.customer?.id === id && !busy) {
      if (dirty) {
        setTheirs(e.data.customer);
      } else {
        setCustomer(e.data.customer);
        setVersion((v) => v + 1);
      }
    }
    const chat = e.data.chat;
    if (chat && chat.customer.id === id) setChats((l) => upsertChat(l, chat, chatFilter, c.me.staff.id));
  });

  /** Blocks or unblocks at once (SPEC OUT-4), without the rest of the form. */
  const toggleBlocked = () => {
    if (!customer) return;
    setBusy(true);
    setSaved(false);
    setSaveError(null);
    c.api.updateCustomer(c.cid, id, { blocked: !customer.blocked }).then(
      (cu) => {
        setCustomer(cu);
        setVersion((v) => v + 1);
        setTheirs(null);
      },
      (e: unknown) => setSaveError(e),
    ).finally(() => setBusy(false));
  };

  const save = (input: CustomerInput) => {
    setBusy(true);
    setSaved(false);
    setSaveError(null);
    c.api.updateCustomer(c.cid, id, input).then(
      (cu) => {
        setCustomer(cu);
        setVersion((v) => v + 1);
        setSaved(true);
        setDirty(false);
        setTheirs(null);
      },
      (e: unknown) => setSaveError(e),
    ).finally(() => setBusy(false));
  };

  if (loadError) {
    return (
      <section className="narrow">
        <a href={href({ name: 'contacts' })}>← {t('customer.back')}</a>
        <ErrorNote error={loadError} />
      </section>
    );
  }
  if (!customer) return <p className="muted narrow" role="status">{t('common.loading')}</p>;

  return (
    <section className="customer-page" aria-labelledby="customer-title" data-testid="customer-page" data-customer-id={customer.id}>
      <a className="small" href={href({ name: 'contacts' })}>
        ← {t('customer.back')}
      </a>
      <div className="page-head">
        <h1 id="customer-title">{customer.name || t('customer.unnamed')}</h1>
        <KindBadge kind={customer.kind} />
        {customer.blocked && (
          <span className="badge blocked" data-testid="customer-blocked" title={t('customer.blockedHelp')}>
            {t('customer.blocked')}
          </span>
        )}
        <span className="muted small">{t('customer.created', { time: fmtTime(customer.created_at, lang, c.timeZone) })}</span>
        <button
          type="button"
          className={customer.blocked ? undefined : 'danger'}
          data-testid="customer-block-toggle"
          data-blocked={customer.blocked ? 'yes' : 'no'}
          disabled={busy || dirty}
          title={dirty ? t('customer.blockDirty') : t('customer.blockedHelp')}
          onClick={toggleBlocked}
        >
          {customer.blocked ? t('customer.unblock') : t('customer.block')}
        </button>
        {customer.phones.map((p) => (
          <CallNumber key={p.number} customer={customer} number={p.number} label={p.display || p.number} />
        ))}
      </div>
      <div className="customer-grid">
        <div className="card">
          {theirs && (
            <div className="notice" role="status" data-testid="customer-changed-elsewhere">
              <span>{t('customer.changedElsewhere')}</span>{' '}
              <button
                type="button"
                className="link"
                onClick={() => {
                  setCustomer(theirs);
                  setTheirs(null);
                  setDirty(false);
                  setVersion((v) => v + 1);
                }}
              >
                {t('customer.loadLatest')}
              </button>
            </div>
          )}
          <CustomerForm
            key={version}
            initial={toInput(customer)}
            submitLabel={t('customer.save')}
            busy={busy}
            onSubmit={save}
            onDirty={() => {
              setDirty(true);
              setSaved(false);
            }}
          />
          {saved && (
            <p className="ok" role="status" data-testid="customer-saved">
              {t('customer.saved')}
            </p>
          )}
          <ErrorNote error={saveError} />
        </div>
        <div className="card">
          <h2>{t('customer.chats')}</h2>
          {chats.length === 0 ? (
            <p className="muted">{t('customer.noChats')}</p>
          ) : (
            <ul className="plain customer-chats" data-testid="customer-chats">
              {chats.map((ch) => (
                <li key={ch.id}>
                  <a href={href({ name: 'inbox', chatId: ch.id })} data-testid="customer-chat">
                    <MediumIcon medium={ch.medium} label={t(`medium.${ch.medium}`)} />
                    <span className={`badge state-${ch.state}`}>{t(`state.${ch.state}`)}</span>
                    <span className="grow">{ch.preview || t('inbox.noPreview')}</span>
                    <time className="muted small" dateTime={ch.updated_at}>
                      {fmtTime(ch.updated_at, lang, c.timeZone)}
                    </time>
                  </a>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </section>
  );
}

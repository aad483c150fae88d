import type { Customer } from '../api/types';
import { useConsole } from '../console';
import { useI18n } from '../i18n/context';
import { href } from '../router';

export function KindBadge({ kind }: { kind: Customer['kind'] }) {
  const { t } = useI18n();
  return <span className={`badge kind-${kind}`}>{kind === 'lead' ? t('customer.lead') : t('customer.member')}</span>;
}

/** A call button for one of the customer's numbers (SPEC OUT-1); `fromChatId`: started from
 * that chat, the call still gets a new one (OUT-3). */
export function CallNumber({ customer, number, fromChatId, label, testid = 'call-number' }: { customer: Customer; number: string; fromChatId?: number; label?: string; testid?: string }) {
  const { t } = useI18n();
  const c = useConsole();
  return (
    <button
      type="button"
      className="link small call-number"
      data-testid={testid}
      data-number={number}
      onClick={() => c.dial({ to: number, customerId: customer.id, fromChatId })}
    >
      {label ? `${t('call.callButton')} ${label}` : t('call.callButton')}
    </button>
  );
}

/** The customer side panel of the chat view. */
export function CustomerPanel({ customer, chatId }: { customer: Customer; chatId?: number }) {
  const { t } = useI18n();
  const fields = Object.entries(customer.profile ?? {});
  return (
    <section className="side-card customer-panel" aria-labelledby="customer-panel-title" data-testid="customer-panel">
      <h3 id="customer-panel-title">{t('customer.panel')}</h3>
      <p className="customer-name">
        <strong data-testid="customer-name">{customer.name || t('customer.unnamed')}</strong> <KindBadge kind={customer.kind} />
        {customer.blocked && (
          <span className="badge blocked" data-testid="customer-blocked" title={t('customer.blockedHelp')}>
            {t('customer.blocked')}
          </span>
        )}
      </p>
      <h4>{t('customer.phones')}</h4>
      {customer.phones.length === 0 ? (
        <p className="muted small">{t('customer.noPhones')}</p>
      ) : (
        <ul className="plain" data-testid="customer-phones">
          {customer.phones.map((p) => (
            <li key={p.number}>
              <span className="mono">{p.display || p.number}</span>
              {p.mobile && <span className="badge small-badge">{t('customer.mobile')}</span>}{' '}
              <CallNumber customer={customer} number={p.number} fromChatId={chatId} />
            </li>
          ))}
        </ul>
      )}
      <h4>{t('customer.profile')}</h4>
      {fields.length === 0 ? (
        <p className="muted small">{t('customer.noProfile')}</p>
      ) : (
        <dl className="profile">
          {fields.map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      )}
      <a href={href({ name: 'customer', id: customer.id })} data-testid="open-customer">
        {t('customer.openPage')}
      </a>
    </section>
  );
}

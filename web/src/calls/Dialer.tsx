// The dialpad for calling out (SPEC OUT-1, OUT-2, OUT-4): a number typed or pasted in any
// common format, the customer it belongs to shown while typing (or that it becomes a lead),
// a blocked customer's number warned about and confirmed before the call.
import { useEffect, useState } from 'react';
import type { DialLookup, RecentCall } from '../api/types';
import { useConsole } from '../console';
import { useI18n } from '../i18n/context';

/** Where a call is started from: prefilled number, the customer's page, a chat. */
export interface DialRequest {
  to?: string;
  customerId?: number;
  fromChatId?: number;
}

interface Props {
  request: DialRequest;
  /** I am in a call already (SPEC AS-5): calling waits until it ends. */
  busy: boolean;
  /** The number whose blocked customer must be confirmed, after the server asked. */
  confirmFor: string | null;
  onCall: (to: string, confirmBlocked: boolean) => void;
  onClose: () => void;
}

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#', '+'];

export function Dialer({ request, busy, confirmFor, onCall, onClose }: Props) {
  const { t } = useI18n();
  const c = useConsole();
  const [number, setNumber] = useState(request.to ?? '');
  const [lookup, setLookup] = useState<DialLookup | null>(null);
  const [calling, setCalling] = useState(false);
  const [recent, setRecent] = useState<RecentCall[]>([]);

  useEffect(() => setNumber(request.to ?? ''), [request.to]);
  useEffect(() => setCalling(false), [confirmFor]);
  // My recent calls, to call back (SPEC OUT-1).
  useEffect(() => {
    let live = true;
    c.api.recentCalls(c.cid).then(
      (r) => live && setRecent(r),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [c.api, c.cid]);
  // The customer behind the number while typing (a short pause first).
  useEffect(() => {
    const n = number.trim();
    if (!n) {
      setLookup(null);
      return;
    }
    let live = true;
    const timer = setTimeout(() => {
      c.api.dialLookup(c.cid, n).then(
        (l) => live && setLookup(l),
        () => live && setLookup(null),
      );
    }, 150);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [number, c.api, c.cid]);

  const seat = c.membership.operator_seat;
  const valid = lookup?.e164 != null && lookup.e164 !== '';
  const blocked = lookup?.customer?.blocked === true;
  const call = (confirm: boolean) => {
    setCalling(true);
    onCall(number.trim(), confirm);
  };

  return (
    <section className="dialer" role="dialog" aria-label={t('dial.title')} data-testid="dialer">
      <div className="dialer-head">
        <strong>{t('dial.title')}</strong>
        <button type="button" className="link" data-testid="dial-close" onClick={onClose}>
          {t('common.cancel')}
        </button>
      </div>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (valid && !busy && seat && !calling) call(false);
        }}
      >
        <input
          className="dial-number"
          data-testid="dial-number"
          inputMode="tel"
          autoFocus
          placeholder={t('dial.placeholder')}
          value={number}
          onChange={(e) => setNumber(e.target.value)}
        />
        <p className="dial-who" data-testid="dial-who" aria-live="polite">
          {lookup?.error
            ? t('dial.invalid', { why: lookup.error })
            : lookup?.customer
              ? `${lookup.customer.name || t('customer.unnamed')} · ${lookup.display ?? ''}`
              : lookup?.display
                ? t('dial.newLead', { number: lookup.display })
                : ''}
        </p>
        {blocked && (
          <p className="warning" data-testid="dial-blocked">
            {t('dial.blockedWarning')}
          </p>
        )}
        <div className="dialpad" role="group" aria-label={t('call.dialpad')}>
          {KEYS.map((k) => (
            <button key={k} type="button" data-testid={`dial-key-${k}`} onClick={() => setNumber((n) => n + k)}>
              {k}
            </button>
          ))}
        </div>
        {!seat && <p className="warning">{t('dial.noSeat')}</p>}
        {busy && <p className="muted small">{t('dial.busy')}</p>}
        {confirmFor !== null && confirmFor === number.trim() ? (
          <div className="confirm" role="alertdialog" data-testid="blocked-confirm">
            <p>{t('dial.confirmBlocked')}</p>
            <button type="button" className="danger" data-testid="confirm-blocked" onClick={() => call(true)}>
              {t('dial.callAnyway')}
            </button>
            <button type="button" onClick={onClose}>
              {t('common.cancel')}
            </button>
          </div>
        ) : (
          <button type="submit" className="primary" data-testid="dial-call" disabled={!valid || busy || !seat || calling}>
            {t('dial.call')}
          </button>
        )}
      </form>
      {recent.length > 0 && (
        <div className="recent-calls">
          <h4>{t('dial.recent')}</h4>
          <ul className="plain" data-testid="recent-calls">
            {recent.slice(0, 8).map((r) => (
              <li key={r.call_id}>
                <button type="button" className="link" data-testid="recent-call" data-number={r.number} onClick={() => setNumber(r.number)}>
                  <span aria-hidden="true">{r.direction === 'outbound' ? '↗' : '↙'}</span> {r.customer_name || r.display}
                </button>{' '}
                <span className="muted small">
                  {r.customer_name ? `${r.display} · ` : ''}
                  {r.outcome ? t(`dial.outcome.${r.outcome}` as 'dial.outcome.answered') : ''}
                </span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

import { useEffect, useState } from 'react';
import type { SettingKey, SipAccount } from '../api/types';
import { useConsole } from '../console';
import { useI18n } from '../i18n/context';
import { ErrorNote } from '../components/ErrorNote';

const KEYS: readonly SettingKey[] = ['unassigned_call_notification', 'do_not_disturb', 'auto_mute_on_join'];

export function SettingsPage() {
  const { t } = useI18n();
  const c = useConsole();
  const settings = c.me.settings;
  const [pending, setPending] = useState<SettingKey | null>(null);
  const [saved, setSaved] = useState<SettingKey | null>(null);
  const [error, setError] = useState<unknown>(null);

  const toggle = (k: SettingKey, v: boolean) => {
    setPending(k);
    setSaved(null);
    setError(null);
    c.api.patchSettings({ [k]: v }).then(
      (s) => {
        c.setSettings(s);
        setSaved(k);
      },
      (e: unknown) => setError(e),
    ).finally(() => setPending(null));
  };

  return (
    <section className="narrow" aria-labelledby="settings-title">
      <h1 id="settings-title">{t('settings.title')}</h1>
      <div className="card">
        <ul className="settings-list">
          {KEYS.map((k) => (
            <li key={k}>
              <label className="switch-row">
                <span className="switch-text">
                  <strong>{t(`settings.${k}`)}</strong>
                  <span className="muted small" id={`help-${k}`}>
                    {t(`settings.${k}.help`)}
                  </span>
                </span>
                <input
                  type="checkbox"
                  role="switch"
                  className="switch"
                  data-testid={`setting-${k}`}
                  aria-describedby={`help-${k}`}
                  checked={settings[k]}
                  disabled={pending === k}
                  onChange={(e) => toggle(k, e.target.checked)}
                />
              </label>
              {saved === k && (
                <span className="ok small" role="status">
                  {t('settings.saved')}
                </span>
              )}
            </li>
          ))}
        </ul>
        <ErrorNote error={error} />
      </div>
      <SoftphoneCard />
      <h2>{t('settings.account')}</h2>
      <p className="muted">
        {c.me.staff.name} · {c.me.staff.email}
      </p>
    </section>
  );
}

/** The staff member's SIP softphone account: what to type into a SIP phone to register. */
function SoftphoneCard() {
  const { t } = useI18n();
  const c = useConsole();
  const [account, setAccount] = useState<SipAccount | null | undefined>(undefined);
  const [shown, setShown] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let live = true;
    c.api.getSipAccount().then(
      (a) => live && setAccount(a),
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [c.api]);

  const renew = () => {
    setBusy(true);
    setError(null);
    c.api
      .putSipAccount()
      .then(
        (a) => {
          setAccount(a);
          setShown(true);
        },
        (e: unknown) => setError(e),
      )
      .finally(() => setBusy(false));
  };

  return (
    <>
      <h2>{t('settings.sip.title')}</h2>
      <div className="card" data-testid="sip-account">
        <p className="muted small">{t('settings.sip.help')}</p>
        {account === null && <p>{t('settings.sip.none')}</p>}
        {account && (
          <dl className="kv">
            <dt>{t('settings.sip.username')}</dt>
            <dd>
              <code data-testid="sip-username">{account.username}</code>
            </dd>
            <dt>{t('settings.sip.password')}</dt>
            <dd>
              <code data-testid="sip-password">{shown ? account.password : '••••••••••••'}</code>{' '}
              <button type="button" className="link" onClick={() => setShown(!shown)}>
                {shown ? t('settings.sip.hide') : t('settings.sip.show')}
              </button>
            </dd>
            <dt>{t('settings.sip.server')}</dt>
            <dd>
              <code data-testid="sip-server">{`sip:${account.username}@${location.hostname}`}</code>
            </dd>
          </dl>
        )}
        {account !== undefined && (
          <button type="button" data-testid="sip-renew" disabled={busy} onClick={renew}>
            {account ? t('settings.sip.renew') : t('settings.sip.create')}
          </button>
        )}
        <ErrorNote error={error} />
      </div>
    </>
  );
}

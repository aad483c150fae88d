import { useEffect, useState, type FormEvent } from 'react';
import type { ApiKey, ApiKeyCreated, SettingKey, SipAccount } from '../api/types';
import { useConsole } from '../console';
import { useI18n } from '../i18n/context';
import { ErrorNote } from '../components/ErrorNote';
import { fmtTime } from '../util';

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
      {(c.membership.role === 'owner' || c.membership.role === 'manager') && <ApiKeysCard />}
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

/** The channel's API keys (managers): BI tools read the OData feed with one (SPEC ST-5, ST-6). */
function ApiKeysCard() {
  const { t, lang } = useI18n();
  const c = useConsole();
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const base = `/api/v1/channels/${c.cid}/api-keys`;

  useEffect(() => {
    let live = true;
    c.api.request<ApiKey[]>('GET', base).then(
      (k) => live && setKeys(k),
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [c.api, base]);

  const create = (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    if (!n) return;
    setBusy(true);
    setError(null);
    c.api
      .request<ApiKeyCreated>('POST', base, { name: n })
      .then(
        (k) => {
          setCreated(k);
          setKeys((ks) => [...(ks ?? []), k.key]);
          setName('');
        },
        (err: unknown) => setError(err),
      )
      .finally(() => setBusy(false));
  };

  const revoke = (k: ApiKey) => {
    if (!window.confirm(t('apiKeys.revokeConfirm', { name: k.name }))) return;
    setError(null);
    c.api.request<void>('DELETE', `${base}/${k.id}`).then(
      () => {
        setKeys((ks) => (ks ?? []).filter((x) => x.id !== k.id));
        setCreated((cr) => (cr && cr.key.id === k.id ? null : cr));
      },
      (err: unknown) => setError(err),
    );
  };

  return (
    <>
      <h2>{t('apiKeys.title')}</h2>
      <div className="card" data-testid="api-keys">
        <p className="muted small">{t('apiKeys.help')}</p>
        <dl className="kv">
          <dt>{t('apiKeys.feed')}</dt>
          <dd>
            <code data-testid="odata-url">{`${location.origin}/open/v1/odata/`}</code>
          </dd>
        </dl>
        {created && (
          <div className="notice" role="status" data-testid="api-key-created">
            <p className="small">{t('apiKeys.secretOnce')}</p>
            <dl className="kv">
              <dt>{t('apiKeys.accessKey')}</dt>
              <dd>
                <code data-testid="api-key-access">{created.key.access_key}</code>
              </dd>
              <dt>{t('apiKeys.secret')}</dt>
              <dd>
                <code data-testid="api-key-secret">{created.secret}</code>
              </dd>
            </dl>
          </div>
        )}
        {keys && keys.length === 0 && <p>{t('apiKeys.none')}</p>}
        {keys && keys.length > 0 && (
          <table className="keys-table" data-testid="api-key-list">
            <thead>
              <tr>
                <th scope="col">{t('apiKeys.name')}</th>
                <th scope="col">{t('apiKeys.accessKey')}</th>
                <th scope="col">{t('apiKeys.created')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k.id} data-key-id={k.id}>
                  <td>{k.name}</td>
                  <td>
                    <code>{k.access_key}</code>
                  </td>
                  <td>{fmtTime(k.created_at, lang, c.timeZone)}</td>
                  <td>
                    <button type="button" className="link" data-testid="api-key-revoke" onClick={() => revoke(k)}>
                      {t('apiKeys.revoke')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <form className="row" onSubmit={create}>
          <label>
            {t('apiKeys.name')}{' '}
            <input data-testid="api-key-name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
          </label>{' '}
          <button type="submit" data-testid="api-key-create" disabled={busy || !name.trim()}>
            {t('apiKeys.create')}
          </button>
        </form>
        <ErrorNote error={error} />
      </div>
    </>
  );
}

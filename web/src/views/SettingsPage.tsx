import { useEffect, useState, type FormEvent } from 'react';
import type { ApiKey, ApiKeyCreated, SettingKey, SipAccount } from '../api/types';
import { useConsole } from '../console';
import { useI18n } from '../i18n/context';
import { ErrorNote } from '../components/ErrorNote';
import { TOKEN_KEY, fmtTime, storageGet } from '../util';

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
      {(c.membership.role === 'owner' || c.membership.role === 'manager') && (
        <>
          <ChannelAudioCard />
          <ApiKeysCard />
        </>
      )}
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

type AudioKind = 'announcement' | 'hold-music';
interface AudioState {
  url: string | null;
  info: string | null;
}

/** The channel's announcement (callers nobody answers hear it before the line drops) and
 * hold music (the built-in pattern when none is uploaded): upload a WAV, listen, remove. */
function ChannelAudioCard() {
  const { t } = useI18n();
  const c = useConsole();
  const [audio, setAudio] = useState<Record<AudioKind, AudioState>>({
    announcement: { url: null, info: null },
    'hold-music': { url: null, info: null },
  });
  const [busy, setBusy] = useState<AudioKind | null>(null);
  const [error, setError] = useState<unknown>(null);
  const path = (k: AudioKind) => `/api/v1/channels/${c.cid}/audio/${k}`;
  const auth = (): Record<string, string> => {
    const tok = storageGet(TOKEN_KEY);
    return tok ? { authorization: `Bearer ${tok}` } : {};
  };

  const load = async (k: AudioKind) => {
    const res = await fetch(path(k), { headers: auth() });
    if (res.status === 404) return { url: null, info: null };
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const blob = await res.blob();
    return { url: URL.createObjectURL(blob), info: null };
  };

  useEffect(() => {
    let live = true;
    Promise.all([load('announcement'), load('hold-music')]).then(
      ([a, h]) => live && setAudio({ announcement: a, 'hold-music': h }),
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [c.cid]);

  const upload = async (k: AudioKind, file: File) => {
    setBusy(k);
    setError(null);
    try {
      const res = await fetch(path(k), { method: 'PUT', headers: { ...auth(), 'content-type': 'audio/wav' }, body: file });
      const body = (await res.json().catch(() => null)) as { message?: string; duration_ms?: number } | null;
      if (!res.ok) throw new Error(body?.message ?? `HTTP ${res.status}`);
      const next = await load(k);
      setAudio((a) => ({ ...a, [k]: { url: next.url, info: t('audio.uploaded', { seconds: ((body?.duration_ms ?? 0) / 1000).toFixed(1) }) } }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };

  const remove = async (k: AudioKind) => {
    setBusy(k);
    setError(null);
    try {
      const res = await fetch(path(k), { method: 'DELETE', headers: auth() });
      if (!res.ok && res.status !== 404) throw new Error(`HTTP ${res.status}`);
      setAudio((a) => ({ ...a, [k]: { url: null, info: null } }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };

  const row = (k: AudioKind) => (
    <li key={k} data-testid={`audio-${k}`} data-present={audio[k].url ? 'yes' : 'no'}>
      <strong>{t(k === 'announcement' ? 'audio.announcement' : 'audio.holdMusic')}</strong>
      <p className="muted small">{t(k === 'announcement' ? 'audio.announcement.help' : 'audio.holdMusic.help')}</p>
      {audio[k].url ? (
        <audio controls src={audio[k].url ?? undefined} data-testid={`audio-${k}-player`} />
      ) : (
        <p className="small">{t(k === 'announcement' ? 'audio.announcement.none' : 'audio.holdMusic.none')}</p>
      )}
      {audio[k].info && (
        <p className="ok small" role="status">
          {audio[k].info}
        </p>
      )}
      <div className="row">
        <label className="button">
          {t('audio.upload')}{' '}
          <input
            type="file"
            accept="audio/wav,.wav"
            data-testid={`audio-${k}-file`}
            disabled={busy === k}
            onChange={(e) => {
              const f = e.target.files?.[0];
              e.target.value = '';
              if (f) void upload(k, f);
            }}
          />
        </label>
        {audio[k].url && (
          <button type="button" className="link" data-testid={`audio-${k}-remove`} disabled={busy === k} onClick={() => void remove(k)}>
            {t('audio.remove')}
          </button>
        )}
      </div>
    </li>
  );

  return (
    <>
      <h2>{t('audio.title')}</h2>
      <div className="card" data-testid="channel-audio">
        <p className="muted small">{t('audio.help')}</p>
        <ul className="settings-list">{(['announcement', 'hold-music'] as const).map(row)}</ul>
        <ErrorNote error={error} />
      </div>
    </>
  );
}

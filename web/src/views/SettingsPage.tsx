import { useState } from 'react';
import type { SettingKey } from '../api/types';
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
      <h2>{t('settings.account')}</h2>
      <p className="muted">
        {c.me.staff.name} · {c.me.staff.email}
      </p>
    </section>
  );
}

import { useState, type FormEvent } from 'react';
import { ApiError, type ApiClient } from '../api/client';
import { useI18n } from '../i18n/context';
import { LangSwitch } from '../components/LangSwitch';
import { ErrorNote } from '../components/ErrorNote';

export function Login({ api, onLoggedIn }: { api: ApiClient; onLoggedIn: (token: string) => void }) {
  const { t } = useI18n();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    api
      .login(email.trim(), password)
      .then((r) => onLoggedIn(r.token))
      .catch((err: unknown) => {
        setError(err);
        setBusy(false);
      });
  };

  const badLogin = error instanceof ApiError && (error.status === 401 || error.status === 403);
  return (
    <main className="center-page" id="main">
      <form className="card login" onSubmit={submit} aria-labelledby="login-title">
        <div className="login-head">
          <h1 id="login-title">{t('login.title')}</h1>
          <LangSwitch />
        </div>
        <label className="field">
          <span>{t('login.email')}</span>
          <input type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label className="field">
          <span>{t('login.password')}</span>
          <input
            type="password"
            name="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {badLogin ? (
          <div className="error" role="alert" data-testid="error">
            {t('login.failed')}
          </div>
        ) : (
          <ErrorNote error={error} />
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? t('login.busy') : t('login.submit')}
        </button>
      </form>
    </main>
  );
}

import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiClient } from './api/client';
import type { Me } from './api/types';
import { I18nContext, type I18n } from './i18n/context';
import { isLang, pickLang, translate, type Lang } from './i18n/messages';
import { CHANNEL_KEY, LANG_KEY, TOKEN_KEY, storageGet, storageSet } from './util';
import { go, useRoute } from './router';
import { Login } from './views/Login';
import { ChannelPicker } from './views/ChannelPicker';
import { Console } from './views/Console';
import { ErrorNote } from './components/ErrorNote';

export function App() {
  const [token, setTokenState] = useState<string | null>(() => storageGet(TOKEN_KEY));
  const tokenRef = useRef(token);
  const [storedLang, setStoredLang] = useState<string | null>(() => storageGet(LANG_KEY));
  const [me, setMe] = useState<Me | null>(null);
  const [meError, setMeError] = useState<unknown>(null);
  const [cid, setCidState] = useState<number | null>(() => {
    const n = Number(storageGet(CHANNEL_KEY));
    return Number.isInteger(n) && n > 0 ? n : null;
  });
  const route = useRoute();

  const setToken = useCallback((t: string | null) => {
    tokenRef.current = t;
    storageSet(TOKEN_KEY, t);
    setTokenState(t);
    if (!t) setMe(null);
  }, []);

  const api = useMemo(
    () => new ApiClient({ getToken: () => tokenRef.current, onUnauthorized: () => setToken(null) }),
    [setToken],
  );

  const setCid = useCallback((id: number) => {
    storageSet(CHANNEL_KEY, String(id));
    setCidState(id);
  }, []);

  const loadMe = useCallback(() => {
    setMeError(null);
    api.me().then(setMe, (e: unknown) => setMeError(e));
  }, [api]);

  useEffect(() => {
    if (token && !me) loadMe();
  }, [token, me, loadMe]);

  const membership = me?.channels.find((c) => c.id === cid) ?? null;
  // One channel: no need to ask.
  useEffect(() => {
    if (me && !membership && me.channels.length === 1) setCid(me.channels[0].id);
  }, [me, membership, setCid]);

  const lang: Lang = pickLang(storedLang, membership?.locale, typeof navigator !== 'undefined' ? navigator.language : undefined);
  const i18n = useMemo<I18n>(
    () => ({
      lang,
      setLang: (l) => {
        if (!isLang(l)) return;
        storageSet(LANG_KEY, l);
        setStoredLang(l);
      },
      t: (k, v) => translate(lang, k, v),
    }),
    [lang],
  );
  useEffect(() => {
    document.documentElement.lang = lang;
    document.title = translate(lang, 'app.name');
  }, [lang]);

  const logout = useCallback(() => {
    api.logout().catch(() => {}).finally(() => {
      setToken(null);
      go({ name: 'inbox', chatId: null });
    });
  }, [api, setToken]);

  let body;
  if (!token) {
    body = <Login api={api} onLoggedIn={(t) => setToken(t)} />;
  } else if (!me) {
    body = (
      <main className="center-page" id="main">
        {meError ? (
          <div className="card">
            <ErrorNote error={meError} />
            <button type="button" onClick={loadMe}>
              {i18n.t('common.retry')}
            </button>
          </div>
        ) : (
          <p className="muted" role="status">
            {i18n.t('common.loading')}
          </p>
        )}
      </main>
    );
  } else if (!membership || route.name === 'channels') {
    body = (
      <ChannelPicker
        me={me}
        onPick={(id) => {
          setCid(id);
          go({ name: 'inbox', chatId: null });
        }}
        onLogout={logout}
      />
    );
  } else {
    body = (
      <Console
        key={membership.id}
        api={api}
        me={me}
        membership={membership}
        route={route}
        onSettings={(s) => setMe((m) => (m ? { ...m, settings: s } : m))}
        onLogout={logout}
      />
    );
  }
  return <I18nContext.Provider value={i18n}>{body}</I18nContext.Provider>;
}

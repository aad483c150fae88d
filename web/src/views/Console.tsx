import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ApiClient } from '../api/client';
import type { Channel, DenwaEvent, Me, MeChannel, Member, Settings, Tag, Team } from '../api/types';
import { ConsoleContext, type ConsoleData } from '../console';
import { useI18n } from '../i18n/context';
import { EventSocket, eventsUrl, type SocketStatus } from '../state/socket';
import { href, type Route } from '../router';
import { TOKEN_KEY, storageGet } from '../util';
import { LangSwitch } from '../components/LangSwitch';
import { Inbox } from './Inbox';
import { Contacts } from './Contacts';
import { CustomerPage } from './CustomerPage';
import { SettingsPage } from './SettingsPage';
import { Dashboard } from './Dashboard';
import { CallBar } from '../calls/CallBar';
import type { DialRequest } from '../calls/Dialer';

interface Props {
  api: ApiClient;
  me: Me;
  membership: MeChannel;
  route: Route;
  onSettings: (s: Settings) => void;
  onLogout: () => void;
}

/** The signed-in console of one channel: header, navigation, live events, and the routed page. */
export function Console({ api, me, membership, route, onSettings, onLogout }: Props) {
  const { t } = useI18n();
  const cid = membership.id;
  const [channel, setChannel] = useState<Channel | null>(null);
  const [members, setMembers] = useState<Member[]>([]);
  const [teams, setTeams] = useState<Team[]>([]);
  const [tags, setTags] = useState<Tag[]>([]);
  const [status, setStatus] = useState<SocketStatus>('connecting');
  const [dialer, setDialer] = useState<DialRequest | null>(null);
  const listeners = useRef(new Set<(e: DenwaEvent) => void>());
  const callListeners = useRef(new Set<(e: DenwaEvent) => void>());
  const subscribeCalls = useCallback((fn: (e: DenwaEvent) => void) => {
    callListeners.current.add(fn);
    return () => {
      callListeners.current.delete(fn);
    };
  }, []);

  const reloadTags = useCallback(() => {
    api.tags(cid).then(setTags, () => {});
  }, [api, cid]);
  const reloadDirectory = useCallback(() => {
    api.channel(cid).then(setChannel, () => {});
    api.staff(cid).then(setMembers, () => {});
    api.teams(cid).then(setTeams, () => {});
    reloadTags();
  }, [api, cid, reloadTags]);
  useEffect(reloadDirectory, [reloadDirectory]);

  const subscribe = useCallback((fn: (e: DenwaEvent) => void) => {
    listeners.current.add(fn);
    return () => {
      listeners.current.delete(fn);
    };
  }, []);

  useEffect(() => {
    const sock = new EventSocket({
      url: () => {
        const tok = storageGet(TOKEN_KEY);
        return tok ? eventsUrl(location, tok) : null;
      },
      onStatus: setStatus,
      onResync: () => {
        reloadDirectory();
        // A full resync of pages: they listen for this synthetic event.
        for (const fn of listeners.current) fn({ id: -1, channel_id: cid, chat_id: null, kind: 'resync', actor_staff_id: null, at: '', data: {} });
      },
      onEvent: (e) => {
        if (e.kind === 'settings_changed' && e.data.settings && (e.data.staff_id === undefined || e.data.staff_id === me.staff.id)) {
          onSettings(e.data.settings);
          return;
        }
        // Calls ring across channels (SPEC AS-5): the call bar sees every channel's.
        if (e.kind.startsWith('call_')) for (const fn of callListeners.current) fn(e);
        if (e.channel_id !== cid) return;
        switch (e.kind) {
          case 'team_created':
          case 'team_updated':
          case 'team_deleted':
            api.teams(cid).then(setTeams, () => {});
            break;
          case 'channel_updated':
            if (e.data.channel) setChannel(e.data.channel);
            break;
          case 'tags_changed':
            reloadTags(); // a chat's new tags may have created channel tags
            break;
        }
        for (const fn of listeners.current) fn(e);
      },
    });
    sock.start();
    return () => sock.stop();
  }, [api, cid, me.staff.id]);

  const data = useMemo<ConsoleData>(() => {
    const byId = new Map(members.map((m) => [m.staff.id, m.staff.name]));
    const teamById = new Map(teams.map((x) => [x.id, x.name]));
    return {
      api,
      me,
      cid,
      membership,
      channel,
      members,
      teams,
      tags,
      reloadTags,
      setSettings: onSettings,
      subscribe,
      staffName: (id) => (id === null || id === undefined ? null : (byId.get(id) ?? (id === me.staff.id ? me.staff.name : t('actor.staff', { id })))),
      teamName: (id) => (id === null || id === undefined ? null : (teamById.get(id) ?? t('team.unknown', { id }))),
      timeZone: channel?.time_zone,
      dial: setDialer,
    };
  }, [api, me, cid, membership, channel, members, teams, tags, reloadTags, onSettings, subscribe, t]);

  const nav: { r: Route; label: string; active: boolean }[] = [
    { r: { name: 'inbox', chatId: null }, label: t('nav.inbox'), active: route.name === 'inbox' },
    { r: { name: 'contacts' }, label: t('nav.contacts'), active: route.name === 'contacts' || route.name === 'customer' },
    { r: { name: 'stats' }, label: t('nav.stats'), active: route.name === 'stats' },
    { r: { name: 'settings' }, label: t('nav.settings'), active: route.name === 'settings' },
  ];

  return (
    <ConsoleContext.Provider value={data}>
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        {t('app.skip')}
      </a>
      <header className="topbar">
        <div className="brand">
          <span className="logo" aria-hidden="true">
            ☎
          </span>
          <span>{t('app.name')}</span>
          <span className="channel-name" data-testid="channel-name">
            {channel?.name ?? membership.name}
          </span>
          {me.channels.length > 1 && (
            <a className="small" href={href({ name: 'channels' })}>
              {t('nav.switchChannel')}
            </a>
          )}
        </div>
        <nav aria-label={t('nav.main')}>
          <ul className="nav">
            {nav.map((n) => (
              <li key={n.r.name}>
                <a href={href(n.r)} aria-current={n.active ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="topbar-end">
          <span className={`ws-status ws-${status}`} data-testid="ws-status" data-state={status} role="status">
            <span className="dot" aria-hidden="true" />
            {t(`ws.${status}`)}
          </span>
          <button type="button" className="primary call-out" data-testid="open-dialer" onClick={() => setDialer({})}>
            {t('call.callButton')}
          </button>
          <LangSwitch />
          <span className="me-name" title={me.staff.email}>
            {me.staff.name}
          </span>
          <button type="button" className="ghost" onClick={onLogout}>
            {t('nav.logout')}
          </button>
        </div>
      </header>
      <CallBar subscribeCalls={subscribeCalls} dialer={dialer} onDialer={setDialer} />
      <main id="main" tabIndex={-1} className={`page page-${route.name}`}>
        {route.name === 'inbox' && <Inbox chatId={route.chatId} />}
        {route.name === 'contacts' && <Contacts />}
        {route.name === 'customer' && <CustomerPage key={route.id} id={route.id} />}
        {route.name === 'settings' && <SettingsPage />}
        {route.name === 'stats' && <Dashboard />}
      </main>
    </ConsoleContext.Provider>
  );
}

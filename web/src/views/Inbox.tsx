import { useCallback, useEffect, useReducer, useRef, useState, type FormEvent } from 'react';
import type { ChatMatch, ChatState, ChatSummary, DenwaEvent, Medium } from '../api/types';
import { chatQuery, defaultFilter, type ChatFilter } from '../api/query';
import { useConsole, useEvents } from '../console';
import { useI18n } from '../i18n/context';
import { inboxReducer as reducer } from '../state/inbox';
import { ErrorNote } from '../components/ErrorNote';
import { MediumIcon } from '../components/icons';
import { Snippet } from '../components/Snippet';
import { fmtTime } from '../util';
import { fmtClock } from '../calls/recording';
import { href } from '../router';
import { ChatView } from './ChatView';

const PAGE = 50;
const RECENT_EVENTS = 300;

export function Inbox({ chatId }: { chatId: number | null }) {
  const c = useConsole();
  const { api, cid, me } = c;
  const { t } = useI18n();
  const [filter, setFilter] = useState<ChatFilter>(defaultFilter);
  const [keyword, setKeyword] = useState('');
  const [state, dispatch] = useReducer(reducer, { chats: [], open: null, next: null, query: null });
  const [loading, setLoading] = useState(true);
  const [listError, setListError] = useState<unknown>(null);
  const [openError, setOpenError] = useState<unknown>(null);
  const listSeq = useRef(0);
  const openSeq = useRef(0);
  const recent = useRef<DenwaEvent[]>([]);
  const filterRef = useRef(filter);
  filterRef.current = filter;

  const loadList = useCallback(
    (append: boolean, before: number | string | null = null) => {
      const seq = ++listSeq.current;
      setLoading(true);
      setListError(null);
      api.chats(cid, filter, { limit: PAGE, before: append ? before : null }).then(
        (page) => {
          if (seq !== listSeq.current) return;
          dispatch({ type: 'list', page, append, query: chatQuery(filter) });
          setLoading(false);
        },
        (e: unknown) => {
          if (seq !== listSeq.current) return;
          setListError(e);
          setLoading(false);
        },
      );
    },
    [api, cid, filter],
  );
  useEffect(() => loadList(false), [loadList]);

  const loadOpen = useCallback(() => {
    const seq = ++openSeq.current;
    if (chatId === null) {
      dispatch({ type: 'open', detail: null, recent: [] });
      return;
    }
    setOpenError(null);
    api.chat(cid, chatId).then(
      (detail) => {
        if (seq === openSeq.current) dispatch({ type: 'open', detail, recent: recent.current });
      },
      (e: unknown) => {
        if (seq !== openSeq.current) return;
        dispatch({ type: 'open', detail: null, recent: [] });
        setOpenError(e);
      },
    );
  }, [api, cid, chatId]);
  useEffect(loadOpen, [loadOpen]);

  useEvents((ev) => {
    if (ev.kind === 'resync') {
      loadList(false);
      loadOpen();
      return;
    }
    recent.current = [...recent.current.slice(-RECENT_EVENTS + 1), ev];
    dispatch({ type: 'event', ev, cid, filter: filterRef.current, meId: me.staff.id });
  });

  const onChat = useCallback(
    (chat: ChatSummary) => dispatch({ type: 'chat', chat, filter: filterRef.current, meId: me.staff.id }),
    [me.staff.id],
  );

  const set = <K extends keyof ChatFilter>(k: K, v: ChatFilter[K]) => setFilter((f) => ({ ...f, [k]: v }));
  const search = (e: FormEvent) => {
    e.preventDefault();
    set('q', keyword);
  };

  const open = state.open && state.open.chat.id === chatId ? state.open : null;

  return (
    <div className={`inbox ${chatId !== null ? 'has-open' : ''}`}>
      <section className="inbox-list" aria-labelledby="inbox-title">
        <div className="inbox-head">
          <h1 id="inbox-title">{t('inbox.title')}</h1>
          {!loading && <span className="muted small" data-testid="chat-count">{t('inbox.count', { count: state.chats.length })}</span>}
        </div>
        <form className="filters" aria-label={t('inbox.filters')} onSubmit={search} data-testid="filters">
          <label className="field compact">
            <span>{t('filter.state')}</span>
            <select data-testid="filter-state" value={filter.state} onChange={(e) => set('state', e.target.value as ChatState | '')}>
              <option value="">{t('filter.any')}</option>
              <option value="opened">{t('state.opened')}</option>
              <option value="snoozed">{t('state.snoozed')}</option>
              <option value="closed">{t('state.closed')}</option>
            </select>
          </label>
          <label className="field compact">
            <span>{t('filter.assignee')}</span>
            <select
              data-testid="filter-assignee"
              value={String(filter.assignee)}
              onChange={(e) => {
                const v = e.target.value;
                set('assignee', v === '' || v === 'me' || v === 'none' ? v : Number(v));
              }}
            >
              <option value="">{t('filter.any')}</option>
              <option value="me">{t('filter.assignee.me')}</option>
              <option value="none">{t('filter.assignee.none')}</option>
              {c.members.map((m) => (
                <option key={m.staff.id} value={m.staff.id}>
                  {m.staff.name}
                </option>
              ))}
            </select>
          </label>
          <label className="field compact">
            <span>{t('filter.team')}</span>
            <select data-testid="filter-team" value={String(filter.team)} onChange={(e) => set('team', e.target.value === '' ? '' : Number(e.target.value))}>
              <option value="">{t('filter.any')}</option>
              {c.teams.map((x) => (
                <option key={x.id} value={x.id}>
                  {x.name}
                </option>
              ))}
            </select>
          </label>
          <label className="field compact">
            <span>{t('filter.tag')}</span>
            <select data-testid="filter-tag" value={filter.tag} onChange={(e) => set('tag', e.target.value)}>
              <option value="">{t('filter.any')}</option>
              {c.tags.map((x) => (
                <option key={x.name} value={x.name}>
                  {x.name}
                </option>
              ))}
            </select>
          </label>
          <label className="field compact">
            <span>{t('filter.medium')}</span>
            <select data-testid="filter-medium" value={filter.medium} onChange={(e) => set('medium', e.target.value as Medium | '')}>
              <option value="">{t('filter.any')}</option>
              {(['chat', 'phone', 'voice', 'video'] as const).map((m) => (
                <option key={m} value={m}>
                  {t(`medium.${m}`)}
                </option>
              ))}
            </select>
          </label>
          <label className="check">
            <input
              type="checkbox"
              data-testid="filter-integration-phone"
              checked={filter.phoneIntegration}
              onChange={(e) => set('phoneIntegration', e.target.checked)}
            />
            <span>{t('filter.integrationPhone')}</span>
          </label>
          <div className="search-row">
            <label className="field compact grow">
              <span>{t('filter.keyword')}</span>
              <input
                type="search"
                data-testid="filter-keyword"
                placeholder={t('filter.keyword.placeholder')}
                value={keyword}
                onChange={(e) => setKeyword(e.target.value)}
              />
            </label>
            <button type="submit">{t('filter.search')}</button>
            <button
              type="button"
              className="ghost"
              onClick={() => {
                setKeyword('');
                setFilter(defaultFilter);
              }}
            >
              {t('filter.reset')}
            </button>
          </div>
        </form>
        <ErrorNote error={listError} />
        <ul className="chat-list" aria-label={t('inbox.list')} data-testid="chat-list" aria-busy={loading} data-query={state.query ?? undefined}>
          {state.chats.map((chat) => (
            <ChatRow key={chat.id} chat={chat} active={chat.id === chatId} match={state.matches?.[chat.id]} />
          ))}
        </ul>
        {!loading && !listError && state.chats.length === 0 && <p className="empty">{t('inbox.empty')}</p>}
        {loading && <p className="muted small" role="status">{t('common.loading')}</p>}
        {!loading && state.next !== null && (
          <button type="button" className="ghost wide" onClick={() => loadList(true, state.next)}>
            {t('inbox.loadMore')}
          </button>
        )}
      </section>
      {chatId === null ? (
        <section className="chat-empty">
          <p className="muted">{t('inbox.select')}</p>
        </section>
      ) : open ? (
        <ChatView key={open.chat.id} detail={open} onChat={onChat} reload={loadOpen} />
      ) : openError ? (
        <section className="chat-empty">
          <ErrorNote error={openError} />
        </section>
      ) : (
        <section className="chat-empty">
          <p className="muted" role="status">{t('common.loading')}</p>
        </section>
      )}
    </div>
  );
}

function ChatRow({ chat, active, match }: { chat: ChatSummary; active: boolean; match?: ChatMatch }) {
  const { t, lang } = useI18n();
  const c = useConsole();
  const assignee = c.staffName(chat.assignee_id);
  return (
    <li>
      <a
        className={`chat-row state-${chat.state} ${active ? 'active' : ''}`}
        href={href({ name: 'inbox', chatId: chat.id })}
        aria-current={active ? 'true' : undefined}
        data-testid="chat-row"
        data-chat-id={chat.id}
        data-medium={chat.medium}
        data-state={chat.state}
      >
        <span className="row-top">
          <span className="row-name">
            <MediumIcon medium={chat.medium} label={chat.medium === 'phone' ? t('medium.phoneIcon') : t(`medium.${chat.medium}`)} />
            <strong>{chat.customer.name || t('customer.unnamed')}</strong>
          </span>
          <time className="muted small" dateTime={chat.updated_at}>
            {fmtTime(chat.updated_at, lang, c.timeZone)}
          </time>
        </span>
        {match ? (
          <span className="row-preview row-match" data-testid="chat-match" data-kind={match.kind} data-speaker={match.speaker ?? undefined}>
            {match.kind === 'transcript' && (
              <span className="match-source small" data-testid="chat-match-source">
                {t('search.transcript')}
                {match.offset_ms !== null && ` · ${fmtClock(match.offset_ms)}`}
              </span>
            )}
            <span className="muted small">{matchSpeaker(match, c.staffName, t)}: </span>
            <Snippet parts={match.snippet} />
          </span>
        ) : (
          <span className="row-preview">{chat.preview || t('inbox.noPreview')}</span>
        )}
        <span className="row-meta">
          <span className={`badge state-${chat.state}`}>{t(`state.${chat.state}`)}</span>
          <span className="muted small">{assignee ?? t('chat.unassigned')}</span>
          {chat.tags.map((tag) => (
            <span key={tag} className="tag small">
              {tag}
            </span>
          ))}
        </span>
      </a>
    </li>
  );
}

/** Who said or wrote a matching line, in the console's words. */
function matchSpeaker(m: ChatMatch, staffName: (id: number | null | undefined) => string | null, t: ReturnType<typeof useI18n>['t']): string {
  if (m.speaker === 'customer') return t('search.customer');
  const name = m.speaker !== null ? staffName(Number(m.speaker)) : null;
  return name ?? t(m.kind === 'note' ? 'search.note' : 'search.staff');
}

import type { ChatDetail, ChatMatch, ChatPage, ChatSummary, DenwaEvent } from '../api/types';
import type { ChatFilter } from '../api/query';
import { applyEvent, mergeTimeline, upsertChat, type LiveState } from './reducers';

export type InboxAction =
  | { type: 'list'; page: ChatPage; append: boolean; query: string }
  | { type: 'open'; detail: ChatDetail | null; recent: DenwaEvent[] }
  | { type: 'chat'; chat: ChatSummary; filter: ChatFilter; meId: number }
  | { type: 'event'; ev: DenwaEvent; cid: number; filter: ChatFilter; meId: number };

export interface InboxState extends LiveState {
  next: number | string | null;
  /** The query string whose results the list shows (tests wait on it). */
  query: string | null;
  /** The keyword's matching line per chat id, from the list pages. */
  matches?: Record<number, ChatMatch>;
}

/** The inbox page's state: list (with paging), open chat, and what live events and own actions do to them. */
export function inboxReducer(s: InboxState, a: InboxAction): InboxState {
  switch (a.type) {
    case 'list': {
      const chats = a.append ? [...s.chats, ...a.page.chats.filter((c) => !s.chats.some((x) => x.id === c.id))] : a.page.chats;
      const matches = { ...(a.append ? s.matches : {}) };
      for (const m of a.page.matches ?? []) matches[m.chat_id] = m;
      return { ...s, chats, next: a.page.next_before, query: a.query, matches };
    }
    case 'open': {
      if (!a.detail) return { ...s, open: null };
      const d = a.detail;
      const live = [...(s.open && s.open.chat.id === d.chat.id ? s.open.timeline : []), ...a.recent.filter((e) => e.chat_id === d.chat.id)];
      const keep = s.open && s.open.chat.id === d.chat.id && Date.parse(s.open.chat.updated_at) > Date.parse(d.chat.updated_at);
      return { ...s, open: { ...d, chat: keep && s.open ? s.open.chat : d.chat, timeline: mergeTimeline(d.timeline, live) } };
    }
    case 'chat': {
      const chats = upsertChat(s.chats, a.chat, a.filter, a.meId);
      const open = s.open && s.open.chat.id === a.chat.id && Date.parse(a.chat.updated_at) >= Date.parse(s.open.chat.updated_at)
        ? { ...s.open, chat: a.chat }
        : s.open;
      return { ...s, chats, open };
    }
    case 'event': {
      const live = applyEvent(s, a.ev, { channelId: a.cid, filter: a.filter, meId: a.meId });
      return live === s ? s : { ...s, ...live };
    }
  }
}


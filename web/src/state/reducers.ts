import type { ChatDetail, ChatSummary, Customer, DenwaEvent } from '../api/types';
import type { ChatFilter } from '../api/query';

/**
 * Whether a chat summary satisfies the inbox filter, judged on the summary alone.
 * Returns 'unknown' when only the server can tell (keyword search).
 */
export function matchesFilter(chat: ChatSummary, f: ChatFilter, meId: number | null): boolean | 'unknown' {
  if (f.state && chat.state !== f.state) return false;
  if (f.assignee === 'me' && (meId === null || chat.assignee_id !== meId)) return false;
  if (f.assignee === 'none' && chat.assignee_id !== null) return false;
  if (typeof f.assignee === 'number' && chat.assignee_id !== f.assignee) return false;
  if (f.team !== '' && chat.team_id !== f.team) return false;
  if (f.tag.trim() && !chat.tags.includes(f.tag.trim())) return false;
  if (f.medium && chat.medium !== f.medium) return false;
  if (f.phoneIntegration && chat.source !== 'phone') return false;
  if (f.customer !== undefined && f.customer !== null && chat.customer.id !== f.customer) return false;
  if (f.q.trim()) return 'unknown';
  return true;
}

/** RFC 3339 → epoch ms (NaN-safe: unparsable times sort as oldest). */
function ts(s: string | null | undefined): number {
  const n = s ? Date.parse(s) : NaN;
  return Number.isNaN(n) ? 0 : n;
}

function newerFirst(a: ChatSummary, b: ChatSummary): number {
  const d = ts(b.updated_at) - ts(a.updated_at);
  return d !== 0 ? d : b.id - a.id;
}

/**
 * Applies a chat summary pushed by the server to the inbox list:
 * a chat that still matches the filter is replaced (or inserted, newest activity first);
 * one that no longer matches leaves the list. With a keyword filter, chats not already listed
 * are not added, since only the server can tell whether they match.
 */
export function upsertChat(list: ChatSummary[], chat: ChatSummary, f: ChatFilter, meId: number | null): ChatSummary[] {
  const idx = list.findIndex((c) => c.id === chat.id);
  const m = matchesFilter(chat, f, meId);
  if (m === false) return idx < 0 ? list : list.filter((c) => c.id !== chat.id);
  if (m === 'unknown' && idx < 0) return list;
  if (idx >= 0 && ts(list[idx].updated_at) > ts(chat.updated_at)) return list; // stale push
  const rest = idx < 0 ? list.slice() : list.filter((c) => c.id !== chat.id);
  let at = rest.findIndex((c) => newerFirst(chat, c) < 0);
  if (at < 0) at = rest.length;
  rest.splice(at, 0, chat);
  return rest;
}

/** Adds an event to a chat timeline once (by id), keeping the timeline in id order. */
export function appendTimeline(timeline: DenwaEvent[], ev: DenwaEvent): DenwaEvent[] {
  if (timeline.some((e) => e.id === ev.id)) return timeline;
  const last = timeline[timeline.length - 1];
  if (!last || last.id < ev.id) return [...timeline, ev];
  const out = [...timeline, ev];
  out.sort((a, b) => a.id - b.id);
  return out;
}

/** Merges a freshly fetched timeline with what arrived live meanwhile. */
export function mergeTimeline(fetched: DenwaEvent[], live: DenwaEvent[]): DenwaEvent[] {
  let out = fetched;
  for (const e of live) out = appendTimeline(out, e);
  return out;
}

export interface LiveState {
  chats: ChatSummary[];
  open: ChatDetail | null;
}

export interface LiveContext {
  channelId: number;
  filter: ChatFilter;
  meId: number | null;
}

function patchCustomer(chat: ChatSummary, c: Customer): ChatSummary {
  if (chat.customer.id !== c.id) return chat;
  return { ...chat, customer: { id: c.id, name: c.name, kind: c.kind, phones: c.phones } };
}

/** Applies one pushed event (docs/API.md "Event kinds") to the inbox list and the open chat. */
export function applyEvent(state: LiveState, ev: DenwaEvent, ctx: LiveContext): LiveState {
  if (ev.channel_id !== ctx.channelId) return state;
  let { chats, open } = state;
  const chat = ev.data?.chat;
  if (chat && typeof chat === 'object' && typeof chat.id === 'number') {
    chats = upsertChat(chats, chat, ctx.filter, ctx.meId);
    if (open && open.chat.id === chat.id) {
      const newer = ts(chat.updated_at) >= ts(open.chat.updated_at);
      open = { ...open, chat: newer ? chat : open.chat };
    }
  }
  if (open && ev.chat_id !== null && ev.chat_id === open.chat.id) {
    const timeline = appendTimeline(open.timeline, ev);
    if (timeline !== open.timeline) open = { ...open, timeline };
  }
  const customer = ev.data?.customer;
  if ((ev.kind === 'customer_updated' || ev.kind === 'customer_created') && customer && typeof customer.id === 'number') {
    if (ev.kind === 'customer_updated') chats = chats.map((c) => patchCustomer(c, customer));
    if (open && open.customer.id === customer.id) {
      open = { ...open, customer, chat: patchCustomer(open.chat, customer) };
    }
  }
  if (chats === state.chats && open === state.open) return state;
  return { chats, open };
}

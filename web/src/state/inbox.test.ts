import { describe, expect, it } from 'vitest';
import { inboxReducer, type InboxState } from './inbox';
import { defaultFilter } from '../api/query';
import type { ChatDetail, ChatSummary, Customer, DenwaEvent } from '../api/types';

const chat = (id: number, over: Partial<ChatSummary> = {}): ChatSummary => ({
  id, state: 'opened', medium: 'phone', source: 'phone', customer: { id: 9, name: 'C', kind: 'lead', phones: [] },
  assignee_id: null, team_id: null, tags: [], snoozed_until: null, created_at: '2026-11-24T00:00:00Z',
  updated_at: '2026-11-24T00:00:00Z', preview: null, ...over,
});
const ev = (id: number, chat_id: number | null = 1, over: Partial<DenwaEvent> = {}): DenwaEvent => ({
  id, channel_id: 1, chat_id, kind: 'note_added', actor_staff_id: 1, at: '2026-11-24T00:00:00Z', data: {}, ...over,
});
const customer: Customer = { id: 9, name: 'C', kind: 'lead', blocked: false, phones: [], profile: {}, created_at: '', updated_at: '' };
const detail = (timeline: DenwaEvent[], c = chat(1)): ChatDetail => ({ chat: c, customer, timeline });
const empty: InboxState = { chats: [], open: null, next: null, query: null };

describe('inboxReducer', () => {
  it('replaces the list on a new query and appends pages without duplicates', () => {
    let s = inboxReducer(empty, { type: 'list', page: { chats: [chat(3), chat(2)], next_before: 2 }, append: false, query: 'state=opened' });
    expect(s.query).toBe('state=opened');
    s = inboxReducer(s, { type: 'list', page: { chats: [chat(2), chat(1)], next_before: null }, append: true, query: 'state=opened' });
    expect(s.chats.map((c) => c.id)).toEqual([3, 2, 1]);
    expect(s.next).toBeNull();
    s = inboxReducer(s, { type: 'list', page: { chats: [chat(7)], next_before: null }, append: false, query: 'state=closed' });
    expect(s.chats.map((c) => c.id)).toEqual([7]);
  });

  it('opening a chat merges events that arrived while it was loading', () => {
    const s = inboxReducer(empty, { type: 'open', detail: detail([ev(1), ev(2)]), recent: [ev(2), ev(3), ev(4, 5)] });
    expect(s.open?.timeline.map((e) => e.id)).toEqual([1, 2, 3]);
  });

  it('a refetch of the open chat keeps live events it does not have yet and a newer summary', () => {
    let s = inboxReducer(empty, { type: 'open', detail: detail([ev(1)]), recent: [] });
    s = inboxReducer(s, { type: 'event', ev: ev(2, 1, { data: { chat: chat(1, { tags: ['x'], updated_at: '2026-11-24T01:00:00Z' }) } }), cid: 1, filter: defaultFilter, meId: 1 });
    s = inboxReducer(s, { type: 'open', detail: detail([ev(1)]), recent: [] });
    expect(s.open?.timeline.map((e) => e.id)).toEqual([1, 2]);
    expect(s.open?.chat.tags).toEqual(['x']);
  });

  it('an own action answer updates the open chat and the list', () => {
    let s = inboxReducer(empty, { type: 'list', page: { chats: [chat(1)], next_before: null }, append: false, query: '' });
    s = inboxReducer(s, { type: 'open', detail: detail([]), recent: [] });
    s = inboxReducer(s, { type: 'chat', chat: chat(1, { state: 'closed', updated_at: '2026-11-24T02:00:00Z' }), filter: defaultFilter, meId: 1 });
    expect(s.open?.chat.state).toBe('closed');
    expect(s.chats).toEqual([]);
  });

  it('closing the open chat clears it', () => {
    const s = inboxReducer(inboxReducer(empty, { type: 'open', detail: detail([]), recent: [] }), { type: 'open', detail: null, recent: [] });
    expect(s.open).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { appendTimeline, applyEvent, matchesFilter, mergeTimeline, upsertChat, type LiveState } from './reducers';
import { defaultFilter, type ChatFilter } from '../api/query';
import type { ChatSummary, Customer, DenwaEvent } from '../api/types';

function chat(id: number, over: Partial<ChatSummary> = {}): ChatSummary {
  return {
    id, state: 'opened', medium: 'chat', source: 'web',
    customer: { id: 100 + id, name: `C${id}`, kind: 'member', phones: [] },
    assignee_id: null, team_id: null, tags: [], snoozed_until: null,
    created_at: '2026-11-24T00:00:00Z', updated_at: `2026-11-24T00:00:${String(id).padStart(2, '0')}Z`, preview: null,
    ...over,
  };
}
function ev(id: number, over: Partial<DenwaEvent> = {}): DenwaEvent {
  return { id, channel_id: 1, chat_id: 1, kind: 'note_added', actor_staff_id: 2, at: '2026-11-24T01:00:00Z', data: {}, ...over };
}
const all: ChatFilter = { ...defaultFilter, state: '' };
const ids = (l: ChatSummary[]) => l.map((c) => c.id);

describe('matchesFilter', () => {
  it('checks each summary field', () => {
    const c = chat(1, { state: 'opened', assignee_id: 7, team_id: 3, tags: ['vip'], medium: 'phone', source: 'phone' });
    expect(matchesFilter(c, all, 7)).toBe(true);
    expect(matchesFilter(c, { ...all, state: 'closed' }, 7)).toBe(false);
    expect(matchesFilter(c, { ...all, assignee: 'me' }, 7)).toBe(true);
    expect(matchesFilter(c, { ...all, assignee: 'me' }, 8)).toBe(false);
    expect(matchesFilter(c, { ...all, assignee: 'none' }, 7)).toBe(false);
    expect(matchesFilter(c, { ...all, assignee: 7 }, null)).toBe(true);
    expect(matchesFilter(c, { ...all, team: 4 }, 7)).toBe(false);
    expect(matchesFilter(c, { ...all, tag: 'vip' }, 7)).toBe(true);
    expect(matchesFilter(c, { ...all, tag: 'other' }, 7)).toBe(false);
    expect(matchesFilter(c, { ...all, medium: 'chat' }, 7)).toBe(false);
    expect(matchesFilter(c, { ...all, phoneIntegration: true }, 7)).toBe(true);
    expect(matchesFilter({ ...c, source: 'web' }, { ...all, phoneIntegration: true }, 7)).toBe(false);
    expect(matchesFilter(c, { ...all, customer: 101 }, 7)).toBe(true);
    expect(matchesFilter(c, { ...all, customer: 5 }, 7)).toBe(false);
    expect(matchesFilter(c, { ...all, q: 'refund' }, 7)).toBe('unknown');
  });
});

describe('upsertChat', () => {
  const list = [chat(3), chat(2), chat(1)]; // newest activity first

  it('replaces a listed chat and moves it to its place by activity', () => {
    const moved = chat(1, { updated_at: '2026-11-24T00:01:00Z', tags: ['x'] });
    const out = upsertChat(list, moved, all, null);
    expect(ids(out)).toEqual([1, 3, 2]);
    expect(out[0].tags).toEqual(['x']);
    expect(list.map((c) => c.id)).toEqual([3, 2, 1]); // input untouched
  });

  it('inserts a new matching chat in order', () => {
    const out = upsertChat(list, chat(9, { updated_at: '2026-11-24T00:00:02.500Z' }), all, null);
    expect(ids(out)).toEqual([3, 9, 2, 1]);
  });

  it('removes a chat that stopped matching (closed while filtering opened)', () => {
    const out = upsertChat(list, chat(2, { state: 'closed', updated_at: '2026-11-24T00:02:00Z' }), defaultFilter, null);
    expect(ids(out)).toEqual([3, 1]);
  });

  it('does not add a non-matching chat', () => {
    const out = upsertChat(list, chat(9, { state: 'closed' }), defaultFilter, null);
    expect(out).toBe(list);
  });

  it('with a keyword filter updates listed chats but does not add unknown ones', () => {
    const f = { ...all, q: 'refund' };
    expect(upsertChat(list, chat(9), f, null)).toBe(list);
    const out = upsertChat(list, chat(2, { tags: ['y'] }), f, null);
    expect(out.find((c) => c.id === 2)?.tags).toEqual(['y']);
  });

  it('ignores a push older than what is listed', () => {
    const newer = [chat(1, { updated_at: '2026-11-24T05:00:00Z', tags: ['new'] })];
    const out = upsertChat(newer, chat(1, { updated_at: '2026-11-24T04:00:00Z', tags: ['old'] }), all, null);
    expect(out[0].tags).toEqual(['new']);
  });

  it('compares times as instants, not strings (fractional seconds)', () => {
    const l = [chat(1, { updated_at: '2026-11-24T00:00:00.500Z' })];
    const out = upsertChat(l, chat(2, { updated_at: '2026-11-24T00:00:00Z' }), all, null);
    expect(ids(out)).toEqual([1, 2]);
  });
});

describe('appendTimeline', () => {
  it('appends a new event', () => {
    expect(appendTimeline([ev(1), ev(2)], ev(3)).map((e) => e.id)).toEqual([1, 2, 3]);
  });
  it('is idempotent by event id', () => {
    const t = [ev(1), ev(2)];
    expect(appendTimeline(t, ev(2))).toBe(t);
  });
  it('keeps id order when an event arrives late', () => {
    expect(appendTimeline([ev(1), ev(3)], ev(2)).map((e) => e.id)).toEqual([1, 2, 3]);
  });
  it('merges a refetched timeline with live events', () => {
    expect(mergeTimeline([ev(1), ev(2)], [ev(2), ev(4)]).map((e) => e.id)).toEqual([1, 2, 4]);
  });
});

describe('applyEvent', () => {
  const customer: Customer = {
    id: 101, name: 'C1', kind: 'lead', blocked: false, phones: [], profile: {}, created_at: '', updated_at: '',
  };
  const base: LiveState = {
    chats: [chat(2), chat(1)],
    open: { chat: chat(1), customer, timeline: [ev(1)] },
  };
  const ctx = { channelId: 1, filter: defaultFilter, meId: 2 };

  it('a note in the open chat appends to its timeline and upserts the list', () => {
    const c = chat(1, { updated_at: '2026-11-24T02:00:00Z', preview: 'hello' });
    const out = applyEvent(base, ev(5, { kind: 'note_added', data: { chat: c } }), ctx);
    expect(out.open?.timeline.map((e) => e.id)).toEqual([1, 5]);
    expect(ids(out.chats)).toEqual([1, 2]);
    expect(out.chats[0].preview).toBe('hello');
    expect(out.open?.chat.preview).toBe('hello');
  });

  it('a tag change updates the open chat summary', () => {
    const c = chat(1, { tags: ['vip'], updated_at: '2026-11-24T02:00:00Z' });
    const out = applyEvent(base, ev(6, { kind: 'tags_changed', data: { chat: c } }), ctx);
    expect(out.open?.chat.tags).toEqual(['vip']);
  });

  it('closing the open chat keeps it open in the view but removes it from an "opened" list', () => {
    const c = chat(1, { state: 'closed', updated_at: '2026-11-24T02:00:00Z' });
    const out = applyEvent(base, ev(7, { kind: 'state_changed', data: { chat: c } }), ctx);
    expect(ids(out.chats)).toEqual([2]);
    expect(out.open?.chat.state).toBe('closed');
    expect(out.open?.timeline.map((e) => e.id)).toEqual([1, 7]);
  });

  it('an event of another chat only touches the list', () => {
    const c = chat(3, { updated_at: '2026-11-24T02:00:00Z' });
    const out = applyEvent(base, ev(8, { chat_id: 3, kind: 'chat_opened', data: { chat: c } }), ctx);
    expect(ids(out.chats)).toEqual([3, 2, 1]);
    expect(out.open?.timeline.map((e) => e.id)).toEqual([1]);
  });

  it('ignores events of other channels', () => {
    const out = applyEvent(base, ev(9, { channel_id: 2, data: { chat: chat(3) } }), ctx);
    expect(out).toBe(base);
  });

  it('a customer update renames them in the list and the side panel', () => {
    const out = applyEvent(base, ev(10, { chat_id: null, kind: 'customer_updated', data: { customer: { ...customer, name: 'New' } } }), ctx);
    expect(out.chats.find((c) => c.id === 1)?.customer.name).toBe('New');
    expect(out.open?.customer.name).toBe('New');
    expect(out.open?.chat.customer.name).toBe('New');
  });

  it('returns the same state for an event that changes nothing', () => {
    expect(applyEvent(base, ev(11, { chat_id: null, kind: 'team_created', data: {} }), ctx)).toBe(base);
  });
});

import type { ChatState, Medium } from './types';

/** Inbox filters as the UI holds them. Empty string / null / false = "any". */
export interface ChatFilter {
  state: ChatState | '';
  /** 'me', 'none' (unassigned), a staff id, or '' for anyone. */
  assignee: 'me' | 'none' | number | '';
  team: number | '';
  tag: string;
  medium: Medium | '';
  /** SPEC AS-3: only chats that came in by phone. */
  phoneIntegration: boolean;
  q: string;
  customer?: number | null;
}

export const defaultFilter: ChatFilter = {
  state: 'opened',
  assignee: '',
  team: '',
  tag: '',
  medium: '',
  phoneIntegration: false,
  q: '',
  customer: null,
};

/**
 * Turns a filter into the query string of GET /api/v1/channels/{cid}/chats
 * (docs/API.md). Unset filters are omitted; the result has no leading '?'.
 */
export function chatQuery(f: Partial<ChatFilter>, page?: { limit?: number; before?: number | string | null }): string {
  const p = new URLSearchParams();
  if (f.state) p.set('state', f.state);
  if (f.assignee !== undefined && f.assignee !== '') p.set('assignee', String(f.assignee));
  if (f.team !== undefined && f.team !== '') p.set('team', String(f.team));
  const tag = f.tag?.trim();
  if (tag) p.set('tag', tag);
  if (f.medium) p.set('medium', f.medium);
  if (f.phoneIntegration) p.set('integration', 'phone');
  const q = f.q?.trim();
  if (q) p.set('q', q);
  if (f.customer !== undefined && f.customer !== null) p.set('customer', String(f.customer));
  if (page?.limit !== undefined) p.set('limit', String(page.limit));
  if (page?.before !== undefined && page.before !== null) p.set('before', String(page.before));
  return p.toString();
}

/** Query string for GET customers. */
export function customerQuery(q: string, limit?: number): string {
  const p = new URLSearchParams();
  const t = q.trim();
  if (t) p.set('q', t);
  if (limit !== undefined) p.set('limit', String(limit));
  return p.toString();
}

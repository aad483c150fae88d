import type {
  DialLookup,
  RecentCall,
  PlaceCallBody,
  PlacedCall,
  CallRecord, Channel, ChatDetail, ChatPage, ChatState, ChatSummary, Customer, CustomerInput, ImportPlan, LoginResponse,
  LiveCall, Me, Medium, Member, Message, Recording, Settings, SipAccount, Tag, Team,
} from './types';
import { chatQuery, customerQuery, type ChatFilter } from './query';

/**
 * An error answer of the API (`{code, message}` with a 4xx/5xx status, docs/API.md "Errors"),
 * or a transport failure (status 0, code "network").
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** Prefix of every path; '' for same origin. */
  base?: string;
  getToken: () => string | null;
  /** Called once per 401 answer to an authenticated request (the session is gone). */
  onUnauthorized?: () => void;
  fetch?: FetchLike;
}

async function toApiError(res: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* body unreadable: fall through with the status alone */
  }
  try {
    const j = JSON.parse(text) as unknown;
    if (j && typeof j === 'object' && typeof (j as { code?: unknown }).code === 'string') {
      const o = j as { code: string; message?: unknown };
      return new ApiError(res.status, o.code, typeof o.message === 'string' ? o.message : o.code);
    }
  } catch {
    /* not JSON */
  }
  const msg = text.trim().slice(0, 300) || res.statusText || `HTTP ${res.status}`;
  return new ApiError(res.status, `http_${res.status}`, msg);
}

/** Thin typed client of the staff-console API (`/api/v1`). */
export class ApiClient {
  private readonly base: string;
  private readonly getToken: () => string | null;
  private readonly onUnauthorized?: () => void;
  private readonly fetchImpl: FetchLike;

  constructor(opts: ClientOptions) {
    this.base = opts.base ?? '';
    this.getToken = opts.getToken;
    this.onUnauthorized = opts.onUnauthorized;
    this.fetchImpl = opts.fetch ?? ((i, init) => fetch(i, init));
  }

  /** Sends a request (with the session token unless `auth` is false); a non-2xx answer throws ApiError. */
  private async send(method: string, path: string, body: unknown, auth: boolean, accept: string, raw?: { body: Blob | string; type: string }): Promise<Response> {
    const headers: Record<string, string> = { accept };
    if (raw) headers['content-type'] = raw.type;
    else if (body !== undefined) headers['content-type'] = 'application/json';
    const token = auth ? this.getToken() : null;
    if (token) headers.authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await this.fetchImpl(this.base + path, {
        method,
        headers,
        body: raw ? raw.body : body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, 'network', e instanceof Error ? e.message : String(e));
    }
    if (!res.ok) {
      const err = await toApiError(res);
      if (res.status === 401 && auth) this.onUnauthorized?.();
      throw err;
    }
    return res;
  }

  async request<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    return this.parse<T>(await this.send(method, path, body, auth, 'application/json'));
  }

  /** Sends a file (or text) as the body with its own content type; the answer is JSON. */
  async upload<T>(method: string, path: string, body: Blob | string, type: string): Promise<T> {
    return this.parse<T>(await this.send(method, path, undefined, true, 'application/json', { body, type }));
  }

  private async parse<T>(res: Response): Promise<T> {
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(res.status, 'invalid_response', 'The server answered with something that is not JSON.');
    }
  }

  /** A binary body (audio) with the session token, which an `<audio src>` cannot send. */
  async blob(path: string, accept = '*/*'): Promise<Blob> {
    const res = await this.send('GET', path, undefined, true, accept);
    try {
      return await res.blob();
    } catch (e) {
      throw new ApiError(0, 'network', e instanceof Error ? e.message : String(e));
    }
  }

  // --- calls (SPEC RG-*, HD-*)
  acceptCall(cid: number, call: number, sdp: string) {
    return this.request<{ sdp: string | null }>('POST', `/api/v1/channels/${cid}/calls/${call}/accept`, { sdp });
  }
  /** Places a call (SPEC OUT-1): 201 once the INVITE is out and this browser is connected. */
  placeCall(cid: number, body: PlaceCallBody) {
    return this.request<PlacedCall>('POST', `/api/v1/channels/${cid}/calls`, body);
  }
  /** Reads a typed or pasted number with the channel's region and names its customer (SPEC OUT-2). */
  dialLookup(cid: number, number: string) {
    return this.request<DialLookup>('GET', `/api/v1/channels/${cid}/dial-lookup?number=${encodeURIComponent(number)}`);
  }
  /** My latest calls in the channel, newest first (the dialer's call-back list). */
  recentCalls(cid: number) {
    return this.request<RecentCall[]>('GET', `/api/v1/channels/${cid}/recent-calls`);
  }
  callAction(cid: number, call: number, action: 'decline' | 'leave' | 'end' | 'hold' | 'resume') {
    return this.request<void>('POST', `/api/v1/channels/${cid}/calls/${call}/${action}`);
  }
  muteInCall(cid: number, call: number, muted: boolean) {
    return this.request<void>('POST', `/api/v1/channels/${cid}/calls/${call}/mute`, { muted });
  }
  sendDtmf(cid: number, call: number, digits: string) {
    return this.request<void>('POST', `/api/v1/channels/${cid}/calls/${call}/dtmf`, { digits });
  }
  inviteToCall(cid: number, call: number, staff_id: number) {
    return this.request<void>('POST', `/api/v1/channels/${cid}/calls/${call}/invite`, { staff_id });
  }
  myLiveCalls() {
    return this.request<LiveCall[]>('GET', '/api/v1/me/calls');
  }

  // --- recordings and transcripts (SPEC RC-1..3)
  chatCalls(cid: number, chat: number) {
    return this.request<CallRecord[]>('GET', `/api/v1/channels/${cid}/chats/${chat}/calls`);
  }
  recording(cid: number, call: number) {
    return this.request<Recording>('GET', `/api/v1/channels/${cid}/calls/${call}/recording`);
  }
  recordingMp3(cid: number, call: number) {
    return this.blob(`/api/v1/channels/${cid}/calls/${call}/recording.mp3`, 'audio/mpeg');
  }

  // --- auth & me
  login(email: string, password: string) {
    return this.request<LoginResponse>('POST', '/api/v1/auth/login', { email, password }, false);
  }
  logout() {
    return this.request<void>('POST', '/api/v1/auth/logout');
  }
  me() {
    return this.request<Me>('GET', '/api/v1/me');
  }
  patchSettings(patch: Partial<Settings>) {
    return this.request<Settings>('PATCH', '/api/v1/me/settings', patch);
  }
  /** My SIP softphone account, or null before it was created (404). */
  async getSipAccount(): Promise<SipAccount | null> {
    try {
      return await this.request<SipAccount>('GET', '/api/v1/me/sip-account');
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }
  /** Creates my SIP account, or gives it a new generated device password. */
  putSipAccount(body: { username?: string; password?: string } = {}) {
    return this.request<SipAccount>('PUT', '/api/v1/me/sip-account', body);
  }

  // --- channel directory
  channel(cid: number) {
    return this.request<Channel>('GET', `/api/v1/channels/${cid}`);
  }
  staff(cid: number) {
    return this.request<Member[]>('GET', `/api/v1/channels/${cid}/staff`);
  }
  teams(cid: number) {
    return this.request<Team[]>('GET', `/api/v1/channels/${cid}/teams`);
  }
  tags(cid: number) {
    return this.request<Tag[]>('GET', `/api/v1/channels/${cid}/tags`);
  }

  // --- chats
  chats(cid: number, filter: Partial<ChatFilter>, page?: { limit?: number; before?: number | string | null }) {
    const qs = chatQuery(filter, page);
    return this.request<ChatPage>('GET', `/api/v1/channels/${cid}/chats${qs ? `?${qs}` : ''}`);
  }
  chat(cid: number, id: number) {
    return this.request<ChatDetail>('GET', `/api/v1/channels/${cid}/chats/${id}`);
  }
  createChat(cid: number, customer_id: number, medium: Medium, first_message?: string) {
    return this.request<ChatSummary>('POST', `/api/v1/channels/${cid}/chats`, { customer_id, medium, first_message });
  }
  addNote(cid: number, id: number, body: string) {
    return this.request<Message>('POST', `/api/v1/channels/${cid}/chats/${id}/notes`, { body });
  }
  sendMessage(cid: number, id: number, body: string) {
    return this.request<Message>('POST', `/api/v1/channels/${cid}/chats/${id}/messages`, { body });
  }
  setAssignee(cid: number, id: number, staff_id: number | null) {
    return this.request<ChatSummary>('PUT', `/api/v1/channels/${cid}/chats/${id}/assignee`, { staff_id });
  }
  setTeam(cid: number, id: number, team_id: number | null) {
    return this.request<ChatSummary>('PUT', `/api/v1/channels/${cid}/chats/${id}/team`, { team_id });
  }
  setTags(cid: number, id: number, tags: string[]) {
    return this.request<ChatSummary>('PUT', `/api/v1/channels/${cid}/chats/${id}/tags`, { tags });
  }
  setState(cid: number, id: number, state: ChatState, snoozed_until?: string) {
    const body: { state: ChatState; snoozed_until?: string } = { state };
    if (state === 'snoozed' && snoozed_until) body.snoozed_until = snoozed_until;
    return this.request<ChatSummary>('PUT', `/api/v1/channels/${cid}/chats/${id}/state`, body);
  }

  // --- customers
  customers(cid: number, q: string, limit?: number) {
    const qs = customerQuery(q, limit);
    return this.request<Customer[]>('GET', `/api/v1/channels/${cid}/customers${qs ? `?${qs}` : ''}`);
  }
  customer(cid: number, id: number) {
    return this.request<Customer>('GET', `/api/v1/channels/${cid}/customers/${id}`);
  }
  createCustomer(cid: number, input: CustomerInput) {
    return this.request<Customer>('POST', `/api/v1/channels/${cid}/customers`, input);
  }
  updateCustomer(cid: number, id: number, input: CustomerInput) {
    return this.request<Customer>('PATCH', `/api/v1/channels/${cid}/customers/${id}`, input);
  }
  /**
   * Imports a contact file (SPEC OUT-6): with `preview` only the plan; otherwise applies,
   * insisting on the plan whose digest is `expect` (409 `stale` when the list moved).
   */
  importContacts(cid: number, file: Blob | string, type: string, opts: { preview: true } | { preview: false; expect?: string }) {
    const q = new URLSearchParams();
    if (opts.preview) q.set('preview', 'true');
    else if (opts.expect) q.set('expect', opts.expect);
    const qs = q.toString();
    return this.upload<ImportPlan>('POST', `/api/v1/channels/${cid}/contacts/import${qs ? `?${qs}` : ''}`, file, type);
  }
}

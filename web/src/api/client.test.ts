import { describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError, type FetchLike } from './client';

function reply(status: number, body: string | object | null, headers: Record<string, string> = {}) {
  const text = body === null ? null : typeof body === 'string' ? body : JSON.stringify(body);
  return new Response(text, { status, headers: { 'content-type': 'application/json', ...headers } });
}

function client(fetchImpl: FetchLike, token: string | null = 'tok', onUnauthorized = vi.fn()) {
  return { api: new ApiClient({ getToken: () => token, fetch: fetchImpl, onUnauthorized }), onUnauthorized };
}

describe('ApiClient', () => {
  it('sends the bearer token, JSON body and method, and parses the answer', async () => {
    const f = vi.fn<FetchLike>(async () => reply(200, { id: 7, chat_id: 3, kind: 'note', body: 'hi' }));
    const { api } = client(f);
    const m = await api.addNote(1, 3, 'hi');
    expect(m.id).toBe(7);
    const [url, init] = f.mock.calls[0];
    expect(url).toBe('/api/v1/channels/1/chats/3/notes');
    expect(init?.method).toBe('POST');
    const h = init?.headers as Record<string, string>;
    expect(h.authorization).toBe('Bearer tok');
    expect(h['content-type']).toBe('application/json');
    expect(JSON.parse(String(init?.body))).toEqual({ body: 'hi' });
  });

  it('uploads a contact file as the body with its own type, preview or apply with the digest (OUT-6)', async () => {
    const plan = { format: 'vcard', contacts: [], counts: { contacts: 0, join: 0, updated: 0, create: 0, skip: 0 }, applied: false, digest: 'abc' };
    const f = vi.fn<FetchLike>(async () => reply(200, plan));
    const { api } = client(f);
    const file = new Blob(['BEGIN:VCARD\r\nEND:VCARD\r\n']);
    await api.importContacts(3, file, 'text/vcard', { preview: true });
    await api.importContacts(3, file, 'text/vcard', { preview: false, expect: 'abc' });
    await api.importContacts(3, 'name,phone\n', 'text/csv', { preview: false });
    const urls = f.mock.calls.map((c) => c[0]);
    expect(urls).toEqual([
      '/api/v1/channels/3/contacts/import?preview=true',
      '/api/v1/channels/3/contacts/import?expect=abc',
      '/api/v1/channels/3/contacts/import',
    ]);
    const [, init] = f.mock.calls[0];
    const h = init?.headers as Record<string, string>;
    expect(h['content-type']).toBe('text/vcard');
    expect(h.authorization).toBe('Bearer tok');
    expect(init?.body).toBe(file);
    expect((f.mock.calls[2][1]?.headers as Record<string, string>)['content-type']).toBe('text/csv');
  });

  it('does not send a token to login', async () => {
    const f = vi.fn<FetchLike>(async () => reply(200, { token: 't', staff: { id: 1, email: 'a', name: 'A' } }));
    const { api } = client(f);
    await api.login('a@example.com', 'pw');
    const h = f.mock.calls[0][1]?.headers as Record<string, string>;
    expect(h.authorization).toBeUndefined();
  });

  it('turns a documented error body into ApiError with status, code and message (IN-7)', async () => {
    const f: FetchLike = async () =>
      reply(422, { code: 'phone_chat_internal_only', message: 'phone chats allow internal notes only' });
    const { api, onUnauthorized } = client(f);
    const err = await api.sendMessage(1, 5, 'hello').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.status).toBe(422);
    expect(e.code).toBe('phone_chat_internal_only');
    expect(e.message).toBe('phone chats allow internal notes only');
    expect(onUnauthorized).not.toHaveBeenCalled();
  });

  it('calls onUnauthorized on 401 of an authenticated request, not of login', async () => {
    const f: FetchLike = async () => reply(401, { code: 'unauthorized', message: 'no session' });
    const { api, onUnauthorized } = client(f);
    await expect(api.me()).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    await expect(api.login('x', 'y')).rejects.toMatchObject({ status: 401 });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('keeps the status when the error body is not JSON', async () => {
    const f: FetchLike = async () => new Response('Bad Gateway from proxy', { status: 502 });
    const { api } = client(f);
    await expect(api.me()).rejects.toMatchObject({ status: 502, code: 'http_502', message: 'Bad Gateway from proxy' });
  });

  it('handles an empty error body', async () => {
    const f: FetchLike = async () => new Response(null, { status: 500, statusText: 'Internal Server Error' });
    const { api } = client(f);
    await expect(api.me()).rejects.toMatchObject({ status: 500, code: 'http_500', message: 'Internal Server Error' });
  });

  it('reports a transport failure as status 0 / network', async () => {
    const f: FetchLike = async () => {
      throw new TypeError('Failed to fetch');
    };
    const { api } = client(f);
    await expect(api.me()).rejects.toMatchObject({ status: 0, code: 'network', message: 'Failed to fetch' });
  });

  it('returns undefined for 204 (logout)', async () => {
    const f: FetchLike = async () => new Response(null, { status: 204 });
    const { api } = client(f);
    await expect(api.logout()).resolves.toBeUndefined();
  });

  it('rejects a success answer that is not JSON', async () => {
    const f: FetchLike = async () => new Response('<html>', { status: 200 });
    const { api } = client(f);
    await expect(api.me()).rejects.toMatchObject({ code: 'invalid_response' });
  });

  it('builds the chats URL from the filter and paging', async () => {
    const f = vi.fn<FetchLike>(async () => reply(200, { chats: [], next_before: null }));
    const { api } = client(f);
    await api.chats(2, { state: 'opened', phoneIntegration: true }, { limit: 50, before: 99 });
    expect(f.mock.calls[0][0]).toBe('/api/v1/channels/2/chats?state=opened&integration=phone&limit=50&before=99');
    await api.chats(2, {});
    expect(f.mock.calls[1][0]).toBe('/api/v1/channels/2/chats');
  });

  it('sends snoozed_until only with snoozed', async () => {
    const f = vi.fn<FetchLike>(async () => reply(200, {}));
    const { api } = client(f);
    await api.setState(1, 2, 'snoozed', '2026-11-25T00:00:00.000Z');
    await api.setState(1, 2, 'closed', '2026-11-25T00:00:00.000Z');
    expect(JSON.parse(String(f.mock.calls[0][1]?.body))).toEqual({ state: 'snoozed', snoozed_until: '2026-11-25T00:00:00.000Z' });
    expect(JSON.parse(String(f.mock.calls[1][1]?.body))).toEqual({ state: 'closed' });
  });
  it('fetches a recording MP3 with the token, as a Blob', async () => {
    const bytes = new Uint8Array([0x49, 0x44, 0x33, 4, 0, 0]);
    const f = vi.fn<FetchLike>(async () => new Response(bytes, { status: 200, headers: { 'content-type': 'audio/mpeg' } }));
    const { api } = client(f);
    const blob = await api.recordingMp3(1, 12);
    expect(blob.type).toBe('audio/mpeg');
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(bytes);
    const [url, init] = f.mock.calls[0];
    expect(url).toBe('/api/v1/channels/1/calls/12/recording.mp3');
    const h = init?.headers as Record<string, string>;
    expect(h.authorization).toBe('Bearer tok');
    expect(h.accept).toBe('audio/mpeg');
  });

  it('turns an MP3 that is not ready into ApiError, and a 401 into a lost session', async () => {
    const f: FetchLike = async () => reply(404, { code: 'not_ready', message: 'the recording is not ready yet' });
    const { api } = client(f);
    await expect(api.recordingMp3(1, 12)).rejects.toMatchObject({ status: 404, code: 'not_ready', message: 'the recording is not ready yet' });
    const g: FetchLike = async () => reply(401, { code: 'unauthorized', message: 'no session' });
    const { api: api2, onUnauthorized } = client(g);
    await expect(api2.recordingMp3(1, 12)).rejects.toMatchObject({ status: 401 });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('reads a chat\'s calls and a call\'s recording', async () => {
    const f = vi.fn<FetchLike>(async () => reply(200, []));
    const { api } = client(f);
    await api.chatCalls(1, 40);
    await api.recording(1, 12);
    expect(f.mock.calls.map((c) => c[0])).toEqual(['/api/v1/channels/1/chats/40/calls', '/api/v1/channels/1/calls/12/recording']);
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, EventSocket, eventsUrl, parseFrame, type SocketStatus } from './socket';

describe('eventsUrl', () => {
  it('uses ws on http and wss on https, same host, token encoded', () => {
    expect(eventsUrl({ protocol: 'http:', host: '127.0.0.1:8080' }, 'a b')).toBe('ws://127.0.0.1:8080/api/v1/events?token=a%20b');
    expect(eventsUrl({ protocol: 'https:', host: 'x.example' }, 't')).toBe('wss://x.example/api/v1/events?token=t');
  });
});

describe('backoffDelay', () => {
  it('doubles and caps at 30 s', () => {
    const r = () => 1;
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, r))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(10, r)).toBe(30000);
    expect(backoffDelay(1000, r)).toBe(30000);
    expect(backoffDelay(0, () => 0)).toBe(250);
  });
});

describe('parseFrame', () => {
  it('accepts a documented event frame', () => {
    const f = parseFrame(JSON.stringify({ type: 'event', event: { id: 1, channel_id: 2, chat_id: 3, kind: 'note_added', actor_staff_id: 4, at: 'x', data: { a: 1 } } }));
    expect(f?.type === 'event' && f.event.kind).toBe('note_added');
  });
  it('accepts a private event without a channel (settings_changed)', () => {
    const f = parseFrame(JSON.stringify({ type: 'event', event: { id: 1, channel_id: null, chat_id: null, kind: 'settings_changed', actor_staff_id: 4, at: 'x', data: { staff_id: 4 } } }));
    expect(f?.type === 'event' && f.event.channel_id).toBeNull();
  });
  it('understands the server hello and resync frames', () => {
    expect(parseFrame('{"type":"resync"}')).toEqual({ type: 'resync' });
    expect(parseFrame('{"type":"hello","staff_id":3}')).toEqual({ type: 'hello', staff_id: 3 });
  });
  it('rejects garbage and other frame types', () => {
    expect(parseFrame('not json')).toBeNull();
    expect(parseFrame(JSON.stringify({ type: 'ping' }))).toBeNull();
    expect(parseFrame(JSON.stringify({ type: 'event', event: { kind: 'x' } }))).toBeNull();
    expect(parseFrame(new ArrayBuffer(2))).toBeNull();
  });
  it('fills a missing data with an empty object', () => {
    const f = parseFrame(JSON.stringify({ type: 'event', event: { id: 1, channel_id: 2, kind: 'k' } }));
    expect(f?.type === 'event' && f.event.data).toEqual({});
  });
});

class FakeWs {
  static all: FakeWs[] = [];
  onopen: ((e: Event) => void) | null = null;
  onclose: ((e: CloseEvent) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  onmessage: ((e: MessageEvent) => void) | null = null;
  closed = false;
  constructor(public url: string) {
    FakeWs.all.push(this);
  }
  close() {
    this.closed = true;
  }
  open() {
    this.onopen?.({} as Event);
  }
  drop() {
    this.onclose?.({} as CloseEvent);
  }
  send(data: string) {
    this.onmessage?.({ data } as MessageEvent);
  }
}

describe('EventSocket', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeWs.all = [];
  });
  afterEach(() => vi.useRealTimers());

  it('delivers events, reconnects with backoff after a drop and asks for a resync', () => {
    const events: number[] = [];
    const statuses: SocketStatus[] = [];
    let resyncs = 0;
    const s = new EventSocket({
      url: () => 'ws://h/api/v1/events?token=t',
      onEvent: (e) => events.push(e.id),
      onStatus: (x) => statuses.push(x),
      onResync: () => resyncs++,
      create: (u) => new FakeWs(u),
      random: () => 1,
    });
    s.start();
    expect(FakeWs.all).toHaveLength(1);
    FakeWs.all[0].open();
    FakeWs.all[0].send(JSON.stringify({ type: 'event', event: { id: 42, channel_id: 1, kind: 'k', data: {} } }));
    expect(events).toEqual([42]);
    expect(resyncs).toBe(0);
    FakeWs.all[0].send('{"type":"hello","staff_id":1}');
    expect(resyncs).toBe(0);
    FakeWs.all[0].send('{"type":"resync"}');
    expect(resyncs).toBe(1);
    resyncs = 0;

    FakeWs.all[0].drop();
    expect(statuses.at(-1)).toBe('reconnecting');
    vi.advanceTimersByTime(499);
    expect(FakeWs.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeWs.all).toHaveLength(2);
    FakeWs.all[1].drop(); // fails again: next delay doubles
    vi.advanceTimersByTime(999);
    expect(FakeWs.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeWs.all).toHaveLength(3);
    FakeWs.all[2].open();
    expect(statuses.at(-1)).toBe('live');
    expect(resyncs).toBe(1);

    FakeWs.all[2].drop(); // backoff was reset by the successful open
    vi.advanceTimersByTime(500);
    expect(FakeWs.all).toHaveLength(4);
    s.stop();
    expect(FakeWs.all[3].closed).toBe(true);
    vi.advanceTimersByTime(60_000);
    expect(FakeWs.all).toHaveLength(4);
    expect(statuses.at(-1)).toBe('closed');
  });

  it('does not connect without a token', () => {
    const s = new EventSocket({ url: () => null, onEvent: () => {}, create: (u) => new FakeWs(u) });
    s.start();
    expect(FakeWs.all).toHaveLength(0);
  });
});

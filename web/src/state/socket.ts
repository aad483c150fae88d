import type { DenwaEvent, EventFrame } from '../api/types';

export type SocketStatus = 'connecting' | 'live' | 'reconnecting' | 'closed';

/** ws:// or wss:// URL of the events stream on the page's own origin (docs/API.md). */
export function eventsUrl(loc: { protocol: string; host: string }, token: string): string {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${loc.host}/api/v1/events?token=${encodeURIComponent(token)}`;
}

/** Delay before reconnect attempt `n` (0-based): 0.5 s doubling up to 30 s, times a jitter in [0.5, 1]. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 500 * 2 ** Math.min(attempt, 16));
  return Math.round(base * (0.5 + random() / 2));
}

/** Reads one WebSocket text frame; null for anything not understood. */
export function parseFrame(data: unknown): EventFrame | null {
  if (typeof data !== 'string') return null;
  let j: unknown;
  try {
    j = JSON.parse(data);
  } catch {
    return null;
  }
  if (!j || typeof j !== 'object') return null;
  const f = j as { type?: unknown; event?: unknown; staff_id?: unknown };
  if (f.type === 'resync') return { type: 'resync' };
  if (f.type === 'hello') return { type: 'hello', staff_id: typeof f.staff_id === 'number' ? f.staff_id : undefined };
  if (f.type !== 'event' || !f.event || typeof f.event !== 'object') return null;
  const e = f.event as DenwaEvent;
  if (typeof e.id !== 'number' || typeof e.kind !== 'string') return null;
  if (typeof e.channel_id !== 'number') e.channel_id = null;
  if (typeof e.chat_id !== 'number') e.chat_id = null;
  if (!e.data || typeof e.data !== 'object') e.data = {};
  return { type: 'event', event: e };
}

interface WsLike {
  onopen: ((ev: Event) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  close(code?: number): void;
}

export interface EventSocketOptions {
  url: () => string | null;
  onEvent: (e: DenwaEvent) => void;
  onStatus?: (s: SocketStatus) => void;
  /** Called after a reconnect (not the first connect) and on a server `resync` frame: events may have been missed. */
  onResync?: () => void;
  create?: (url: string) => WsLike;
  random?: () => number;
}

/** The live-updates WebSocket with reconnect and exponential backoff. */
export class EventSocket {
  private ws: WsLike | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private everOpened = false;

  constructor(private readonly opts: EventSocketOptions) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onerror = null;
      ws.onmessage = null;
      ws.onopen = null;
      ws.close(1000);
    }
    this.opts.onStatus?.('closed');
  }

  private connect(): void {
    if (this.stopped) return;
    const url = this.opts.url();
    if (!url) return;
    this.opts.onStatus?.(this.everOpened ? 'reconnecting' : 'connecting');
    let ws: WsLike;
    try {
      ws = this.opts.create ? this.opts.create(url) : (new WebSocket(url) as unknown as WsLike);
    } catch {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const again = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.opts.onStatus?.('live');
      if (again) this.opts.onResync?.();
    };
    ws.onmessage = (m) => {
      const f = parseFrame(m.data);
      if (f?.type === 'event') this.opts.onEvent(f.event);
      else if (f?.type === 'resync') this.opts.onResync?.();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.schedule();
    };
  }

  private schedule(): void {
    if (this.stopped) return;
    this.opts.onStatus?.('reconnecting');
    const d = backoffDelay(this.attempt++, this.opts.random);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, d);
  }
}

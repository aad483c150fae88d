// The console's view of live calls, folded from the `call_*` events the WebSocket pushes
// (docs: ARCHITECTURE.md "Call lifecycle"). Pure: the CallBar renders it and does the I/O.
import type { DenwaEvent, LiveCall, RingInfo } from '../api/types';

/** `dialing`: a call I placed, not answered yet (I am connected and hear its ringing). */
export type MyState = 'ringing' | 'invited' | 'connecting' | 'dialing' | 'joined' | null;

export interface CallView {
  callId: number;
  channelId: number;
  chatId: number | null;
  ring: RingInfo | null;
  /** My part: rung, invited, joining, in it; null when I only watch it (a teammate's call). */
  mine: MyState;
  invitedBy: number | null;
  participants: number[];
  /** Staff muted (as the server says). */
  muted: number[];
  onHold: boolean;
  /** A call I placed: the far end rings (180/183). */
  calleeRinging: boolean;
  /** …and sends its own ringing or announcements as early media (no local ringback then). */
  earlyMedia: boolean;
}

export type Calls = Record<number, CallView>;

function callIdOf(e: DenwaEvent): number | null {
  const d = e.data as Record<string, unknown>;
  const id = d.call_record_id ?? d.call_id;
  return typeof id === 'number' ? id : null;
}

function base(e: DenwaEvent, id: number, prev: CallView | undefined): CallView {
  return (
    prev ?? {
      callId: id,
      channelId: e.channel_id ?? 0,
      chatId: e.chat_id,
      ring: null,
      mine: null,
      invitedBy: null,
      participants: [],
      muted: [],
      onHold: false,
      calleeRinging: false,
      earlyMedia: false,
    }
  );
}

/** Folds one event into the calls `me` sees. Returns the same object when nothing changed. */
export function foldCall(calls: Calls, e: DenwaEvent, me: number): Calls {
  if (!e.kind.startsWith('call_')) return calls;
  const id = callIdOf(e);
  if (id === null) return calls;
  const d = e.data as Record<string, unknown>;
  const staff = typeof d.staff_id === 'number' ? d.staff_id : null;
  const prev = calls[id];
  const c: CallView = { ...base(e, id, prev) };
  const ring = (d.ring as RingInfo | undefined) ?? null;
  switch (e.kind) {
    case 'call_started':
      if (ring) c.ring = ring;
      if (d.direction === 'outbound' && d.placed_by === me && c.mine === null) c.mine = 'dialing';
      break;
    case 'call_ringing': {
      const ids = Array.isArray(d.staff_ids) ? (d.staff_ids as number[]) : [];
      if (ring) c.ring = ring;
      if (d.callee === true) {
        c.calleeRinging = true;
        c.earlyMedia = d.early_media === true;
      }
      if (ids.includes(me) && c.mine === null) c.mine = 'ringing';
      break;
    }
    case 'call_invited':
      if (ring) c.ring = ring;
      if (staff === me && c.mine !== 'joined') {
        c.mine = 'invited';
        c.invitedBy = typeof d.invited_by === 'number' ? d.invited_by : null;
      }
      break;
    case 'call_declined':
    case 'call_invite_missed':
      if (staff === me && c.mine !== 'joined') c.mine = null;
      break;
    case 'call_answered':
      // Someone else took it: stop ringing here.
      if (staff !== me && c.mine === 'ringing') c.mine = null;
      break;
    case 'call_participant_joined':
      if (staff !== null && !c.participants.includes(staff)) c.participants = [...c.participants, staff];
      if (staff !== null && d.muted === true && !c.muted.includes(staff)) c.muted = [...c.muted, staff];
      if (staff === me) c.mine = 'joined';
      break;
    case 'call_participant_left':
      c.participants = c.participants.filter((s) => s !== staff);
      c.muted = c.muted.filter((s) => s !== staff);
      if (staff === me) c.mine = null;
      break;
    case 'call_mute_changed':
      if (staff !== null) c.muted = d.muted === true ? [...c.muted.filter((s) => s !== staff), staff] : c.muted.filter((s) => s !== staff);
      break;
    case 'call_held':
      c.onHold = true;
      break;
    case 'call_resumed':
      c.onHold = false;
      break;
    case 'call_missed':
    case 'call_ended': {
      const next = { ...calls };
      delete next[id];
      return next;
    }
    default:
      return calls;
  }
  return { ...calls, [id]: c };
}

/** Marks my accept in flight (the ring stops, the ring box shows "connecting"). */
export function connecting(calls: Calls, id: number): Calls {
  const c = calls[id];
  if (!c) return calls;
  return { ...calls, [id]: { ...c, mine: 'connecting' } };
}

/** Calls as `/api/v1/me/calls` lists them after a reload. */
export function fromLive(list: LiveCall[]): Calls {
  const out: Calls = {};
  for (const l of list) {
    out[l.call_id] = {
      callId: l.call_id,
      channelId: l.channel_id,
      chatId: l.chat_id,
      ring: l.ring,
      mine: l.state,
      invitedBy: null,
      participants: l.participants,
      muted: [],
      onHold: l.on_hold,
      calleeRinging: false,
      earlyMedia: false,
    };
  }
  return out;
}

/** The one call ringing for me that the console shows, if any (oldest first). */
export function ringingForMe(calls: Calls): CallView | null {
  return Object.values(calls).find((c) => c.mine === 'ringing' || c.mine === 'invited') ?? null;
}

/** The call I am in (or joining, or placing), if any (SPEC AS-5: at most one). */
export function myCall(calls: Calls): CallView | null {
  return Object.values(calls).find((c) => c.mine === 'joined' || c.mine === 'connecting' || c.mine === 'dialing') ?? null;
}

/** How a call I placed ended, as `call_ended` says (`busy`, `declined`, `no_answer`, `failed`,
 * `answered`), when `e` ends one; else null. Read before folding `e`. */
export function placedOutcome(calls: Calls, e: DenwaEvent, me: number): string | null {
  if (e.kind !== 'call_ended') return null;
  const d = e.data as Record<string, unknown>;
  const id = callIdOf(e);
  if (d.direction !== 'outbound' || id === null || typeof d.outcome !== 'string') return null;
  const c = calls[id];
  return c && (c.mine === 'dialing' || c.ring?.placed_by === me) ? d.outcome : null;
}

/** Only `0-9 * # A-D` are dialpad keys. */
export function isDtmf(key: string): boolean {
  return /^[0-9*#A-D]$/.test(key);
}

// Recordings and transcripts (SPEC RC-1..3): the pure parts of the console's recording panel —
// labels, times, where a call's panel sits in the timeline, and when to ask the server again.
import type { CallRecord, DenwaEvent, Recording, TranscriptLine } from '../api/types';
import type { T } from '../i18n/context';

/** The playback speeds offered next to the player. */
export const PLAYBACK_RATES = [0.75, 1, 1.25, 1.5, 2] as const;

/** The stored events that tell a chat its call's recording or transcript changed. */
export const RECORDING_EVENTS: ReadonlySet<string> = new Set(['recording_ready', 'transcript_ready', 'transcript_failed']);

/** A position in a recording as m:ss (h:mm:ss from an hour on); rounded down, like players show it. */
export function fmtClock(ms: number | null | undefined): string {
  const total = typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** A length (of a recording) as m:ss, to the nearest second like the call's own duration. */
export function fmtLength(ms: number | null | undefined): string {
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? fmtClock(Math.round(ms / 1000) * 1000) : fmtClock(0);
}

/** A file size for people: 980 B, 41 KB, 1.4 MB. */
export function fmtBytes(n: number | null | undefined): string {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return '';
  if (n < 1000) return `${n} B`;
  if (n < 1_000_000) return `${Math.round(n / 1000)} KB`;
  return `${(n / 1_000_000).toFixed(1)} MB`;
}

/** The staff id in a transcript speaker (`"12"`, or `"staff-12"` as the track list names it); null for the customer. */
export function speakerStaffId(speaker: string): number | null {
  const m = /^(?:staff-)?(\d+)$/.exec(speaker.trim());
  return m ? Number(m[1]) : null;
}

/**
 * Who said a transcript line, in the console's words: the customer by name (or "Customer"),
 * staff by their name from the channel's directory (or "Staff #id" for someone no longer in it).
 */
export function speakerLabel(
  speaker: string,
  customerName: string | null | undefined,
  staffName: (id: number) => string | null,
  t: T,
): string {
  if (speaker === 'customer') return customerName?.trim() || t('speaker.customer');
  const id = speakerStaffId(speaker);
  if (id === null) return speaker;
  return staffName(id) ?? t('speaker.staff', { id });
}

/** The index of the line being said at `ms` into the recording, or -1 between lines. */
export function activeLine(lines: readonly TranscriptLine[], ms: number): number {
  let found = -1;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.offset_ms > ms) break;
    if (ms < Math.max(l.end_ms, l.offset_ms + 1)) found = i;
  }
  return found;
}

/** The call (record id) an event belongs to: `call_*` events carry `call_record_id`, recording events `call_id`. */
export function eventCallId(ev: DenwaEvent): number | null {
  const d = ev.data as Record<string, unknown>;
  const id = d.call_record_id ?? d.call_id;
  return typeof id === 'number' ? id : null;
}

/** The calls of a chat that have a recording panel: those that were recorded. */
export function recordedCalls(calls: readonly CallRecord[]): CallRecord[] {
  return calls.filter((c) => c.recording !== null && c.recording !== undefined);
}

/**
 * Where each call's panel goes in the timeline: after the last event of that call (its end,
 * or its recording/transcript line once they came). `after` maps an event id to the calls shown
 * after it; `rest` are calls none of whose events are in the timeline (shown at its end).
 */
export function placeRecordings(timeline: readonly DenwaEvent[], callIds: readonly number[]): { after: Map<number, number[]>; rest: number[] } {
  const last = new Map<number, number>();
  const wanted = new Set(callIds);
  for (const ev of timeline) {
    const id = eventCallId(ev);
    if (id !== null && wanted.has(id)) last.set(id, ev.id);
  }
  const after = new Map<number, number[]>();
  const rest: number[] = [];
  for (const id of callIds) {
    const at = last.get(id);
    if (at === undefined) rest.push(id);
    else after.set(at, [...(after.get(at) ?? []), id]);
  }
  return { after, rest };
}

/**
 * What a chat's list of calls depends on, as a string: the timeline's answers, ends and
 * recording events. The list is fetched again when it changes.
 */
export function callsSignature(timeline: readonly DenwaEvent[]): string {
  return timeline
    .filter((e) => e.kind === 'call_answered' || e.kind === 'call_ended' || RECORDING_EVENTS.has(e.kind))
    .map((e) => e.id)
    .join(',');
}

/** The same for one call's recording: its end and its recording events. */
export function recordingSignature(timeline: readonly DenwaEvent[], callId: number): string {
  return timeline
    .filter((e) => (e.kind === 'call_ended' || RECORDING_EVENTS.has(e.kind)) && eventCallId(e) === callId)
    .map((e) => e.id)
    .join(',');
}

/** Whether the server is still working on an ended call's MP3 or transcript (the panel asks again). */
export function inProgress(rec: Recording): boolean {
  return rec.mp3 === 'pending' || rec.transcript === 'pending' || rec.transcript === 'running';
}

/** How long to wait before asking again, after `attempt` answers that said "still working": 2 s doubling to 30 s. */
export function pollDelay(attempt: number): number {
  return Math.min(30_000, 2000 * 2 ** Math.max(0, Math.min(attempt, 10)));
}

/** The timeline text of `recording_ready`, `transcript_ready` and `transcript_failed`; null for other kinds. */
export function recordingText(ev: DenwaEvent, t: T): string | null {
  const d = ev.data as Record<string, unknown>;
  switch (ev.kind) {
    case 'recording_ready':
      return t('ev.recording_ready', { duration: fmtLength(typeof d.duration_ms === 'number' ? d.duration_ms : null) });
    case 'transcript_ready':
      return t('ev.transcript_ready', { count: Array.isArray(d.lines) ? d.lines.length : 0 });
    case 'transcript_failed':
      return t('ev.transcript_failed', { error: typeof d.error === 'string' && d.error ? d.error : '–' });
    default:
      return null;
  }
}

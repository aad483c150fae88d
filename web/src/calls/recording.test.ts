import { describe, expect, it } from 'vitest';
import type { CallRecord, DenwaEvent, Recording, TranscriptLine } from '../api/types';
import { translate, type Lang } from '../i18n/messages';
import {
  activeLine, callsSignature, eventCallId, fmtBytes, fmtClock, fmtLength, inProgress, placeRecordings, pollDelay,
  recordedCalls, recordingSignature, recordingText, speakerLabel, speakerStaffId,
} from './recording';

const tr = (lang: Lang) => (k: Parameters<typeof translate>[1], v?: Record<string, string | number>) => translate(lang, k, v);
const en = tr('en');
const ja = tr('ja');

let seq = 0;
const ev = (kind: string, data: Record<string, unknown>, id = ++seq): DenwaEvent => ({
  id,
  channel_id: 1,
  chat_id: 40,
  kind,
  actor_staff_id: null,
  at: '2026-11-25T10:00:00Z',
  data,
});

const line = (speaker: string, offset_ms: number, end_ms: number, text = 'x'): TranscriptLine => ({ speaker, offset_ms, end_ms, text });

const rec = (over: Partial<Recording>): Recording => ({
  call_id: 5,
  channel_id: 1,
  chat_id: 40,
  mp3: 'ready',
  duration_ms: 12_000,
  mp3_bytes: 48_000,
  transcript: 'done',
  tracks_done: 2,
  tracks_total: 2,
  language: 'en',
  error: null,
  lines: [],
  ...over,
});

const call = (id: number, recording: string | null): CallRecord => ({
  id,
  channel_id: 1,
  chat_id: 40,
  direction: 'inbound',
  customer_id: 3,
  staff_id: 1,
  started_at: '2026-11-25T10:00:00Z',
  answered_at: '2026-11-25T10:00:05Z',
  ended_at: '2026-11-25T10:01:00Z',
  participants: [1],
  recording,
});

describe('fmtClock', () => {
  it('writes m:ss, rounding down like a player', () => {
    expect(fmtClock(0)).toBe('0:00');
    expect(fmtClock(999)).toBe('0:00');
    expect(fmtClock(3_900)).toBe('0:03');
    expect(fmtClock(65_000)).toBe('1:05');
    expect(fmtClock(600_000)).toBe('10:00');
  });
  it('adds hours from an hour on', () => {
    expect(fmtClock(3_600_000)).toBe('1:00:00');
    expect(fmtClock(3_725_000)).toBe('1:02:05');
  });
  it('shows 0:00 for nothing or nonsense', () => {
    expect(fmtClock(null)).toBe('0:00');
    expect(fmtClock(undefined)).toBe('0:00');
    expect(fmtClock(-5)).toBe('0:00');
    expect(fmtClock(Number.NaN)).toBe('0:00');
  });
});

describe('fmtLength', () => {
  it('rounds a recording\'s length to the nearest second', () => {
    expect(fmtLength(15_980)).toBe('0:16');
    expect(fmtLength(15_400)).toBe('0:15');
    expect(fmtLength(null)).toBe('0:00');
  });
});

describe('fmtBytes', () => {
  it('picks a unit', () => {
    expect(fmtBytes(512)).toBe('512 B');
    expect(fmtBytes(48_213)).toBe('48 KB');
    expect(fmtBytes(1_460_000)).toBe('1.5 MB');
  });
  it('is empty when unknown', () => {
    expect(fmtBytes(null)).toBe('');
    expect(fmtBytes(undefined)).toBe('');
    expect(fmtBytes(-1)).toBe('');
  });
});

describe('speakerLabel', () => {
  const staff = (id: number) => (id === 7 ? 'Sato' : id === 8 ? '鈴木' : null);
  it('names the customer, or says "Customer" for an unnamed one', () => {
    expect(speakerLabel('customer', '山田 太郎', staff, en)).toBe('山田 太郎');
    expect(speakerLabel('customer', '', staff, en)).toBe('Customer');
    expect(speakerLabel('customer', '  ', staff, ja)).toBe('お客様');
    expect(speakerLabel('customer', null, staff, ja)).toBe('お客様');
  });
  it('names staff from the directory by id (also as "staff-<id>")', () => {
    expect(speakerLabel('7', 'Yamada', staff, en)).toBe('Sato');
    expect(speakerLabel('staff-8', 'Yamada', staff, ja)).toBe('鈴木');
  });
  it('falls back to the id for staff no longer in the directory, and shows anything else as sent', () => {
    expect(speakerLabel('99', 'Yamada', staff, en)).toBe('Staff #99');
    expect(speakerLabel('99', 'Yamada', staff, ja)).toBe('スタッフ #99');
    expect(speakerLabel('bot', 'Yamada', staff, en)).toBe('bot');
  });
  it('reads staff ids', () => {
    expect(speakerStaffId('12')).toBe(12);
    expect(speakerStaffId('staff-12')).toBe(12);
    expect(speakerStaffId('customer')).toBeNull();
    expect(speakerStaffId('12a')).toBeNull();
  });
});

describe('activeLine', () => {
  const lines = [line('customer', 500, 3000), line('7', 3500, 6000), line('customer', 5800, 8000)];
  it('finds the line being said', () => {
    expect(activeLine(lines, 0)).toBe(-1);
    expect(activeLine(lines, 500)).toBe(0);
    expect(activeLine(lines, 2999)).toBe(0);
    expect(activeLine(lines, 3200)).toBe(-1);
    expect(activeLine(lines, 4000)).toBe(1);
    expect(activeLine(lines, 9000)).toBe(-1);
  });
  it('prefers the later of two overlapping lines', () => {
    expect(activeLine(lines, 5900)).toBe(2);
  });
  it('handles no lines and lines without length', () => {
    expect(activeLine([], 1000)).toBe(-1);
    expect(activeLine([line('customer', 1000, 1000)], 1000)).toBe(0);
  });
});

describe('where recordings go in the timeline', () => {
  it('reads the call of call events and of recording events', () => {
    expect(eventCallId(ev('call_ended', { call_record_id: 5 }))).toBe(5);
    expect(eventCallId(ev('recording_ready', { call_id: 6 }))).toBe(6);
    expect(eventCallId(ev('note_added', {}))).toBeNull();
  });

  it('keeps only recorded calls', () => {
    expect(recordedCalls([call(1, null), call(2, 'recordings/x'), call(3, null)]).map((c) => c.id)).toEqual([2]);
  });

  it('puts each call after its last event, and calls without events at the end', () => {
    const tl = [
      ev('call_started', { call_record_id: 5 }, 1),
      ev('call_ended', { call_record_id: 5 }, 2),
      ev('note_added', {}, 3),
      ev('call_started', { call_record_id: 6 }, 4),
      ev('recording_ready', { call_id: 5 }, 5),
      ev('call_ended', { call_record_id: 6 }, 6),
    ];
    const { after, rest } = placeRecordings(tl, [5, 6, 9]);
    expect([...after.entries()]).toEqual([[5, [5]], [6, [6]]]);
    expect(rest).toEqual([9]);
  });

  it('changes its signatures only on the events that matter', () => {
    const tl = [ev('call_started', { call_record_id: 5 }, 1), ev('call_answered', { call_record_id: 5 }, 2), ev('call_held', { call_record_id: 5 }, 3)];
    expect(callsSignature(tl)).toBe('2');
    const more = [...tl, ev('call_ended', { call_record_id: 5 }, 4), ev('transcript_ready', { call_id: 5, lines: [] }, 5), ev('recording_ready', { call_id: 6 }, 6)];
    expect(callsSignature(more)).toBe('2,4,5,6');
    expect(recordingSignature(more, 5)).toBe('4,5');
    expect(recordingSignature(more, 6)).toBe('6');
    expect(recordingSignature(tl, 5)).toBe('');
  });
});

describe('asking again', () => {
  it('while the MP3 or the transcript is still being made', () => {
    expect(inProgress(rec({}))).toBe(false);
    expect(inProgress(rec({ mp3: 'pending' }))).toBe(true);
    expect(inProgress(rec({ transcript: 'pending' }))).toBe(true);
    expect(inProgress(rec({ transcript: 'running' }))).toBe(true);
    expect(inProgress(rec({ mp3: 'failed', transcript: 'failed' }))).toBe(false);
    expect(inProgress(rec({ transcript: 'off' }))).toBe(false);
  });
  it('backs off from 2 s to 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 50].map(pollDelay)).toEqual([2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });
});

describe('recording events in the timeline', () => {
  it('says what happened, in both languages', () => {
    const ready = ev('recording_ready', { call_id: 5, duration_ms: 65_400, mp3_bytes: 260_000 });
    expect(recordingText(ready, en)).toBe('Call recording ready · 1:05');
    expect(recordingText(ready, ja)).toBe('通話録音ができました · 1:05');
    const done = ev('transcript_ready', { call_id: 5, language: 'en', lines: [line('customer', 0, 1), line('7', 2, 3)] });
    expect(recordingText(done, en)).toBe('Call transcript ready · 2 lines');
    expect(recordingText(done, ja)).toBe('通話の文字起こしができました · 2 行');
    const failed = ev('transcript_failed', { call_id: 5, error: 'model missing' });
    expect(recordingText(failed, en)).toBe('The call could not be transcribed: model missing');
    expect(recordingText(failed, ja)).toBe('通話を文字起こしできませんでした: model missing');
  });
  it('is null for other kinds', () => {
    expect(recordingText(ev('call_ended', {}), en)).toBeNull();
  });
});

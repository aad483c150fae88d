import { describe, expect, it } from 'vitest';
import { ApiError } from './api/client';
import { translate, type MsgKey } from './i18n/messages';
import { describeError, fmtTime, localInputValue } from './util';

const t = (k: MsgKey, v?: Record<string, string | number>) => translate('en', k, v);

describe('describeError', () => {
  it('explains the IN-7 refusal and keeps the server reason as detail', () => {
    const d = describeError(t, new ApiError(422, 'phone_chat_internal_only', 'a phone chat allows internal notes only'));
    expect(d.text).toMatch(/internal notes only/);
    expect(d.detail).toBe('a phone chat allows internal notes only');
    expect(d.code).toBe('phone_chat_internal_only');
  });
  it('uses a generic sentence for unknown codes, still with the server message', () => {
    const d = describeError(t, new ApiError(500, 'internal', 'database is locked'));
    expect(d.text).toBe('Something went wrong.');
    expect(d.detail).toBe('database is locked');
  });
  it('handles non-API errors', () => {
    expect(describeError(t, new Error('boom'))).toEqual({ text: 'Something went wrong.', detail: 'boom', code: null });
  });
  it('does not repeat a message that is just the code', () => {
    expect(describeError(t, new ApiError(403, 'forbidden', 'forbidden')).detail).toBeNull();
  });
});

describe('fmtTime', () => {
  it('shows times in the channel time zone', () => {
    expect(fmtTime('2026-11-24T14:01:00Z', 'ja', 'Asia/Tokyo')).toContain('23:01');
    expect(fmtTime('2026-11-24T14:01:00Z', 'en', 'UTC')).toContain('14:01');
  });
  it('survives nanosecond fractions, empty and bad input, and unknown zones', () => {
    expect(fmtTime('2026-11-24T14:01:00.123456789Z', 'en', 'UTC')).toContain('14:01');
    expect(fmtTime(null, 'en')).toBe('');
    expect(fmtTime('not a time', 'en')).toBe('not a time');
    expect(fmtTime('2026-11-24T14:01:00Z', 'en', 'Not/AZone')).not.toBe('');
  });
});

describe('localInputValue', () => {
  it('formats for datetime-local', () => {
    expect(localInputValue(60, new Date(2026, 0, 2, 3, 4))).toBe('2026-01-02T04:04');
  });
});

import { describe, expect, it } from 'vitest';
import type { DenwaEvent } from '../api/types';
import { connecting, foldCall, isDtmf, myCall, placedOutcome, ringingForMe, type Calls } from './state';

const ME = 7;
let seq = 0;
const ev = (kind: string, data: Record<string, unknown>): DenwaEvent => ({
  id: ++seq,
  channel_id: 1,
  chat_id: 40,
  kind,
  actor_staff_id: null,
  at: '2026-11-24T10:00:00Z',
  data: { call_record_id: 5, ...data },
});
const ring = { call_id: 5, channel_id: 1, chat_id: 40, customer: { id: 3, name: 'Yamada', kind: 'member', known: true }, caller: '+819011112222', caller_display: '090-1111-2222', dialled: '+815012345678', profile_fields: [{ field: 'plan', value: 'Gold' }] };

const fold = (events: DenwaEvent[], start: Calls = {}) => events.reduce((c, e) => foldCall(c, e, ME), start);

describe('call state from events', () => {
  it('rings me with the caller and profile fields, then stops when someone else answers', () => {
    let c = fold([ev('call_started', {}), ev('call_ringing', { staff_ids: [ME, 8], ring })]);
    expect(ringingForMe(c)?.ring?.profile_fields).toEqual([{ field: 'plan', value: 'Gold' }]);
    c = fold([ev('call_answered', { staff_id: 8 })], c);
    expect(ringingForMe(c)).toBeNull();
    expect(c[5]).toBeDefined(); // still a live call of the channel
  });

  it('does not ring staff who were not rung', () => {
    const c = fold([ev('call_ringing', { staff_ids: [8], ring })]);
    expect(ringingForMe(c)).toBeNull();
  });

  it('follows my accept through joining, hold, mute and the end', () => {
    let c = fold([ev('call_ringing', { staff_ids: [ME], ring })]);
    c = connecting(c, 5);
    expect(myCall(c)?.mine).toBe('connecting');
    c = fold([ev('call_answered', { staff_id: ME }), ev('call_participant_joined', { staff_id: ME, muted: true })], c);
    expect(myCall(c)?.mine).toBe('joined');
    expect(myCall(c)?.muted).toEqual([ME]);
    c = fold([ev('call_mute_changed', { staff_id: ME, muted: false }), ev('call_held', { staff_id: ME })], c);
    expect(myCall(c)?.muted).toEqual([]);
    expect(myCall(c)?.onHold).toBe(true);
    c = fold([ev('call_resumed', {}), ev('call_ended', { ended_by: 'customer' })], c);
    expect(myCall(c)).toBeNull();
    expect(c[5]).toBeUndefined();
  });

  it('shows an invitation and drops it when missed', () => {
    let c = fold([ev('call_invited', { staff_id: ME, invited_by: 8, ring })]);
    expect(ringingForMe(c)?.mine).toBe('invited');
    expect(ringingForMe(c)?.invitedBy).toBe(8);
    c = fold([ev('call_invite_missed', { staff_id: ME })], c);
    expect(ringingForMe(c)).toBeNull();
  });

  it('leaving takes me out; teammates stay', () => {
    let c = fold([ev('call_participant_joined', { staff_id: ME }), ev('call_participant_joined', { staff_id: 8 })]);
    c = fold([ev('call_participant_left', { staff_id: ME })], c);
    expect(myCall(c)).toBeNull();
    expect(c[5].participants).toEqual([8]);
  });

  it('ignores other events and knows dialpad keys', () => {
    const c = {};
    expect(foldCall(c, { ...ev('note_added', {}) }, ME)).toBe(c);
    expect(isDtmf('5') && isDtmf('#') && isDtmf('D')).toBe(true);
    expect(isDtmf('x') || isDtmf('12')).toBe(false);
  });

  it('follows a call I placed: dialing, the far end ringing, the answer, and how it ended', () => {
    const placed = { ...ring, direction: 'outbound' as const, placed_by: ME };
    let c = fold([ev('call_started', { direction: 'outbound', placed_by: ME, ring: placed })]);
    expect(myCall(c)?.mine).toBe('dialing');
    expect(ringingForMe(c)).toBeNull();
    c = fold([ev('call_ringing', { staff_ids: [], callee: true, early_media: false, ring: placed })], c);
    expect(myCall(c)?.calleeRinging).toBe(true);
    expect(myCall(c)?.earlyMedia).toBe(false);
    c = fold([ev('call_answered', { by: 'callee', placed_by: ME }), ev('call_participant_joined', { staff_id: ME })], c);
    expect(myCall(c)?.mine).toBe('joined');
    const end = ev('call_ended', { direction: 'outbound', outcome: 'answered' });
    expect(placedOutcome(c, end, ME)).toBe('answered');
    expect(myCall(fold([end], c))).toBeNull();
  });

  it('says how an unanswered call I placed ended, and nothing for teammates\' calls', () => {
    const c = fold([ev('call_started', { direction: 'outbound', placed_by: ME })]);
    expect(placedOutcome(c, ev('call_ended', { direction: 'outbound', outcome: 'busy' }), ME)).toBe('busy');
    const theirs = fold([ev('call_started', { direction: 'outbound', placed_by: 8 })]);
    expect(myCall(theirs)).toBeNull();
    expect(placedOutcome(theirs, ev('call_ended', { direction: 'outbound', outcome: 'busy' }), ME)).toBeNull();
  });
});

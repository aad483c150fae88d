// Incoming calls and the Ring box (SPEC IN-2, RG-1..8, HD-1..4, AS-5): the ring with the
// caller and profile fields (ringtone + browser notification), accept/decline, and while in a
// call: participants, mute, hold/resume, dialpad, invite, leave, end, microphone/speaker
// choice with an input level meter. Calling out (SPEC OUT-1..5): the dialer, the placed
// call's ringback while the far end rings, and how it ended (busy, declined, no answer…).
import { useCallback, useEffect, useRef, useState } from 'react';
import type { DenwaEvent } from '../api/types';
import { useConsole } from '../console';
import { useI18n } from '../i18n/context';
import { ErrorNote } from '../components/ErrorNote';
import { ApiError } from '../api/client';
import { go } from '../router';
import { connecting, foldCall, fromLive, isDtmf, myCall, placedOutcome, ringingForMe, type Calls, type CallView } from './state';
import { levelMeter, openLeg, ringback, ringtone, setSpeaker, switchMic, type Leg } from './rtc';
import { Dialer, type DialRequest } from './Dialer';

interface Props {
  /** Registers for every `call_*` event of every channel of mine. */
  subscribeCalls: (fn: (e: DenwaEvent) => void) => () => void;
  /** The dialer's request while it is open. */
  dialer: DialRequest | null;
  /** Opens (with a request) or closes (null) the dialer. */
  onDialer: (r: DialRequest | null) => void;
}

export function CallBar({ subscribeCalls, dialer, onDialer }: Props) {
  const { t } = useI18n();
  const c = useConsole();
  const me = c.me.staff.id;
  const [calls, setCalls] = useState<Calls>({});
  const [error, setError] = useState<unknown>(null);
  const [mics, setMics] = useState<MediaDeviceInfo[]>([]);
  const [speakers, setSpeakers] = useState<MediaDeviceInfo[]>([]);
  const [micId, setMicId] = useState<string | null>(null);
  const [speakerId, setSpeakerId] = useState<string | null>(null);
  const [level, setLevel] = useState(0);
  const [dialed, setDialed] = useState('');
  const [invitee, setInvitee] = useState<number | ''>('');
  const [blockedFor, setBlockedFor] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const leg = useRef<{ callId: number; leg: Leg } | null>(null);
  const callsNow = useRef<Calls>({});
  callsNow.current = calls;

  useEffect(
    () =>
      subscribeCalls((e) => {
        const o = placedOutcome(callsNow.current, e, me);
        if (o) setOutcome(o);
        setCalls((prev) => foldCall(prev, e, me));
      }),
    [subscribeCalls, me],
  );
  useEffect(() => {
    c.api.myLiveCalls().then(
      (list) => setCalls((prev) => ({ ...fromLive(list), ...prev })),
      () => {},
    );
  }, [c.api]);

  const ringing = ringingForMe(calls);
  const current = myCall(calls);

  // Ringtone and a browser notification while a call rings for me.
  useEffect(() => {
    if (!ringing) return;
    const stop = ringtone();
    let note: Notification | null = null;
    if (typeof Notification !== 'undefined' && Notification.permission === 'granted' && document.hidden) {
      note = new Notification(t('call.incoming'), { body: ringing.ring?.customer.name || ringing.ring?.caller_display || '' });
    }
    return () => {
      stop();
      note?.close();
    };
  }, [ringing?.callId, t]);

  // Ringback while the far end of my call rings without early media of its own.
  const ringbackOn = current?.mine === 'dialing' && current.calleeRinging && !current.earlyMedia;
  useEffect(() => (ringbackOn ? ringback() : undefined), [ringbackOn]);

  // My leg ends when I am no longer in the call.
  useEffect(() => {
    if (leg.current && (!current || current.callId !== leg.current.callId)) {
      leg.current.leg.close();
      leg.current = null;
    }
  }, [current]);
  useEffect(() => () => leg.current?.leg.close(), []);

  // Devices (labels appear once the microphone was allowed).
  const loadDevices = useCallback(() => {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    navigator.mediaDevices.enumerateDevices().then((d) => {
      setMics(d.filter((x) => x.kind === 'audioinput'));
      setSpeakers(d.filter((x) => x.kind === 'audiooutput'));
    }, () => {});
  }, []);
  useEffect(loadDevices, [loadDevices, current?.callId]);

  // Input level meter while in a call.
  useEffect(() => {
    const l = leg.current;
    if (!current || current.mine !== 'joined' || !l) return;
    return levelMeter(l.leg.mic, setLevel);
  }, [current?.callId, current?.mine, micId]);

  const accept = async (call: CallView) => {
    setError(null);
    if (typeof Notification !== 'undefined' && Notification.permission === 'default') void Notification.requestPermission();
    setCalls((prev) => connecting(prev, call.callId));
    try {
      const l = await openLeg(
        async (offer) => {
          const r = await c.api.acceptCall(call.channelId, call.callId, offer);
          if (!r.sdp) throw new Error('no SDP answer');
          return r.sdp;
        },
        micId,
        speakerId,
      );
      leg.current?.leg.close();
      leg.current = { callId: call.callId, leg: l };
      document.body.appendChild(l.audio);
      loadDevices();
    } catch (e) {
      setError(e);
      setCalls((prev) => (prev[call.callId] ? { ...prev, [call.callId]: { ...prev[call.callId], mine: null } } : prev));
    }
  };

  /** Places a call: the browser's offer goes with the request, the answer connects it at once. */
  const place = async (req: DialRequest, to: string, confirmBlocked: boolean) => {
    setError(null);
    setOutcome(null);
    let placed: { callId: number; chatId: number } | null = null;
    try {
      const l = await openLeg(
        async (offer) => {
          const r = await c.api.placeCall(c.cid, {
            to,
            sdp: offer,
            customer_id: req.customerId,
            from_chat_id: req.fromChatId,
            confirm_blocked: confirmBlocked || undefined,
          });
          placed = { callId: r.call_id, chatId: r.chat_id };
          return r.sdp;
        },
        micId,
        speakerId,
      );
      const p = placed as { callId: number; chatId: number } | null;
      if (!p) throw new Error('no call placed');
      leg.current?.leg.close();
      leg.current = { callId: p.callId, leg: l };
      document.body.appendChild(l.audio);
      setBlockedFor(null);
      onDialer(null);
      loadDevices();
      // SPEC OUT-3: the call's own new chat.
      go({ name: 'inbox', chatId: p.chatId });
    } catch (e) {
      if (e instanceof ApiError && e.code === 'blocked_number') setBlockedFor(to);
      else setError(e);
    }
  };

  const act = (p: Promise<unknown>) => {
    setError(null);
    p.catch(setError);
  };

  const dialing = current?.mine === 'dialing';
  return (
    <>
      {dialer && (
        <Dialer
          request={dialer}
          busy={current !== null}
          confirmFor={blockedFor}
          onCall={(to, confirm) => void place(dialer, to, confirm)}
          onClose={() => {
            setBlockedFor(null);
            onDialer(null);
          }}
        />
      )}
      {outcome && (
        <p className={`call-outcome ${outcome}`} role="status" data-testid="call-outcome" data-outcome={outcome}>
          {t(`call.outcome.${outcome}` as 'call.outcome.busy')}
          <button type="button" className="link" onClick={() => setOutcome(null)}>
            ×
          </button>
        </p>
      )}
      {ringing && (
        <section className="ring" role="alertdialog" aria-label={t('call.incoming')} data-testid="incoming-call" data-call-id={ringing.callId}>
          <div className="ring-head">
            <strong>{ringing.mine === 'invited' ? t('call.invitedBy', { name: c.staffName(ringing.invitedBy) ?? '' }) : t('call.incoming')}</strong>
          </div>
          <div className="ring-caller" data-testid="ring-caller">
            <span className="ring-name">{ringing.ring?.customer.name || t('customer.unnamed')}</span>
            <span className="ring-number">{ringing.ring?.caller_display ?? t('call.withheld')}</span>
          </div>
          {ringing.ring && ringing.ring.profile_fields.length > 0 && (
            <dl className="ring-fields" data-testid="ring-fields">
              {ringing.ring.profile_fields.map(({ field, value }) => (
                <div key={field}>
                  <dt>{field}</dt>
                  <dd>{value || '–'}</dd>
                </div>
              ))}
            </dl>
          )}
          <div className="ring-actions">
            <button type="button" className="primary" data-testid="accept-call" onClick={() => void accept(ringing)}>
              {t('call.accept')}
            </button>
            <button type="button" data-testid="decline-call" onClick={() => act(c.api.callAction(ringing.channelId, ringing.callId, 'decline'))}>
              {t('call.decline')}
            </button>
          </div>
        </section>
      )}
      {current && (
        <section className="ringbox" aria-label={t('call.ringBox')} data-testid="ring-box" data-call-id={current.callId} data-state={current.mine ?? ''}>
          <div className="ringbox-head">
            <strong>{current.ring?.customer.name || current.ring?.caller_display || t('call.customer')}</strong>
            {current.onHold && (
              <span className="badge hold" data-testid="hold-badge">
                {t('call.onHold')}
              </span>
            )}
            {current.mine === 'connecting' && <span className="muted small">{t('call.connecting')}</span>}
            {dialing && (
              <span className="muted small" data-testid="dialing">
                {current.calleeRinging ? t('call.calleeRinging') : t('call.dialing', { number: current.ring?.caller_display ?? '' })}
              </span>
            )}
          </div>
          {dialing ? (
            <div className="ringbox-actions">
              <button type="button" className="danger" data-testid="end-call" onClick={() => act(c.api.callAction(current.channelId, current.callId, 'end'))}>
                {t('call.end')}
              </button>
            </div>
          ) : (
          <>
          <ul className="participants" data-testid="participants">
            <li>{t('call.customer')}</li>
            {current.participants.map((id) => (
              <li key={id} data-staff-id={id}>
                {c.staffName(id) ?? String(id)}
                {current.muted.includes(id) ? ` (${t('call.muted')})` : ''}
              </li>
            ))}
          </ul>
          <div className="ringbox-actions">
            {(() => {
              const muted = current.muted.includes(me);
              return (
                <button type="button" data-testid="mute" aria-pressed={muted} onClick={() => act(c.api.muteInCall(current.channelId, current.callId, !muted))}>
                  {muted ? t('call.unmute') : t('call.mute')}
                </button>
              );
            })()}
            <button
              type="button"
              data-testid={current.onHold ? 'resume' : 'hold'}
              onClick={() => act(c.api.callAction(current.channelId, current.callId, current.onHold ? 'resume' : 'hold'))}
            >
              {current.onHold ? t('call.resume') : t('call.hold')}
            </button>
            <button type="button" data-testid="leave" onClick={() => act(c.api.callAction(current.channelId, current.callId, 'leave'))}>
              {t('call.leave')}
            </button>
            <button type="button" className="danger" data-testid="end-call" onClick={() => act(c.api.callAction(current.channelId, current.callId, 'end'))}>
              {t('call.end')}
            </button>
          </div>
          <div className="dialpad" role="group" aria-label={t('call.dialpad')}>
            {['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'].map((k) => (
              <button
                key={k}
                type="button"
                data-testid={`dtmf-${k}`}
                onClick={() => {
                  if (!isDtmf(k)) return;
                  setDialed((d) => (d + k).slice(-16));
                  act(c.api.sendDtmf(current.channelId, current.callId, k));
                }}
              >
                {k}
              </button>
            ))}
            <output className="dialed" data-testid="dialed">
              {dialed}
            </output>
          </div>
          <form
            className="invite"
            onSubmit={(e) => {
              e.preventDefault();
              if (invitee !== '') act(c.api.inviteToCall(current.channelId, current.callId, invitee));
            }}
          >
            <label className="field">
              <span>{t('call.invite')}</span>
              <select data-testid="invitee" value={invitee} onChange={(e) => setInvitee(e.target.value === '' ? '' : Number(e.target.value))}>
                <option value="">–</option>
                {c.members
                  .filter((m) => m.staff.id !== me && !current.participants.includes(m.staff.id))
                  .map((m) => (
                    <option key={m.staff.id} value={m.staff.id}>
                      {m.staff.name}
                    </option>
                  ))}
              </select>
            </label>
            <button type="submit" data-testid="invite" disabled={invitee === ''}>
              {t('call.inviteButton')}
            </button>
          </form>
          <div className="devices">
            <label className="field">
              <span>{t('call.microphone')}</span>
              <select
                data-testid="mic"
                value={micId ?? ''}
                onChange={(e) => {
                  const id = e.target.value || null;
                  setMicId(id);
                  if (id && leg.current) void switchMic(leg.current.leg, id).catch(setError);
                }}
              >
                <option value="">{t('call.default')}</option>
                {mics.map((m) => (
                  <option key={m.deviceId} value={m.deviceId}>
                    {m.label || m.deviceId.slice(0, 8)}
                  </option>
                ))}
              </select>
            </label>
            <label className="field">
              <span>{t('call.speaker')}</span>
              <select
                data-testid="speaker"
                value={speakerId ?? ''}
                onChange={(e) => {
                  const id = e.target.value || null;
                  setSpeakerId(id);
                  if (id && leg.current) void setSpeaker(leg.current.leg.audio, id);
                }}
              >
                <option value="">{t('call.default')}</option>
                {speakers.map((m) => (
                  <option key={m.deviceId} value={m.deviceId}>
                    {m.label || m.deviceId.slice(0, 8)}
                  </option>
                ))}
              </select>
            </label>
            <meter className="level" data-testid="mic-level" min={0} max={1} value={level} aria-label={t('call.level')} />
          </div>
          </>
          )}
        </section>
      )}
      <ErrorNote error={error} onDismiss={() => setError(null)} />
    </>
  );
}

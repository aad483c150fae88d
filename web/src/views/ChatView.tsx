import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import type { CallRecord, ChatDetail, ChatSummary, DenwaEvent } from '../api/types';
import { useConsole } from '../console';
import { useI18n } from '../i18n/context';
import { ErrorNote } from '../components/ErrorNote';
import { MediumIcon } from '../components/icons';
import { fmtTime, localInputValue } from '../util';
import { href } from '../router';
import { CallNumber, CustomerPanel } from './CustomerPanel';
import { RecordingPanel, useChatCalls } from './RecordingPanel';
import { callsSignature, placeRecordings, recordedCalls, recordingText } from '../calls/recording';
import { TagsEditor } from './TagsEditor';

interface Props {
  detail: ChatDetail;
  onChat: (c: ChatSummary) => void;
  reload: () => void;
}

export function ChatView({ detail, onChat, reload }: Props) {
  const { t, lang } = useI18n();
  const c = useConsole();
  const { chat, customer, timeline } = detail;
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [snoozeAt, setSnoozeAt] = useState(() => localInputValue(60));
  const endRef = useRef<HTMLLIElement>(null);
  const calls = useChatCalls(chat.id, chat.medium === 'phone', callsSignature(timeline));

  useEffect(() => {
    endRef.current?.scrollIntoView?.({ block: 'end' });
  }, [timeline.length]);

  /** Runs a chat mutation; the answer updates the chat, and the timeline is refreshed. */
  const mutate = (p: Promise<ChatSummary>) => {
    setBusy(true);
    setError(null);
    return p
      .then((s) => {
        onChat(s);
        reload();
      })
      .catch((e: unknown) => setError(e))
      .finally(() => setBusy(false));
  };

  const snooze = (e: FormEvent) => {
    e.preventDefault();
    const d = new Date(snoozeAt);
    if (Number.isNaN(d.getTime())) return;
    void mutate(c.api.setState(c.cid, chat.id, 'snoozed', d.toISOString()));
  };

  return (
    <div className="chat-pane">
      <section className="conversation" aria-labelledby="chat-title" data-testid="chat-view" data-chat-id={chat.id} data-state={chat.state}>
        <header className="chat-head">
          <a className="back small" href={href({ name: 'inbox', chatId: null })}>
            ← {t('chat.back')}
          </a>
          <h2 id="chat-title">
            <MediumIcon medium={chat.medium} label={t(`medium.${chat.medium}`)} />
            {t('chat.heading', { name: chat.customer.name || t('customer.unnamed'), id: chat.id })}
          </h2>
          {customer && customer.phones.length > 0 && (
            <CallNumber customer={customer} number={customer.phones[0].number} fromChatId={chat.id} testid="chat-call" />
          )}
          <span className={`badge state-${chat.state}`} data-testid="chat-state">
            {chat.state === 'snoozed' && chat.snoozed_until
              ? t('chat.snoozedUntil', { time: fmtTime(chat.snoozed_until, lang, c.timeZone) })
              : t(`state.${chat.state}`)}
          </span>
        </header>
        <ol className="timeline" aria-label={t('chat.timeline')} data-testid="timeline">
          {timeline.length === 0 && <li className="muted">{t('chat.emptyTimeline')}</li>}
          {withRecordings(
            timeline,
            calls.calls,
            (ev) => <TimelineItem key={ev.id} ev={ev} customerName={customer.name} />,
            (call) => <RecordingPanel key={`recording-${call.id}`} call={call} customerName={customer.name} timeline={timeline} />,
          )}
          {calls.error !== null && (
            <li className="tl-error">
              <ErrorNote error={calls.error} testid="calls-error" />
              <button type="button" className="link small" onClick={calls.retry}>
                {t('common.retry')}
              </button>
            </li>
          )}
          <li ref={endRef} aria-hidden="true" className="timeline-end" />
        </ol>
        <Composer chat={chat} onSent={reload} />
      </section>
      <aside className="side" aria-label={t('chat.actions')}>
        <section className="side-card" aria-labelledby="actions-title">
          <h3 id="actions-title" className="sr-only">
            {t('chat.actions')}
          </h3>
          <label className="field">
            <span>{t('chat.assignee')}</span>
            <select
              data-testid="assignee-picker"
              value={chat.assignee_id ?? ''}
              disabled={busy}
              onChange={(e) => mutate(c.api.setAssignee(c.cid, chat.id, e.target.value === '' ? null : Number(e.target.value)))}
            >
              <option value="">{t('chat.unassigned')}</option>
              {c.members.map((m) => (
                <option key={m.staff.id} value={m.staff.id}>
                  {m.staff.name}
                </option>
              ))}
              {chat.assignee_id !== null && !c.members.some((m) => m.staff.id === chat.assignee_id) && (
                <option value={chat.assignee_id}>{c.staffName(chat.assignee_id)}</option>
              )}
            </select>
          </label>
          {chat.assignee_id !== c.me.staff.id && (
            <button type="button" className="link small" disabled={busy} onClick={() => mutate(c.api.setAssignee(c.cid, chat.id, c.me.staff.id))}>
              {t('chat.assignToMe')}
            </button>
          )}
          <label className="field">
            <span>{t('chat.team')}</span>
            <select
              data-testid="team-picker"
              value={chat.team_id ?? ''}
              disabled={busy}
              onChange={(e) => mutate(c.api.setTeam(c.cid, chat.id, e.target.value === '' ? null : Number(e.target.value)))}
            >
              <option value="">{t('chat.noTeam')}</option>
              {c.teams.map((x) => (
                <option key={x.id} value={x.id}>
                  {x.name}
                </option>
              ))}
            </select>
          </label>
          <TagsEditor tags={chat.tags} disabled={busy} onChange={(tags) => mutate(c.api.setTags(c.cid, chat.id, tags))} />
          <div className="state-actions">
            {chat.state !== 'closed' && (
              <button type="button" className="primary" data-testid="close-chat" disabled={busy} onClick={() => mutate(c.api.setState(c.cid, chat.id, 'closed'))}>
                {t('chat.close')}
              </button>
            )}
            {chat.state !== 'opened' && (
              <button type="button" data-testid="reopen-chat" disabled={busy} onClick={() => mutate(c.api.setState(c.cid, chat.id, 'opened'))}>
                {t('chat.reopen')}
              </button>
            )}
          </div>
          {chat.state !== 'snoozed' && (
            <form className="snooze" onSubmit={snooze}>
              <label className="field">
                <span>{t('chat.snoozeUntil')}</span>
                <input type="datetime-local" data-testid="snooze-until" required value={snoozeAt} onChange={(e) => setSnoozeAt(e.target.value)} />
              </label>
              <button type="submit" data-testid="snooze-chat" disabled={busy}>
                {t('chat.snooze')}
              </button>
            </form>
          )}
          <ErrorNote error={error} onDismiss={() => setError(null)} />
        </section>
        <CustomerPanel customer={customer} chatId={chat.id} />
      </aside>
    </div>
  );
}

/**
 * The timeline's items with each recorded call's panel after the call's last event (its end, or
 * its recording lines), as one flat keyed list: a panel that moves down keeps its player.
 */
function withRecordings(
  timeline: DenwaEvent[],
  calls: CallRecord[],
  item: (ev: DenwaEvent) => ReactNode,
  panel: (call: CallRecord) => ReactNode,
): ReactNode[] {
  const recorded = recordedCalls(calls);
  if (recorded.length === 0) return timeline.map(item);
  const byId = new Map(recorded.map((c) => [c.id, c]));
  const { after, rest } = placeRecordings(timeline, recorded.map((c) => c.id));
  const out: ReactNode[] = [];
  const add = (id: number) => {
    const call = byId.get(id);
    if (call) out.push(panel(call));
  };
  for (const ev of timeline) {
    out.push(item(ev));
    after.get(ev.id)?.forEach(add);
  }
  rest.forEach(add);
  return out;
}

function TimelineItem({ ev, customerName }: { ev: DenwaEvent; customerName: string }) {
  const { t, lang } = useI18n();
  const c = useConsole();
  const msg = ev.data.message;
  const chat = ev.data.chat;
  const time = fmtTime(ev.at, lang, c.timeZone);
  let actor = c.staffName(ev.actor_staff_id) ?? t('actor.system');
  if (msg && msg.kind === 'customer') actor = customerName || t('customer.unnamed');
  else if (msg && msg.author_staff_id !== null) actor = c.staffName(msg.author_staff_id) ?? actor;

  if (msg && (ev.kind === 'note_added' || ev.kind === 'message_sent')) {
    const kind = ev.kind === 'note_added' || msg.kind === 'note' ? 'note' : msg.kind;
    const label = kind === 'note' ? t('ev.note_added') : kind === 'customer' ? t('ev.message.customer') : t('ev.message.staff');
    return (
      <li className={`tl-msg tl-${kind}`} data-testid="timeline-item" data-kind={ev.kind} data-event-id={ev.id}>
        <div className="tl-head">
          <strong className="tl-actor">{actor}</strong>
          <span className="tl-label">{label}</span>
          <time className="muted small" dateTime={ev.at}>
            {time}
          </time>
        </div>
        <p className="tl-body">{msg.body}</p>
      </li>
    );
  }

  let text: string;
  switch (ev.kind) {
    case 'chat_opened':
      text = t('ev.chat_opened', { medium: chat ? t(`medium.${chat.medium}`) : '–' });
      break;
    case 'assignee_changed':
      text = chat?.assignee_id ? t('ev.assigned', { name: c.staffName(chat.assignee_id) ?? '' }) : t('ev.unassigned');
      break;
    case 'team_changed':
      text = chat?.team_id ? t('ev.team', { name: c.teamName(chat.team_id) ?? '' }) : t('ev.noTeam');
      break;
    case 'tags_changed':
      text = chat && chat.tags.length > 0 ? t('ev.tags', { tags: chat.tags.join(', ') }) : t('ev.noTags');
      break;
    case 'state_changed':
      if (chat?.state === 'snoozed') text = t('ev.state.snoozed', { time: fmtTime(chat.snoozed_until, lang, c.timeZone) });
      else if (chat?.state === 'closed') text = t('ev.state.closed');
      else text = t('ev.state.opened');
      break;
    default:
      text = callText(ev, t, (id) => c.staffName(id) ?? String(id)) ?? recordingText(ev, t) ?? t('ev.other', { kind: ev.kind });
  }
  return (
    <li className="tl-sys" data-testid="timeline-item" data-kind={ev.kind} data-event-id={ev.id}>
      <span className="tl-actor">{actor}</span>
      <span className="tl-text">{text}</span>
      <time className="muted small" dateTime={ev.at}>
        {time}
      </time>
    </li>
  );
}

function Composer({ chat, onSent }: { chat: ChatSummary; onSent: () => void }) {
  const { t } = useI18n();
  const c = useConsole();
  const phone = chat.medium === 'phone';
  const [mode, setMode] = useState<'note' | 'reply'>('note');
  const [body, setBody] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const effective = phone ? 'note' : mode;

  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    const text = body.trim();
    if (!text || busy) return;
    setBusy(true);
    setError(null);
    const p = effective === 'note' ? c.api.addNote(c.cid, chat.id, text) : c.api.sendMessage(c.cid, chat.id, text);
    p.then(
      () => {
        setBody('');
        onSent();
      },
      (err: unknown) => setError(err),
    ).finally(() => setBusy(false));
  };
  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit();
  };

  return (
    <form className={`composer mode-${effective}`} onSubmit={submit} aria-label={t('composer.label')} data-testid="composer" data-mode={effective}>
      <div className="composer-modes" role="group" aria-label={t('composer.label')}>
        <button type="button" aria-pressed={effective === 'note'} data-testid="mode-note" onClick={() => setMode('note')}>
          {t('composer.note')}
        </button>
        <button
          type="button"
          aria-pressed={effective === 'reply'}
          data-testid="mode-reply"
          disabled={phone}
          aria-describedby={phone ? 'phone-only' : undefined}
          onClick={() => setMode('reply')}
        >
          {t('composer.reply')}
        </button>
      </div>
      {phone && (
        <p id="phone-only" className="notice" data-testid="phone-only-notice">
          {t('composer.phoneOnly')}
        </p>
      )}
      <textarea
        data-testid="composer-input"
        aria-label={effective === 'note' ? t('composer.note') : t('composer.reply')}
        placeholder={effective === 'note' ? t('composer.notePlaceholder') : t('composer.replyPlaceholder')}
        value={body}
        rows={3}
        onChange={(e) => setBody(e.target.value)}
        onKeyDown={onKey}
      />
      <div className="composer-foot">
        <span className="muted small">{t('composer.shortcut')}</span>
        <button type="submit" className="primary" data-testid="composer-submit" disabled={busy || !body.trim()}>
          {effective === 'note' ? t('composer.addNote') : t('composer.send')}
        </button>
      </div>
      <ErrorNote error={error} onDismiss={() => setError(null)} testid="composer-error" />
    </form>
  );
}

/** How long, as m:ss. */
function duration(ms: unknown): string {
  const s = typeof ms === 'number' && ms > 0 ? Math.round(ms / 1000) : 0;
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The timeline text of a `call_*` event (SPEC IN-1..8, RG-*, HD-*), or null for other kinds. */
export function callText(ev: DenwaEvent, t: ReturnType<typeof useI18n>['t'], name: (id: number) => string): string | null {
  const d = ev.data as Record<string, unknown>;
  const who = typeof d.staff_id === 'number' ? name(d.staff_id) : '';
  switch (ev.kind) {
    case 'call_started':
      if (d.direction === 'outbound') {
        return t('ev.call_placed', { name: typeof d.placed_by === 'number' ? name(d.placed_by) : '', callee: typeof d.callee === 'string' ? d.callee : '' });
      }
      return t('ev.call_started', { caller: typeof d.caller === 'string' ? d.caller : t('call.withheld') });
    case 'call_ringing': {
      if (d.callee === true) return t('ev.callee_ringing');
      const ids = Array.isArray(d.staff_ids) ? (d.staff_ids as number[]) : [];
      return ids.length ? t('ev.call_ringing', { names: ids.map(name).join(', ') }) : t('ev.call_ringing_none');
    }
    case 'call_declined':
      return t('ev.call_declined', { name: who });
    case 'call_answered':
      if (d.by === 'callee') return t('ev.callee_answered');
      return t('ev.call_answered', { name: who });
    case 'call_invited':
      return t('ev.call_invited', { name: who });
    case 'call_invite_missed':
      return t('ev.call_invite_missed', { name: who });
    case 'call_participant_joined':
      return t('ev.call_joined', { name: who });
    case 'call_participant_left':
      return t('ev.call_left', { name: who });
    case 'call_mute_changed':
      return d.muted ? t('ev.call_muted', { name: who }) : t('ev.call_unmuted', { name: who });
    case 'call_held':
      return t('ev.call_held');
    case 'call_resumed':
      return t('ev.call_resumed');
    case 'call_missed': {
      const r = d.missed_reason;
      const reason = r === 'notInOperation' || r === 'noOperator' || r === 'userLeft' ? t(`missed.${r}`) : String(r);
      return t('ev.call_missed', { reason });
    }
    case 'call_ended': {
      const by =
        d.ended_by === 'staff' && typeof d.ended_by_staff_id === 'number'
          ? name(d.ended_by_staff_id)
          : d.ended_by === 'customer'
            ? t('ended.customer')
            : t('ended.system');
      const reason = typeof d.reason === 'string' ? ` (${d.reason})` : '';
      const o = d.outcome;
      if (d.direction === 'outbound' && (o === 'busy' || o === 'declined' || o === 'no_answer' || o === 'failed')) {
        const status = typeof d.sip_status === 'number' ? ` (SIP ${d.sip_status})` : '';
        return t('ev.call_not_connected', { outcome: t(`call.outcome.${o}`) }) + status;
      }
      return t('ev.call_ended', { by, duration: duration(d.duration_ms) }) + reason;
    }
    default:
      return null;
  }
}

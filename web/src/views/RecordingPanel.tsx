import { useEffect, useRef, useState, type RefObject } from 'react';
import type { CallRecord, DenwaEvent, Recording } from '../api/types';
import { ApiError } from '../api/client';
import { useConsole } from '../console';
import { useI18n } from '../i18n/context';
import { ErrorNote } from '../components/ErrorNote';
import { PLAYBACK_RATES, activeLine, fmtBytes, fmtClock, fmtLength, inProgress, pollDelay, recordingSignature, speakerLabel } from '../calls/recording';
import { fmtTime } from '../util';

interface Props {
  call: CallRecord;
  customerName: string;
  /** The chat's timeline: the panel asks the server again when its call's end or recording events arrive. */
  timeline: DenwaEvent[];
}

/**
 * A recorded call in the chat timeline (SPEC RC-1..3): the MP3 in a player (fetched with the
 * session token into an object URL, since `<audio src>` cannot send it), its speed and a
 * download, the state of the MP3 and the transcript, and the transcript: clicking a line plays
 * the recording from there.
 */
export function RecordingPanel({ call, customerName, timeline }: Props) {
  const { t, lang } = useI18n();
  const c = useConsole();
  const { api, cid } = c;
  const [rec, setRec] = useState<Recording | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  const ref = useRef<HTMLLIElement>(null);
  const near = useNearViewport(ref);
  const ended = call.ended_at !== null;
  const signature = recordingSignature(timeline, call.id);

  // The recording's state: again when the call ends or a recording event for it arrives, and
  // every few seconds while the server is still making the MP3 or the transcript of an ended call.
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    const load = () => {
      api.recording(cid, call.id).then(
        (r) => {
          if (!live) return;
          setRec(r);
          setError(null);
          if (ended && inProgress(r)) timer = setTimeout(load, pollDelay(attempt++));
        },
        (e: unknown) => {
          if (live) setError(e);
        },
      );
    };
    load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [api, cid, call.id, ended, signature, tick]);

  return (
    <li
      ref={ref}
      className="tl-recording"
      data-testid="recording-panel"
      data-call-id={call.id}
      data-mp3={rec?.mp3 ?? 'unknown'}
      data-transcript={rec?.transcript ?? 'unknown'}
    >
      <section aria-label={t('recording.title')}>
        <header className="rec-head">
          <strong>{t('recording.title')}</strong>
          <time className="muted small" dateTime={call.started_at}>
            {fmtTime(call.started_at, lang, c.timeZone)}
          </time>
        </header>
        {error !== null && (
          <div className="rec-error">
            <ErrorNote error={error} testid="recording-error" />
            <button type="button" className="link small" onClick={() => setTick((n) => n + 1)}>
              {t('common.retry')}
            </button>
          </div>
        )}
        {rec === null && error === null && (
          <p className="muted small" role="status">
            {t('common.loading')}
          </p>
        )}
        {rec !== null && <RecordingBody rec={rec} ended={ended} customerName={customerName} load={near} />}
      </section>
    </li>
  );
}

function RecordingBody({ rec, ended, customerName, load }: { rec: Recording; ended: boolean; customerName: string; load: boolean }) {
  const { t } = useI18n();
  const c = useConsole();
  const { api, cid } = c;
  const audioRef = useRef<HTMLAudioElement>(null);
  const [audio, setAudio] = useState<{ url: string; bytes: number } | null>(null);
  const [audioError, setAudioError] = useState<unknown>(null);
  const [audioTick, setAudioTick] = useState(0);
  const [rate, setRate] = useState(1);
  const [now, setNow] = useState(-1);
  const ready = rec.mp3 === 'ready';
  const fetchAudio = ready && load;

  // The MP3, once it is made and the panel is near the screen, as an object URL (revoked when the panel goes).
  useEffect(() => {
    if (!fetchAudio) return;
    let live = true;
    let url: string | null = null;
    setAudioError(null);
    api.recordingMp3(cid, rec.call_id).then(
      (blob) => {
        if (!live) return;
        url = URL.createObjectURL(blob);
        setAudio({ url, bytes: blob.size });
      },
      (e: unknown) => {
        if (live) setAudioError(e);
      },
    );
    return () => {
      live = false;
      if (url) URL.revokeObjectURL(url);
      setAudio(null);
    };
  }, [api, cid, rec.call_id, fetchAudio, audioTick]);

  useEffect(() => {
    const el = audioRef.current;
    if (!el) return;
    el.defaultPlaybackRate = rate;
    el.playbackRate = rate;
  }, [rate, audio?.url]);

  const seek = (ms: number) => {
    const el = audioRef.current;
    if (!el) return;
    el.currentTime = ms / 1000;
    setNow(ms);
    el.play().catch((e: unknown) => {
      // A newer seek or load interrupted this one: not an error.
      if (!(e instanceof DOMException && e.name === 'AbortError')) setAudioError(e);
    });
  };

  const current = activeLine(rec.lines, now);
  const staffName = (id: number) => c.staffName(id);

  return (
    <>
      <div className="rec-audio">
        {rec.mp3 === 'pending' && (
          <p className="muted small" role="status" data-testid="recording-status" data-state="pending">
            {t(ended ? 'recording.pending' : 'recording.live')}
          </p>
        )}
        {rec.mp3 === 'failed' && (
          <div className="error" role="alert" data-testid="recording-status" data-state="failed">
            <span>{t('recording.failed')}</span>
            {rec.error && <small className="error-detail">{rec.error}</small>}
          </div>
        )}
        {ready && (
          <>
            <p className="muted small" data-testid="recording-status" data-state="ready">
              {t('recording.ready', { duration: fmtLength(rec.duration_ms), size: fmtBytes(rec.mp3_bytes ?? audio?.bytes) })}
            </p>
            {audio ? (
              <div className="rec-controls">
                <audio
                  ref={audioRef}
                  controls
                  aria-label={t('recording.title')}
                  preload="auto"
                  src={audio.url}
                  data-testid="recording-player"
                  onTimeUpdate={(e) => setNow(e.currentTarget.currentTime * 1000)}
                  onLoadedMetadata={(e) => {
                    e.currentTarget.defaultPlaybackRate = rate;
                    e.currentTarget.playbackRate = rate;
                  }}
                  onError={() => setAudioError(new Error(t('recording.playFailed')))}
                />
                <label className="field compact">
                  <span>{t('recording.speed')}</span>
                  <select data-testid="recording-speed" value={String(rate)} onChange={(e) => setRate(Number(e.target.value))}>
                    {PLAYBACK_RATES.map((r) => (
                      <option key={r} value={String(r)}>
                        {r}×
                      </option>
                    ))}
                  </select>
                </label>
                <a className="button" href={audio.url} download={`call-${rec.call_id}.mp3`} data-testid="recording-download">
                  {t('recording.download')}
                </a>
              </div>
            ) : (
              !audioError && (
                <p className="muted small" role="status">
                  {t('recording.loadingAudio')}
                </p>
              )
            )}
          </>
        )}
        {audioError !== null && (
          <div className="rec-error">
            <ErrorNote error={audioError} testid="recording-audio-error" />
            {ready && (
              <button type="button" className="link small" onClick={() => setAudioTick((n) => n + 1)}>
                {t('common.retry')}
              </button>
            )}
          </div>
        )}
      </div>
      <section className="transcript" aria-label={t('transcript.title')}>
        <h4>{t('transcript.title')}</h4>
        <TranscriptStatus rec={rec} ended={ended} />
        {rec.transcript === 'done' && rec.lines.length > 0 && (
          <ol className="transcript-lines" data-testid="transcript">
            {rec.lines.map((l, i) => (
              <li
                key={`${l.offset_ms}-${i}`}
                className={`transcript-line ${l.speaker === 'customer' ? 'by-customer' : 'by-staff'}`}
                data-testid="transcript-line"
                data-speaker={l.speaker}
                data-offset-ms={l.offset_ms}
                aria-current={i === current ? 'true' : undefined}
              >
                <button type="button" disabled={!audio} onClick={() => seek(l.offset_ms)} title={t('transcript.playFrom', { time: fmtClock(l.offset_ms) })}>
                  <span className="transcript-time">{fmtClock(l.offset_ms)}</span>
                  <strong className="transcript-speaker">{speakerLabel(l.speaker, customerName, staffName, t)}</strong>
                  <span className="transcript-text">{l.text}</span>
                </button>
              </li>
            ))}
          </ol>
        )}
      </section>
    </>
  );
}

/** Where the transcript stands, in words (with progress while running and the reason when it failed). */
function TranscriptStatus({ rec, ended }: { rec: Recording; ended: boolean }) {
  const { t } = useI18n();
  const common = { 'data-testid': 'transcript-status', 'data-state': rec.transcript };
  switch (rec.transcript) {
    case 'pending':
      return (
        <div className="muted small" role="status" {...common}>
          <span>{t(ended ? 'transcript.pending' : 'transcript.afterCall')}</span>
          {rec.error && <small className="error-detail">{t('transcript.retrying', { error: rec.error })}</small>}
        </div>
      );
    case 'running':
      return (
        <div className="muted small" role="status" {...common}>
          <span>{t('transcript.running', { done: rec.tracks_done, total: rec.tracks_total })}</span>{' '}
          <progress value={rec.tracks_done} max={Math.max(1, rec.tracks_total)} />
        </div>
      );
    case 'done':
      return (
        <p className="muted small" {...common}>
          {rec.lines.length === 0
            ? t('transcript.empty')
            : rec.language
              ? t('transcript.doneLanguage', { count: rec.lines.length, language: rec.language })
              : t('transcript.done', { count: rec.lines.length })}
        </p>
      );
    case 'failed':
      return (
        <div className="error" role="alert" {...common}>
          <span>{t('transcript.failed')}</span>
          {rec.error && <small className="error-detail">{rec.error}</small>}
        </div>
      );
    case 'off':
      return (
        <p className="muted small" {...common}>
          {t('transcript.off')}
        </p>
      );
    default:
      return (
        <p className="muted small" {...common}>
          {t('transcript.unknown', { state: String(rec.transcript) })}
        </p>
      );
  }
}

/**
 * Whether the element has come near the screen (and stays true from then on): a chat with many
 * calls downloads only the recordings someone scrolls to.
 */
function useNearViewport(ref: RefObject<Element | null>): boolean {
  const [near, setNear] = useState(() => typeof IntersectionObserver === 'undefined');
  useEffect(() => {
    const el = ref.current;
    if (near || !el) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) setNear(true);
    }, { rootMargin: '400px 0px' });
    io.observe(el);
    return () => io.disconnect();
  }, [ref, near]);
  return near;
}

/** A chat's calls, fetched again whenever `signature` (its call answers, ends, recording events) changes. */
export function useChatCalls(chatId: number, enabled: boolean, signature: string): { calls: CallRecord[]; error: unknown; retry: () => void } {
  const { api, cid } = useConsole();
  const [calls, setCalls] = useState<CallRecord[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!enabled) return;
    let live = true;
    api.chatCalls(cid, chatId).then(
      (list) => {
        if (!live) return;
        setCalls(list);
        setError(null);
      },
      (e: unknown) => {
        // A chat that is gone shows its own error; nothing more to say here.
        if (live && !(e instanceof ApiError && e.status === 404)) setError(e);
      },
    );
    return () => {
      live = false;
    };
  }, [api, cid, chatId, enabled, signature, tick]);
  return { calls: enabled ? calls : [], error: enabled ? error : null, retry: () => setTick((n) => n + 1) };
}

// The browser leg: microphone, one RTCPeerConnection per call, the server's ICE-lite answer.
// The server is ICE-lite with one host candidate, so the offer is sent once ICE gathering
// is complete (no trickle).

export interface Leg {
  pc: RTCPeerConnection;
  mic: MediaStream;
  remote: MediaStream;
  audio: HTMLAudioElement;
  /** Stops everything (tracks, connection, playback). */
  close: () => void;
}

/** Waits until ICE gathering is complete (or 3 s: whatever candidates there are then). */
function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    pc.addEventListener('icegatheringstatechange', check);
    setTimeout(done, 3000);
  });
}

/**
 * Opens the microphone (`micId`, or the default), makes the offer and hands it to `answer`,
 * which returns the server's SDP answer. Plays the call on `speakerId` where supported.
 */
export async function openLeg(
  answer: (offer: string) => Promise<string>,
  micId: string | null,
  speakerId: string | null,
): Promise<Leg> {
  const mic = await navigator.mediaDevices.getUserMedia({
    audio: micId ? { deviceId: { exact: micId } } : true,
    video: false,
  });
  const pc = new RTCPeerConnection({ iceServers: [] });
  const remote = new MediaStream();
  const audio = new Audio();
  audio.autoplay = true;
  audio.srcObject = remote;
  audio.dataset.testid = 'call-audio';
  pc.ontrack = (ev) => {
    remote.addTrack(ev.track);
    void audio.play().catch(() => {});
  };
  for (const track of mic.getAudioTracks()) pc.addTrack(track, mic);
  const close = () => {
    for (const t of mic.getTracks()) t.stop();
    pc.close();
    audio.srcObject = null;
    audio.remove();
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const sdp = await answer(pc.localDescription?.sdp ?? '');
    await pc.setRemoteDescription({ type: 'answer', sdp });
    if (speakerId) await setSpeaker(audio, speakerId);
  } catch (e) {
    close();
    throw e;
  }
  return { pc, mic, remote, audio, close };
}

/** Routes playback to a speaker where the browser allows choosing (RG-5). */
export async function setSpeaker(audio: HTMLAudioElement, id: string): Promise<void> {
  const el = audio as HTMLAudioElement & { setSinkId?: (id: string) => Promise<void> };
  if (el.setSinkId) await el.setSinkId(id).catch(() => {});
}

/** Replaces the microphone of a running leg (RG-5: choosing another input mid-call). */
export async function switchMic(leg: Leg, micId: string): Promise<void> {
  const next = await navigator.mediaDevices.getUserMedia({ audio: { deviceId: { exact: micId } }, video: false });
  const track = next.getAudioTracks()[0];
  const sender = leg.pc.getSenders().find((s) => s.track?.kind === 'audio');
  if (sender && track) await sender.replaceTrack(track);
  for (const t of leg.mic.getTracks()) t.stop();
  leg.mic = next;
}

/** The microphone's level, 0..1, sampled by `onLevel` ~10 times a second; returns a stop. */
export function levelMeter(stream: MediaStream, onLevel: (v: number) => void): () => void {
  const Ctx = window.AudioContext;
  if (!Ctx) return () => {};
  const ctx = new Ctx();
  const src = ctx.createMediaStreamSource(stream);
  const an = ctx.createAnalyser();
  an.fftSize = 512;
  src.connect(an);
  const buf = new Float32Array(an.fftSize);
  const timer = setInterval(() => {
    an.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const x of buf) sum += x * x;
    onLevel(Math.min(1, Math.sqrt(sum / buf.length) * 4));
  }, 100);
  return () => {
    clearInterval(timer);
    void ctx.close();
  };
}

/** A soft two-tone ring, repeated until the returned stop is called. */
export function ringtone(): () => void {
  const Ctx = window.AudioContext;
  if (!Ctx) return () => {};
  const ctx = new Ctx();
  let stopped = false;
  const burst = () => {
    if (stopped) return;
    const t0 = ctx.currentTime;
    for (const [f, at] of [[880, 0], [660, 0.25]] as const) {
      const o = ctx.createOscillator();
      const g = ctx.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.08, t0 + at);
      g.gain.exponentialRampToValueAtTime(0.001, t0 + at + 0.22);
      o.connect(g).connect(ctx.destination);
      o.start(t0 + at);
      o.stop(t0 + at + 0.24);
    }
  };
  burst();
  const timer = setInterval(burst, 2000);
  return () => {
    stopped = true;
    clearInterval(timer);
    void ctx.close();
  };
}

/** The ringback a caller hears while the far end rings (Japan's: 400 Hz, 1 s on, 2 s off),
 * for a call I placed whose far end sends no early media; returns a stop. */
export function ringback(): () => void {
  const Ctx = window.AudioContext;
  if (!Ctx) return () => {};
  const ctx = new Ctx();
  let stopped = false;
  const burst = () => {
    if (stopped) return;
    const t0 = ctx.currentTime;
    const o = ctx.createOscillator();
    const g = ctx.createGain();
    o.frequency.value = 400;
    g.gain.setValueAtTime(0.06, t0);
    g.gain.setValueAtTime(0.06, t0 + 0.98);
    g.gain.linearRampToValueAtTime(0, t0 + 1);
    o.connect(g).connect(ctx.destination);
    o.start(t0);
    o.stop(t0 + 1);
  };
  burst();
  const timer = setInterval(burst, 3000);
  return () => {
    stopped = true;
    clearInterval(timer);
    void ctx.close();
  };
}

//! Packet-loss concealment in the style of ITU-T G.711 Appendix I, on 16 kHz frames.
//!
//! On the first lost frame the pitch period is estimated from the recent history
//! (normalised cross-correlation, 5–15 ms lags, as G.711 App. I §I.2.2); the last
//! period is then repeated, with a quarter-period overlap-add at the wrap so the
//! repetition has no click. The first 10 ms play at full level, then the signal
//! fades by 20 % per 10 ms and is silent after 60 ms (App. I §I.2.4). The first
//! good frame after a loss is cross-faded with the continued concealment over 4 ms
//! (App. I §I.2.5). Everything is pre-allocated: no allocation per frame.

use crate::FRAME_SAMPLES;

const RATE_KHZ: usize = 16;
const HISTORY: usize = 40 * RATE_KHZ; // 40 ms
const MIN_PITCH: usize = 5 * RATE_KHZ;
const MAX_PITCH: usize = 15 * RATE_KHZ;
const CORR_WINDOW: usize = 10 * RATE_KHZ;
const FADE_IN: usize = 4 * RATE_KHZ;

/// Conceals lost 20 ms frames of one leg.
#[derive(Debug, Clone)]
pub struct Concealer {
    history: [i16; HISTORY],
    pitch_buf: [i16; MAX_PITCH],
    pitch: usize,
    offset: usize,
    /// Samples concealed in the current loss burst.
    concealed: usize,
}

impl Default for Concealer {
    fn default() -> Self {
        Self::new()
    }
}

impl Concealer {
    /// A concealer with silent history.
    #[must_use]
    pub fn new() -> Self {
        Self {
            history: [0; HISTORY],
            pitch_buf: [0; MAX_PITCH],
            pitch: MIN_PITCH,
            offset: 0,
            concealed: 0,
        }
    }

    /// Call with every frame that was received and decoded; smooths the
    /// transition if it follows a loss, and remembers it for later concealment.
    pub fn good_frame(&mut self, frame: &mut [i16; FRAME_SAMPLES]) {
        if self.concealed > 0 {
            let mut tail = [0i16; FADE_IN];
            self.synthesise(&mut tail);
            for (i, (s, c)) in frame.iter_mut().zip(tail).enumerate() {
                let w = (i as i32 * 256) / FADE_IN as i32;
                *s = ((i32::from(*s) * w + i32::from(c) * (256 - w)) >> 8) as i16;
            }
            self.concealed = 0;
        }
        self.push_history(frame);
    }

    /// Call instead of decoding when a frame is missing; fills `frame` with the
    /// concealment signal.
    pub fn conceal(&mut self, frame: &mut [i16; FRAME_SAMPLES]) {
        if self.concealed == 0 {
            self.start_burst();
        }
        self.synthesise(frame);
        self.push_history(frame);
    }

    fn push_history(&mut self, frame: &[i16; FRAME_SAMPLES]) {
        self.history.copy_within(FRAME_SAMPLES.., 0);
        self.history[HISTORY - FRAME_SAMPLES..].copy_from_slice(frame);
    }

    fn start_burst(&mut self) {
        let h = &self.history;
        let target = &h[HISTORY - CORR_WINDOW..];
        let mut best = (MIN_PITCH, f32::MIN);
        // Coarse search every second lag, then refine around the best (App. I does the same at 8 kHz).
        let score = |lag: usize| -> f32 {
            let cand = &h[HISTORY - CORR_WINDOW - lag..HISTORY - lag];
            let (mut xy, mut yy) = (0.0f32, 1.0f32);
            for (&a, &b) in target.iter().zip(cand) {
                xy += f32::from(a) * f32::from(b);
                yy += f32::from(b) * f32::from(b);
            }
            xy / yy.sqrt()
        };
        for lag in (MIN_PITCH..=MAX_PITCH).step_by(2) {
            let s = score(lag);
            if s > best.1 {
                best = (lag, s);
            }
        }
        let (coarse, _) = best;
        for lag in coarse.saturating_sub(1).max(MIN_PITCH)..=(coarse + 1).min(MAX_PITCH) {
            let s = score(lag);
            if s > best.1 {
                best = (lag, s);
            }
        }
        let pitch = best.0;
        self.pitch = pitch;
        self.pitch_buf[..pitch].copy_from_slice(&h[HISTORY - pitch..]);
        // Overlap-add the last quarter period with the quarter before the period start,
        // so that wrapping from the end back to the start is continuous.
        let quarter = pitch / 4;
        for i in 0..quarter {
            let w = (i + 1) as f32 / (quarter + 1) as f32;
            let end = f32::from(h[HISTORY - quarter + i]);
            let before = f32::from(h[HISTORY - pitch - quarter + i]);
            self.pitch_buf[pitch - quarter + i] = (end * (1.0 - w) + before * w) as i16;
        }
        self.offset = 0;
    }

    fn synthesise(&mut self, out: &mut [i16]) {
        const FULL: usize = 10 * RATE_KHZ;
        const SILENT: usize = 60 * RATE_KHZ;
        for s in out.iter_mut() {
            let n = self.concealed;
            let gain = if n < FULL {
                1.0
            } else if n >= SILENT {
                0.0
            } else {
                1.0 - (n - FULL) as f32 / (SILENT - FULL) as f32
            };
            *s = (f32::from(self.pitch_buf[self.offset]) * gain) as i16;
            self.offset = (self.offset + 1) % self.pitch;
            self.concealed = (self.concealed + 1).min(SILENT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of_tone(start: usize, period: usize) -> [i16; FRAME_SAMPLES] {
        let mut f = [0i16; FRAME_SAMPLES];
        for (i, s) in f.iter_mut().enumerate() {
            let t = (start + i) as f64 / period as f64;
            *s = (8000.0 * (2.0 * std::f64::consts::PI * t).sin()) as i16;
        }
        f
    }

    #[test]
    fn repeats_the_pitch_period_then_fades_out() {
        let mut plc = Concealer::new();
        let period = 100; // 160 Hz at 16 kHz
        for k in 0..4 {
            let mut f = frame_of_tone(k * FRAME_SAMPLES, period);
            plc.good_frame(&mut f);
        }
        assert_eq!(plc.pitch, MIN_PITCH, "pitch estimated lazily");
        let mut lost = [0i16; FRAME_SAMPLES];
        plc.conceal(&mut lost);
        assert_eq!(plc.pitch % period, 0, "pitch {}", plc.pitch);
        // The first 10 ms of concealment continue the tone at full level.
        let expected = frame_of_tone(4 * FRAME_SAMPLES, period);
        let err: i64 = lost[..160]
            .iter()
            .zip(&expected[..160])
            .map(|(&a, &b)| (i64::from(a) - i64::from(b)).abs())
            .max()
            .unwrap();
        assert!(err < 50, "max deviation {err}");
        // Then it fades: the end of the first frame is at most 80 % of full scale.
        assert!(lost[300..].iter().all(|&s| s.abs() < 6600));
        for _ in 0..3 {
            plc.conceal(&mut lost);
        }
        assert!(lost.iter().all(|&s| s == 0), "silent after 60 ms");
    }
}

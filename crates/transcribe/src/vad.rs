//! Energy-based voice activity detection: finds the stretches of a track worth sending
//! to the model, so silence (a leg on mute, the wait before an answer) costs nothing and
//! produces no text.
//!
//! A 20 ms frame is speech when its RMS level is above both an absolute floor (−50 dBFS)
//! and the track's noise floor (its 10th-percentile frame level) plus 12 dB. Speech frames
//! closer than 300 ms are joined, and each region is widened by 200 ms on both sides so
//! word onsets and tails are kept.

use crate::SAMPLE_RATE;

const FRAME: usize = SAMPLE_RATE as usize / 50;
const ABSOLUTE_FLOOR_DB: f32 = -50.0;
const ABOVE_NOISE_DB: f32 = 12.0;
const JOIN_FRAMES: usize = 15;
const PAD_SAMPLES: usize = SAMPLE_RATE as usize / 5;

/// Regions of speech in 16 kHz `samples`, as sample ranges in time order, not overlapping.
#[must_use]
pub fn speech_regions(samples: &[f32]) -> Vec<std::ops::Range<usize>> {
    let levels: Vec<f32> = samples
        .chunks(FRAME)
        .map(|f| {
            let energy = f.iter().map(|s| s * s).sum::<f32>() / f.len() as f32;
            10.0 * energy.max(1e-12).log10()
        })
        .collect();
    if levels.is_empty() {
        return Vec::new();
    }
    let mut sorted = levels.clone();
    sorted.sort_by(f32::total_cmp);
    let noise = sorted[sorted.len() / 10];
    let threshold = ABSOLUTE_FLOOR_DB.max(noise + ABOVE_NOISE_DB);

    let mut frames: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, _) in levels.iter().enumerate().filter(|(_, l)| **l > threshold) {
        match frames.last_mut() {
            Some(last) if i - last.end <= JOIN_FRAMES => last.end = i + 1,
            _ => frames.push(i..i + 1),
        }
    }
    let mut regions: Vec<std::ops::Range<usize>> = Vec::new();
    for r in frames {
        let start = (r.start * FRAME).saturating_sub(PAD_SAMPLES);
        let end = (r.end * FRAME + PAD_SAMPLES).min(samples.len());
        match regions.last_mut() {
            Some(last) if start <= last.end => last.end = end,
            _ => regions.push(start..end),
        }
    }
    regions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(ms: usize, amplitude: f32) -> Vec<f32> {
        (0..ms * 16)
            .map(|i| amplitude * (i as f32 * 0.2).sin())
            .collect()
    }

    #[test]
    fn silence_and_hiss_have_no_speech() {
        assert!(speech_regions(&[]).is_empty());
        assert!(speech_regions(&vec![0.0; 48_000]).is_empty());
        // −60 dBFS hiss.
        assert!(speech_regions(&tone(3000, 0.001)).is_empty());
    }

    #[test]
    fn finds_bursts_with_padding() {
        let mut x = vec![0.0; 16_000];
        x.extend(tone(500, 0.3));
        x.extend(vec![0.0; 32_000]);
        x.extend(tone(500, 0.3));
        x.extend(vec![0.0; 16_000]);
        let r = speech_regions(&x);
        assert_eq!(r, vec![12_800..27_200, 52_800..67_200]);
    }
}

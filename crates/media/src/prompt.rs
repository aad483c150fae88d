//! One-shot prompts: a recorded announcement played once to one leg (the message a
//! caller hears before an unanswered call ends, say).

use std::sync::Arc;
use std::time::Duration;

use crate::{Error, INTERNAL_RATE};

/// Mono PCM at the 16 kHz internal rate, shared by every room that plays it (a
/// channel's announcement is decoded once, then each call holds one `Arc`).
#[derive(Clone, PartialEq, Eq)]
pub struct Prompt {
    samples: Arc<[i16]>,
}

impl std::fmt::Debug for Prompt {
    // The length, not minutes of samples in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("duration", &self.duration())
            .finish()
    }
}

impl Prompt {
    /// A prompt over 16 kHz mono PCM. Refuses an empty one ([`Error::EmptyPrompt`]): it
    /// would never be heard, and its end would come at once.
    pub fn new(samples: Arc<[i16]>) -> Result<Self, Error> {
        if samples.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        Ok(Self { samples })
    }

    /// The samples, 16 kHz mono.
    #[must_use]
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// How long the prompt plays.
    #[must_use]
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples.len() as u64 * 1_000_000 / u64::from(INTERNAL_RATE))
    }
}

/// A prompt being played to a leg: where it is.
#[derive(Debug, Clone)]
pub(crate) struct Playback {
    prompt: Prompt,
    position: usize,
}

impl Playback {
    pub(crate) fn new(prompt: Prompt) -> Self {
        Self {
            prompt,
            position: 0,
        }
    }

    /// Adds the next frame's worth of the prompt to `frame` (saturating); the rest of a
    /// last, partial frame stays as it was. Returns `true` once the last sample is played.
    pub(crate) fn mix_into(&mut self, frame: &mut [i16]) -> bool {
        let rest = &self.prompt.samples[self.position..];
        let n = rest.len().min(frame.len());
        for (o, &p) in frame.iter_mut().zip(&rest[..n]) {
            *o = o.saturating_add(p);
        }
        self.position += n;
        self.position >= self.prompt.samples.len()
    }
}

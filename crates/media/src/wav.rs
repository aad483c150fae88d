//! Crash-safe WAV (RIFF, PCM 16-bit mono) track writer over any `Write + Seek`.
//!
//! The header is written first with the sizes of an empty file, and the RIFF and
//! `data` sizes are rewritten after every second of audio (and on
//! [`WavWriter::finish`]). A file cut short by a crash therefore has a valid
//! header describing everything up to the last whole second written; the few
//! trailing samples beyond it are ignored by readers that trust the sizes, and
//! recovered by those that read to the end of the file.

use std::io::{Seek, SeekFrom, Write};

use crate::Error;

const HEADER_LEN: u64 = 44;

/// Writes one recording track.
#[derive(Debug)]
pub struct WavWriter<W: Write + Seek> {
    inner: W,
    sample_rate: u32,
    data_bytes: u64,
    unsynced_samples: u32,
    scratch: Vec<u8>,
}

impl<W: Write + Seek> WavWriter<W> {
    /// Starts a track: writes the 44-byte header at the current position (the
    /// start of a new file). Call when the recording begins.
    pub fn new(mut inner: W, sample_rate: u32) -> Result<Self, Error> {
        inner.write_all(&header(sample_rate, 0))?;
        Ok(Self {
            inner,
            sample_rate,
            data_bytes: 0,
            unsynced_samples: 0,
            // Grows to one frame's bytes on the first write (640 at 16 kHz), then stays.
            scratch: Vec::new(),
        })
    }

    /// Appends samples; call once per tick with that tick's frame. Every second of
    /// audio the header sizes are brought up to date.
    pub fn write_samples(&mut self, samples: &[i16]) -> Result<(), Error> {
        self.scratch.clear();
        for s in samples {
            self.scratch.extend_from_slice(&s.to_le_bytes());
        }
        self.inner.write_all(&self.scratch)?;
        self.data_bytes += self.scratch.len() as u64;
        self.unsynced_samples += samples.len() as u32;
        if self.unsynced_samples >= self.sample_rate {
            self.sync()?;
        }
        Ok(())
    }

    /// Rewrites the sizes in the header and flushes. Called every second of audio
    /// automatically; call it yourself before a pause if you want it sooner.
    pub fn sync(&mut self) -> Result<(), Error> {
        let (riff, data) = sizes(self.data_bytes);
        self.inner.seek(SeekFrom::Start(4))?;
        self.inner.write_all(&riff.to_le_bytes())?;
        self.inner.seek(SeekFrom::Start(40))?;
        self.inner.write_all(&data.to_le_bytes())?;
        self.inner
            .seek(SeekFrom::Start(HEADER_LEN + self.data_bytes))?;
        self.inner.flush()?;
        self.unsynced_samples = 0;
        Ok(())
    }

    /// Audio written so far, in samples.
    #[must_use]
    pub fn samples_written(&self) -> u64 {
        self.data_bytes / 2
    }

    /// Writes the final sizes and returns the inner writer. Call when the
    /// recording ends.
    pub fn finish(mut self) -> Result<W, Error> {
        self.sync()?;
        Ok(self.inner)
    }
}

fn sizes(data_bytes: u64) -> (u32, u32) {
    // RIFF sizes are 32-bit; a 16 kHz mono track reaches that after ~37 hours. Clamp.
    let data = data_bytes.min(u64::from(u32::MAX) - HEADER_LEN) as u32;
    (data + 36, data)
}

fn header(sample_rate: u32, data_bytes: u64) -> [u8; 44] {
    let (riff, data) = sizes(data_bytes);
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&(sample_rate * 2).to_le_bytes()); // byte rate
    h[32..34].copy_from_slice(&2u16.to_le_bytes()); // block align
    h[34..36].copy_from_slice(&16u16.to_le_bytes()); // bits per sample
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn read_u32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    #[test]
    fn header_sizes_follow_every_second() {
        let mut w = WavWriter::new(Cursor::new(Vec::new()), 16000).unwrap();
        let frame = [7i16; 320];
        for _ in 0..75 {
            w.write_samples(&frame).unwrap();
        }
        // 75 frames = 1.5 s: the header covers the first full second (50 frames).
        let snapshot = w.inner.get_ref().clone();
        assert_eq!(&snapshot[0..4], b"RIFF");
        assert_eq!(read_u32(&snapshot, 40), 32000);
        assert_eq!(read_u32(&snapshot, 4), 32036);
        assert_eq!(snapshot.len(), 44 + 75 * 640);
        let done = w.finish().unwrap().into_inner();
        assert_eq!(read_u32(&done, 40), 75 * 640);
        assert_eq!(read_u32(&done, 24), 16000);
        assert_eq!(i16::from_le_bytes([done[44], done[45]]), 7);
    }
}

//! WAV files: the crash-safe track writer (RIFF, PCM 16-bit mono) over any
//! `Write + Seek`, and [`read_wav`] for the files people supply (announcements, hold
//! music).
//!
//! The header is written first with the sizes of an empty file, and the RIFF and
//! `data` sizes are rewritten after every second of audio (and on
//! [`WavWriter::finish`]). A file cut short by a crash therefore has a valid
//! header describing everything up to the last whole second written; the few
//! trailing samples beyond it are ignored by readers that trust the sizes, and
//! recovered by those that read to the end of the file.

use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

use crate::Error;

const HEADER_LEN: u64 = 44;

/// The lowest and highest sample rate [`read_wav`] accepts.
pub const WAV_RATES: std::ops::RangeInclusive<u32> = 8_000..=192_000;

/// Audio read from a WAV file: 16-bit PCM at the file's own rate, mono (a stereo file's
/// two channels averaged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavAudio {
    /// Samples per second, as the file says.
    pub sample_rate: u32,
    /// Channels in the file (1 or 2); `samples` is mono either way.
    pub channels: u16,
    /// The mono samples.
    pub samples: Vec<i16>,
}

impl WavAudio {
    /// How long the audio plays.
    #[must_use]
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples.len() as u64 * 1_000_000 / u64::from(self.sample_rate))
    }
}

fn invalid(why: impl Into<String>) -> Error {
    Error::InvalidWav(why.into())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a RIFF/WAVE file of 16-bit PCM (`WAVE_FORMAT_PCM`, or `WAVE_FORMAT_EXTENSIBLE`
/// with the PCM sub-format), mono or stereo, at 8–192 kHz. Chunks other than `fmt ` and
/// `data` are skipped; a `data` chunk whose size runs past the end of the file (a
/// recording cut short, a streamed header) is read to the end. Call when a file is
/// uploaded or loaded; any other input is an [`Error::InvalidWav`] saying why, never a
/// panic.
pub fn read_wav(bytes: &[u8]) -> Result<WavAudio, Error> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(invalid("not a RIFF/WAVE file"));
    }
    let mut format: Option<(u16, u32)> = None;
    let mut data: Option<&[u8]> = None;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4) as usize;
        let body_start = at + 8;
        let body = &bytes[body_start..body_start.saturating_add(size).min(bytes.len())];
        match id {
            b"fmt " => {
                if body.len() < 16 {
                    return Err(invalid("the fmt chunk is too short"));
                }
                let tag = u16_at(body, 0);
                let channels = u16_at(body, 2);
                let rate = u32_at(body, 4);
                let block_align = u16_at(body, 12);
                let bits = u16_at(body, 14);
                let pcm = match tag {
                    1 => true,
                    // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the tag.
                    0xFFFE => body.len() >= 26 && u16_at(body, 24) == 1,
                    _ => false,
                };
                if !pcm {
                    return Err(invalid(format!(
                        "the audio is compressed or float (format tag {tag:#06x}); save it as 16-bit PCM"
                    )));
                }
                if bits != 16 {
                    return Err(invalid(format!(
                        "{bits}-bit samples; save it as 16-bit PCM"
                    )));
                }
                if !(1..=2).contains(&channels) {
                    return Err(invalid(format!("{channels} channels; mono or stereo only")));
                }
                if !WAV_RATES.contains(&rate) {
                    return Err(invalid(format!(
                        "a sample rate of {rate} Hz; 8000 to 192000 Hz only"
                    )));
                }
                if block_align != channels * 2 {
                    return Err(invalid("the fmt chunk's block alignment does not match"));
                }
                format = Some((channels, rate));
            }
            b"data" => {
                data = Some(body);
                break;
            }
            _ => {}
        }
        // Chunks are padded to an even length (RIFF).
        at = body_start.saturating_add(size).saturating_add(size & 1);
    }
    let (channels, sample_rate) = format.ok_or_else(|| invalid("no fmt chunk before the audio"))?;
    let data = data.ok_or_else(|| invalid("no data chunk"))?;
    let frame = usize::from(channels) * 2;
    let samples: Vec<i16> = data
        .chunks_exact(frame)
        .map(|f| {
            let left = i16::from_le_bytes([f[0], f[1]]);
            if channels == 2 {
                let right = i16::from_le_bytes([f[2], f[3]]);
                ((i32::from(left) + i32::from(right)) / 2) as i16
            } else {
                left
            }
        })
        .collect();
    if samples.is_empty() {
        return Err(invalid("the file holds no audio"));
    }
    Ok(WavAudio {
        sample_rate,
        channels,
        samples,
    })
}

/// Writes one recording track.
#[derive(Debug)]
pub struct WavWriter<W: Write + Seek> {
    inner: W,
    sample_rate: u32,
    data_bytes: u64,
    unsynced_samples: u32,
}

/// Samples converted to bytes per `write_all` (a 20 ms frame at 16 kHz); on the stack.
const WRITE_CHUNK: usize = 320;

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
        })
    }

    /// Appends samples; call once per tick with that tick's frame. Every second of
    /// audio the header sizes are brought up to date.
    pub fn write_samples(&mut self, samples: &[i16]) -> Result<(), Error> {
        // Little-endian bytes through a stack buffer: a writer holds no scratch memory
        // (a recorded call has three).
        let mut bytes = [0u8; 2 * WRITE_CHUNK];
        for chunk in samples.chunks(WRITE_CHUNK) {
            let out = &mut bytes[..2 * chunk.len()];
            for (b, s) in out.chunks_exact_mut(2).zip(chunk) {
                b.copy_from_slice(&s.to_le_bytes());
            }
            self.inner.write_all(out)?;
        }
        self.data_bytes += 2 * samples.len() as u64;
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

    /// A WAV file as other programs write them: `extra` chunks before `fmt `.
    fn file(tag: u16, channels: u16, rate: u32, bits: u16, extra: &[u8], data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(b"WAVE");
        b.extend_from_slice(extra);
        b.extend_from_slice(b"fmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&tag.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        let align = channels * bits / 8;
        b.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        b.extend_from_slice(&align.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        b
    }

    fn pcm(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    #[test]
    fn reads_what_the_writer_wrote() {
        let mut w = WavWriter::new(Cursor::new(Vec::new()), 8000).unwrap();
        let samples: Vec<i16> = (0..800).map(|i| (i * 37 % 2000 - 1000) as i16).collect();
        w.write_samples(&samples).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let audio = read_wav(&bytes).unwrap();
        assert_eq!(audio.sample_rate, 8000);
        assert_eq!(audio.channels, 1);
        assert_eq!(audio.samples, samples);
        assert_eq!(audio.duration(), Duration::from_millis(100));
    }

    #[test]
    fn stereo_is_averaged_and_other_chunks_skipped() {
        let list = b"LIST\x05\x00\x00\x00abcde\x00";
        let bytes = file(1, 2, 44_100, 16, list, &pcm(&[1000, 3000, -2000, 0, 7, 8]));
        let audio = read_wav(&bytes).unwrap();
        assert_eq!(audio.sample_rate, 44_100);
        assert_eq!(audio.channels, 2);
        assert_eq!(audio.samples, vec![2000, -1000, 7]);
    }

    #[test]
    fn a_data_size_past_the_end_reads_to_the_end() {
        let mut bytes = file(1, 1, 16_000, 16, &[], &pcm(&[5, 6, 7]));
        let at = bytes.len() - 6 - 4;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(read_wav(&bytes).unwrap().samples, vec![5, 6, 7]);
    }

    #[test]
    fn unusable_files_say_why() {
        let data = pcm(&[1, 2, 3, 4]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"RIFX0000WAVE".to_vec(), "RIFF"),
            (b"ID3\x03 an mp3".to_vec(), "RIFF"),
            (Vec::new(), "RIFF"),
            (file(3, 1, 16_000, 32, &[], &data), "float"),
            (file(6, 1, 8_000, 8, &[], &data), "compressed"),
            (file(1, 1, 16_000, 8, &[], &data), "8-bit"),
            (file(1, 1, 16_000, 24, &[], &data), "24-bit"),
            (file(1, 6, 48_000, 16, &[], &data), "6 channels"),
            (file(1, 1, 4_000, 16, &[], &data), "4000 Hz"),
            (file(1, 1, 16_000, 16, &[], &[]), "no audio"),
            (b"RIFF\x04\x00\x00\x00WAVE".to_vec(), "no fmt"),
        ];
        for (bytes, why) in cases {
            match read_wav(&bytes) {
                Err(Error::InvalidWav(m)) => assert!(m.contains(why), "{m:?} should say {why:?}"),
                other => panic!("{why}: {other:?}"),
            }
        }
        // No data chunk after the fmt chunk.
        let mut no_data = file(1, 1, 16_000, 16, &[], &[]);
        no_data.truncate(no_data.len() - 8);
        assert!(matches!(read_wav(&no_data), Err(Error::InvalidWav(m)) if m.contains("no data")));
    }

    #[test]
    fn truncated_or_random_bytes_never_panic() {
        let good = file(1, 2, 48_000, 16, &[], &pcm(&[1, 2, 3, 4, 5, 6]));
        for n in 0..good.len() {
            let _ = read_wav(&good[..n]);
        }
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let mut b = good.clone();
            for _ in 0..4 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let i = (x >> 8) as usize % b.len();
                b[i] = (x >> 20) as u8;
            }
            let _ = read_wav(&b);
        }
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

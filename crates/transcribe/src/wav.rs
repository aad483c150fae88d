//! Streaming reader for the WAV tracks the media engine writes (`denwa_media::wav`).
//!
//! Reads RIFF/WAVE with 16-bit PCM or 32-bit float samples, any rate, any number of
//! channels (mixed down to mono). A track cut short by a crash has a header whose `data`
//! size covers only the audio up to the last whole second; the samples after it are
//! still in the file, so when the bytes after the declared `data` chunk do not start
//! another chunk, they are read as samples too, up to the end of the file. A `data` size
//! of 0 or `0xFFFF_FFFF` (a writer that never came back) also means "to the end".

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::Error;

const FORMAT_PCM: u16 = 1;
const FORMAT_FLOAT: u16 = 3;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// How the samples in the `data` chunk are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SampleFormat {
    Pcm16,
    Float32,
}

/// Where the reader is in the `data` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataState {
    /// Inside the declared size, with this many bytes left.
    Declared(u64),
    /// Past the declared size (or none declared): samples to the end of the stream.
    ToEof,
    /// No more samples.
    Done,
}

/// Reads mono 16-bit samples out of a WAV stream, block by block.
#[derive(Debug)]
pub struct WavReader<R: BufRead> {
    inner: R,
    sample_rate: u32,
    channels: u16,
    format: SampleFormat,
    state: DataState,
    /// Bytes read but not yet turned into samples (an incomplete frame, or the probe
    /// after the declared data).
    pending: Vec<u8>,
    scratch: Vec<u8>,
}

impl WavReader<BufReader<File>> {
    /// Opens a WAV file and reads its header.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = File::open(path).map_err(Error::file(path))?;
        Self::new(BufReader::with_capacity(64 * 1024, file))
    }
}

impl<R: BufRead> WavReader<R> {
    /// Reads the header up to the start of the samples.
    pub fn new(mut inner: R) -> Result<Self, Error> {
        let mut riff = [0u8; 12];
        read_exact_or(&mut inner, &mut riff, "shorter than a RIFF header")?;
        if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
            return Err(Error::Wav("no RIFF/WAVE header".into()));
        }
        let mut fmt: Option<(SampleFormat, u16, u32)> = None;
        loop {
            let mut head = [0u8; 8];
            read_exact_or(&mut inner, &mut head, "no data chunk")?;
            let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            match &head[0..4] {
                b"fmt " => {
                    if !(16..=1024).contains(&size) {
                        return Err(Error::Wav(format!("fmt chunk of {size} bytes")));
                    }
                    let mut body = vec![0u8; size as usize + (size as usize & 1)];
                    read_exact_or(&mut inner, &mut body, "fmt chunk cut short")?;
                    fmt = Some(parse_fmt(&body)?);
                }
                b"data" => {
                    let (format, channels, sample_rate) =
                        fmt.ok_or_else(|| Error::Wav("data chunk before fmt chunk".into()))?;
                    let to_eof = size == 0 || size == u32::MAX;
                    return Ok(Self {
                        inner,
                        sample_rate,
                        channels,
                        format,
                        state: if to_eof {
                            DataState::ToEof
                        } else {
                            DataState::Declared(u64::from(size))
                        },
                        pending: Vec::new(),
                        scratch: Vec::new(),
                    });
                }
                _ => {
                    // Skip an unknown chunk (LIST, fact…), padded to an even size.
                    let skip = u64::from(size) + u64::from(size & 1);
                    let skipped =
                        std::io::copy(&mut (&mut inner).take(skip), &mut std::io::sink())?;
                    if skipped != skip {
                        return Err(Error::Wav("chunk cut short before data".into()));
                    }
                }
            }
        }
    }

    /// Samples per second of the track.
    #[must_use]
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Reads up to `out.len()` mono samples (channels averaged, floats scaled to 16 bits);
    /// returns how many, 0 at the end of the track.
    pub fn read_samples(&mut self, out: &mut [i16]) -> Result<usize, Error> {
        let frame_bytes = self.frame_bytes();
        let want = out.len() * frame_bytes;
        while self.pending.len() < want {
            let before = self.pending.len();
            self.fill(want - before)?;
            if self.pending.len() == before {
                break;
            }
        }
        let frames = (self.pending.len() / frame_bytes).min(out.len());
        for (i, slot) in out.iter_mut().take(frames).enumerate() {
            let frame = &self.pending[i * frame_bytes..(i + 1) * frame_bytes];
            *slot = self.mix(frame);
        }
        self.pending.drain(..frames * frame_bytes);
        Ok(frames)
    }

    fn frame_bytes(&self) -> usize {
        let bytes = match self.format {
            SampleFormat::Pcm16 => 2,
            SampleFormat::Float32 => 4,
        };
        bytes * usize::from(self.channels)
    }

    fn mix(&self, frame: &[u8]) -> i16 {
        let channels = i32::from(self.channels);
        match self.format {
            SampleFormat::Pcm16 => {
                let sum: i32 = frame
                    .chunks_exact(2)
                    .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
                    .sum();
                (sum / channels) as i16
            }
            SampleFormat::Float32 => {
                let sum: f32 = frame
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .sum();
                let v = sum / channels as f32;
                (v.clamp(-1.0, 1.0) * 32767.0).round() as i16
            }
        }
    }

    /// Appends up to `n` more bytes of samples to `pending` (fewer at the end).
    fn fill(&mut self, n: usize) -> Result<(), Error> {
        if self.state == DataState::Declared(0) {
            self.probe_after_declared()?;
        }
        let limit = match self.state {
            DataState::Declared(left) => (n as u64).min(left),
            DataState::ToEof => n as u64,
            DataState::Done => return Ok(()),
        };
        self.scratch.clear();
        let got = (&mut self.inner)
            .take(limit)
            .read_to_end(&mut self.scratch)? as u64;
        match self.state {
            // The file ends before its declared size: that is all there is.
            _ if got == 0 => self.state = DataState::Done,
            DataState::Declared(left) => self.state = DataState::Declared(left - got),
            _ => {}
        }
        self.pending.extend_from_slice(&self.scratch);
        Ok(())
    }

    /// At the end of the declared data: anything after it that is not a chunk header is
    /// audio written after the header's last update (a crash); read it to the end.
    fn probe_after_declared(&mut self) -> Result<(), Error> {
        let mut probe = Vec::with_capacity(8);
        (&mut self.inner).take(8).read_to_end(&mut probe)?;
        let looks_like_chunk = probe.len() == 8
            && probe[..4]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b' ');
        if probe.is_empty() || looks_like_chunk {
            self.state = DataState::Done;
        } else {
            self.state = DataState::ToEof;
            self.pending.extend_from_slice(&probe);
        }
        Ok(())
    }
}

fn parse_fmt(body: &[u8]) -> Result<(SampleFormat, u16, u32), Error> {
    let tag = u16::from_le_bytes([body[0], body[1]]);
    let channels = u16::from_le_bytes([body[2], body[3]]);
    let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
    let bits = u16::from_le_bytes([body[14], body[15]]);
    let tag = if tag == FORMAT_EXTENSIBLE && body.len() >= 26 {
        u16::from_le_bytes([body[24], body[25]])
    } else {
        tag
    };
    let format = match (tag, bits) {
        (FORMAT_PCM, 16) => SampleFormat::Pcm16,
        (FORMAT_FLOAT, 32) => SampleFormat::Float32,
        _ => {
            return Err(Error::Wav(format!(
                "format {tag} with {bits} bits per sample (16-bit PCM or 32-bit float only)"
            )));
        }
    };
    if channels == 0 || !(1_000..=384_000).contains(&rate) {
        return Err(Error::Wav(format!("{channels} channels at {rate} Hz")));
    }
    Ok((format, channels, rate))
}

fn read_exact_or(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), Error> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::Wav(what.into())
        } else {
            Error::Io(e)
        }
    })
}

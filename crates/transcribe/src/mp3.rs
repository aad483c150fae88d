//! The mixed track as MP3 for playback and download (LAME through `mp3lame-encoder`).
//!
//! Streaming: the WAV is read and encoded a block at a time, so memory stays at a few
//! tens of kB whatever the length of the call. The output keeps the input's sample rate
//! (16 kHz → MPEG-2 Layer III; 8 kHz → MPEG-2.5), constant bit rate, mono.

use std::io::{BufRead, Write};
use std::num::NonZeroU32;
use std::path::Path;

use mp3lame_encoder::{Bitrate, Builder, FlushGap, Mode, MonoPcm, Quality};

use crate::Error;
use crate::wav::WavReader;

/// Samples encoded per call into LAME (a multiple of the 576-sample MPEG-2 granule).
const BLOCK: usize = 576 * 16;

/// How to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp3Options {
    /// Constant bit rate in kbit/s: one of 8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128,
    /// 160, 192, 224, 256, 320 (and valid for the sample rate).
    pub kbps: u16,
    /// LAME's algorithm quality, 0 (best, slowest) to 9 (fastest); `lame -q`.
    pub quality: u8,
}

impl Default for Mp3Options {
    /// 32 kbit/s at quality 5: clear speech at 16 kHz, ~14 MB per hour.
    fn default() -> Self {
        Self {
            kbps: 32,
            quality: 5,
        }
    }
}

/// What [`encode_wav`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp3Summary {
    /// Input samples encoded.
    pub samples: u64,
    /// Sample rate of the input and the output.
    pub sample_rate: u32,
    /// MP3 bytes written.
    pub bytes: u64,
}

/// Encodes the WAV file at `wav` to MP3 into `out`.
pub fn encode_wav_file(
    wav: &Path,
    out: &mut impl Write,
    options: Mp3Options,
) -> Result<Mp3Summary, Error> {
    encode_wav(WavReader::open(wav)?, out, options)
}

/// Encodes everything `reader` yields to MP3 into `out`, a block at a time.
pub fn encode_wav<R: BufRead>(
    mut reader: WavReader<R>,
    out: &mut impl Write,
    options: Mp3Options,
) -> Result<Mp3Summary, Error> {
    let sample_rate = reader.sample_rate();
    let mut encoder = build(sample_rate, options)?;
    let mut pcm = vec![0i16; BLOCK];
    let mut mp3 = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(BLOCK));
    let mut samples = 0u64;
    let mut bytes = 0u64;
    loop {
        let n = reader.read_samples(&mut pcm)?;
        if n == 0 {
            break;
        }
        samples += n as u64;
        mp3.clear();
        mp3.reserve(mp3lame_encoder::max_required_buffer_size(n));
        encoder
            .encode_to_vec(MonoPcm(&pcm[..n]), &mut mp3)
            .map_err(|e| Error::Mp3(e.to_string()))?;
        out.write_all(&mp3)?;
        bytes += mp3.len() as u64;
    }
    mp3.clear();
    mp3.reserve(7200);
    encoder
        .flush_to_vec::<FlushGap>(&mut mp3)
        .map_err(|e| Error::Mp3(e.to_string()))?;
    out.write_all(&mp3)?;
    out.flush()?;
    bytes += mp3.len() as u64;
    Ok(Mp3Summary {
        samples,
        sample_rate,
        bytes,
    })
}

fn build(sample_rate: u32, options: Mp3Options) -> Result<mp3lame_encoder::Encoder, Error> {
    let err = |what: &str, e: &dyn std::fmt::Display| Error::Mp3(format!("{what}: {e}"));
    let bitrate = bitrate(options.kbps)
        .ok_or_else(|| Error::Mp3(format!("unsupported bit rate {} kbit/s", options.kbps)))?;
    let mut b = Builder::new().ok_or_else(|| Error::Mp3("LAME could not allocate".into()))?;
    b.set_num_channels(1).map_err(|e| err("channels", &e))?;
    b.set_sample_rate(sample_rate)
        .map_err(|e| err("sample rate", &e))?;
    b.set_output_sample_rate(NonZeroU32::new(sample_rate))
        .map_err(|e| err(&format!("{sample_rate} Hz is not an MP3 rate"), &e))?;
    b.set_mode(Mode::Mono).map_err(|e| err("mode", &e))?;
    b.set_brate(bitrate).map_err(|e| err("bit rate", &e))?;
    b.set_quality(quality(options.quality))
        .map_err(|e| err("quality", &e))?;
    // The Xing/LAME tag frame must be patched in at the start after encoding, which a
    // stream cannot do; without it players still know the length (constant bit rate).
    b.set_to_write_vbr_tag(false).map_err(|e| err("tag", &e))?;
    b.build()
        .map_err(|e| err(&format!("{} kbit/s at {sample_rate} Hz", options.kbps), &e))
}

fn bitrate(kbps: u16) -> Option<Bitrate> {
    Some(match kbps {
        8 => Bitrate::Kbps8,
        16 => Bitrate::Kbps16,
        24 => Bitrate::Kbps24,
        32 => Bitrate::Kbps32,
        40 => Bitrate::Kbps40,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        80 => Bitrate::Kbps80,
        96 => Bitrate::Kbps96,
        112 => Bitrate::Kbps112,
        128 => Bitrate::Kbps128,
        160 => Bitrate::Kbps160,
        192 => Bitrate::Kbps192,
        224 => Bitrate::Kbps224,
        256 => Bitrate::Kbps256,
        320 => Bitrate::Kbps320,
        _ => return None,
    })
}

fn quality(q: u8) -> Quality {
    match q {
        0 => Quality::Best,
        1 => Quality::SecondBest,
        2 => Quality::NearBest,
        3 => Quality::VeryNice,
        4 => Quality::Nice,
        5 => Quality::Good,
        6 => Quality::Decent,
        7 => Quality::Ok,
        8 => Quality::SecondWorst,
        _ => Quality::Worst,
    }
}

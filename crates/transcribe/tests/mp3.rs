//! The MP3 of a track decodes to the same length and the same tone.

use std::fs::File;
use std::path::Path;

use denwa_media::WavWriter;
use denwa_transcribe::mp3::{Mp3Options, encode_wav_file};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

fn write_tone(path: &Path, rate: u32, hz: f32, seconds: f32) -> usize {
    let n = (rate as f32 * seconds) as usize;
    let samples: Vec<i16> = (0..n)
        .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin()) as i16)
        .collect();
    let mut w = WavWriter::new(File::create(path).expect("create"), rate).expect("writer");
    for frame in samples.chunks(320) {
        w.write_samples(frame).expect("write");
    }
    w.finish().expect("finish");
    n
}

/// Decodes an MP3 file to mono f32 and its sample rate.
fn decode(path: &Path) -> (u32, Vec<f32>) {
    let src = MediaSourceStream::new(
        Box::new(File::open(path).expect("open")),
        Default::default(),
    );
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            src,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .expect("an MP3 stream");
    let mut format = probed.format;
    let track = format.default_track().expect("a track").clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("decoder");
    let rate = track.codec_params.sample_rate.expect("rate");
    let mut out = Vec::new();
    while let Ok(packet) = format.next_packet() {
        let decoded = decoder.decode(&packet).expect("decodes");
        let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, *decoded.spec());
        buf.copy_interleaved_ref(decoded);
        out.extend_from_slice(buf.samples());
    }
    (rate, out)
}

/// Power of `hz` in `x` (Goertzel), normalised by length.
fn goertzel(x: &[f32], rate: u32, hz: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * hz / rate as f32;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s = v + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f32 * x.len() as f32)
}

#[test]
fn mp3_of_a_16khz_tone_keeps_length_and_pitch() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("mixed.wav");
    let mp3 = dir.path().join("mixed.mp3");
    let n = write_tone(&wav, 16_000, 1_000.0, 3.0);
    let summary = encode_wav_file(
        &wav,
        &mut File::create(&mp3).expect("create"),
        Mp3Options::default(),
    )
    .expect("encode");
    assert_eq!((summary.samples, summary.sample_rate), (n as u64, 16_000));
    let size = std::fs::metadata(&mp3).expect("mp3").len();
    assert_eq!(summary.bytes, size);
    // 32 kbit/s for 3 s ≈ 12 kB (plus a frame or two).
    assert!((11_000..14_000).contains(&size), "{size} bytes");

    let (rate, pcm) = decode(&mp3);
    assert_eq!(rate, 16_000);
    // LAME adds its encoder delay and pads the last frame: at most ~2 frames longer.
    let extra = pcm.len() as i64 - n as i64;
    assert!(
        (0..=2 * 1152).contains(&extra),
        "decoded {} samples for {n}",
        pcm.len()
    );
    let middle = &pcm[4_000..44_000];
    let tone = goertzel(middle, rate, 1_000.0);
    for other in [500.0, 800.0, 1_250.0, 2_000.0] {
        let p = goertzel(middle, rate, other);
        assert!(tone > 1000.0 * p, "1 kHz {tone} vs {other} Hz {p}");
    }
}

#[test]
fn mp3_of_an_8khz_track_and_bad_options() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("g711.wav");
    let n = write_tone(&wav, 8_000, 440.0, 1.0);
    let mut out = Vec::new();
    let summary = encode_wav_file(
        &wav,
        &mut out,
        Mp3Options {
            kbps: 16,
            quality: 7,
        },
    )
    .expect("encode");
    assert_eq!((summary.samples, summary.sample_rate), (n as u64, 8_000));
    let mp3 = dir.path().join("g711.mp3");
    std::fs::write(&mp3, &out).expect("write");
    let (rate, pcm) = decode(&mp3);
    assert_eq!(rate, 8_000);
    let tone = goertzel(&pcm[1_000..7_000], rate, 440.0);
    assert!(tone > 100.0 * goertzel(&pcm[1_000..7_000], rate, 900.0));

    let err = encode_wav_file(
        &wav,
        &mut Vec::new(),
        Mp3Options {
            kbps: 33,
            quality: 5,
        },
    )
    .expect_err("33 kbit/s");
    assert!(err.to_string().contains("33"), "{err}");
}

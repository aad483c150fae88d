//! Timings for `bench/transcribe.sh`.
//!
//! ```text
//! transcribe_bench whisper MODEL_DIR WAV THREADS BEAM [LANGUAGE]   # one JSON line
//! transcribe_bench mp3 WAV OUT.mp3 KBPS QUALITY                    # one JSON line
//! ```

use std::time::Instant;

use denwa_transcribe::mp3::{Mp3Options, encode_wav_file};
use denwa_transcribe::{Audio, Transcriber, WhisperConfig, WhisperTranscriber};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("transcribe_bench: {e}");
        std::process::exit(1);
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> Result<T, String> {
    args.get(i)
        .ok_or_else(|| format!("missing argument {i}"))?
        .parse()
        .map_err(|_| format!("bad argument {i}: {:?}", args[i]))
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("whisper") => {
            let dir: String = arg(args, 1)?;
            let wav: String = arg(args, 2)?;
            let mut config = WhisperConfig::new(dir);
            config.threads = arg(args, 3)?;
            config.beam_size = arg(args, 4)?;
            let language = args.get(5).map(String::as_str);
            let t = Instant::now();
            let whisper = WhisperTranscriber::load(&config).map_err(|e| e.to_string())?;
            let load_s = t.elapsed().as_secs_f64();
            let audio = Audio::read_wav(std::path::Path::new(&wav)).map_err(|e| e.to_string())?;
            let t = Instant::now();
            let segments = whisper
                .transcribe(&audio, language)
                .map_err(|e| e.to_string())?;
            let transcribe_s = t.elapsed().as_secs_f64();
            let text: Vec<&str> = segments.iter().map(|s| s.text.as_str()).collect();
            println!(
                "{}",
                serde_json::json!({
                    "audio_s": audio.duration_ms() as f64 / 1000.0,
                    "load_s": load_s,
                    "transcribe_s": transcribe_s,
                    "segments": segments.len(),
                    "text": text.join(" "),
                })
            );
        }
        Some("mp3") => {
            let wav: String = arg(args, 1)?;
            let out: String = arg(args, 2)?;
            let options = Mp3Options {
                kbps: arg(args, 3)?,
                quality: arg(args, 4)?,
            };
            let t = Instant::now();
            let mut file =
                std::io::BufWriter::new(std::fs::File::create(&out).map_err(|e| e.to_string())?);
            let summary = encode_wav_file(std::path::Path::new(&wav), &mut file, options)
                .map_err(|e| e.to_string())?;
            let seconds = t.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({
                    "audio_s": summary.samples as f64 / f64::from(summary.sample_rate),
                    "encode_s": seconds,
                    "bytes": summary.bytes,
                })
            );
        }
        _ => return Err("usage: transcribe_bench whisper|mp3 …".into()),
    }
    Ok(())
}

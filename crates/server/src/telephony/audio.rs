//! Audio files the calls play (a channel's announcement and hold music), decoded to the
//! media engine's 16 kHz mono once per file version: a burst of calls shares one copy.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use denwa_media::{INTERNAL_RATE, music::to_internal_rate, read_wav};

/// Files larger than this are not read (the API takes at most 10 MB; an announcement
/// placed in `DATA_DIR/announcements` by hand gets some more room).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// What a file held when it was last read.
struct Entry {
    /// The file's modification time and size then: either changing means a new version.
    version: (SystemTime, u64),
    /// The decoded samples, or `None` for a file that could not be used (warned once).
    samples: Option<Arc<[i16]>>,
}

/// Decoded audio files by path; an entry is used while the file's modification time and
/// size are unchanged.
#[derive(Default)]
pub(crate) struct AudioCache {
    entries: HashMap<PathBuf, Entry>,
}

impl AudioCache {
    /// The file at `path` as 16 kHz mono PCM; `None` when there is no such file or it is
    /// not a usable WAV file (logged as a warning once per version). Reads and decodes
    /// off the async threads, only when the file is new or changed.
    pub(crate) async fn load(&mut self, path: &Path) -> Option<Arc<[i16]>> {
        let meta = match tokio::fs::metadata(path).await {
            Ok(m) if m.is_file() => m,
            Ok(_) => return None,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read an audio file");
                }
                self.entries.remove(path);
                return None;
            }
        };
        let version = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        if let Some(e) = self.entries.get(path)
            && e.version == version
        {
            return e.samples.clone();
        }
        let owned = path.to_owned();
        let decoded = tokio::task::spawn_blocking(move || decode(&owned))
            .await
            .unwrap_or_else(|e| Err(format!("decoding failed: {e}")));
        let samples = match decoded {
            Ok(s) => {
                tracing::info!(
                    file = %path.display(),
                    seconds = s.len() as f64 / f64::from(INTERNAL_RATE),
                    "audio file loaded"
                );
                Some(s)
            }
            Err(why) => {
                tracing::warn!(file = %path.display(), %why, "audio file not usable; playing none");
                None
            }
        };
        self.entries.insert(
            path.to_owned(),
            Entry {
                version,
                samples: samples.clone(),
            },
        );
        samples
    }
}

/// Reads a WAV file (16-bit PCM, mono or stereo, any rate `read_wav` takes) and converts
/// it to 16 kHz mono.
fn decode(path: &Path) -> Result<Arc<[i16]>, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_FILE_BYTES {
        return Err(format!("{len} bytes; at most {MAX_FILE_BYTES}"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let audio = read_wav(&bytes).map_err(|e| e.to_string())?;
    Ok(to_internal_rate(&audio.samples, audio.sample_rate).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, frames: &[i16]) -> Vec<u8> {
        let data: Vec<u8> = frames.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
        b.extend_from_slice(&(2 * channels).to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&data);
        b
    }

    #[tokio::test]
    async fn files_are_decoded_once_per_version_and_bad_ones_give_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let mut cache = AudioCache::default();
        assert!(cache.load(&path).await.is_none(), "no file yet");

        // 0.5 s stereo at 8 kHz: 8000 samples at 16 kHz, the channels averaged.
        std::fs::write(&path, wav(8000, 2, &[3000, 1000].repeat(4000))).unwrap();
        let first = cache.load(&path).await.unwrap();
        assert_eq!(first.len(), 8000);
        assert!((1900..=2100).contains(&first[4000]), "{}", first[4000]);
        let again = cache.load(&path).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "decoded once");

        // A new version (other size): read again.
        std::fs::write(&path, wav(16_000, 1, &[500; 1600])).unwrap();
        let second = cache.load(&path).await.unwrap();
        assert_eq!(&second[..], &[500; 1600][..]);

        // Not a WAV file: no audio, no panic; a good file afterwards is used again.
        std::fs::write(&path, b"ID3 this is an mp3").unwrap();
        assert!(cache.load(&path).await.is_none());
        assert!(cache.load(&path).await.is_none());
        std::fs::write(&path, wav(16_000, 1, &[7; 320])).unwrap();
        assert_eq!(cache.load(&path).await.unwrap().len(), 320);

        std::fs::remove_file(&path).unwrap();
        assert!(cache.load(&path).await.is_none(), "removed");
        assert!(cache.load(dir.path()).await.is_none(), "a directory");
    }
}

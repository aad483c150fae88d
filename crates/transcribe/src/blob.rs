//! Where recordings live: a small key → bytes store.
//!
//! Keys are relative paths of safe segments (`channels/7/calls/42/mixed.mp3`): ASCII
//! letters, digits, `.`, `-`, `_`, no empty, `.` or `..` segment — the same keys
//! `object_store` accepts, so an S3 (or GCS, Azure) implementation over
//! `object_store::ObjectStore` is one method per method (`put`, `get`, `get_range`, `head`,
//! `delete`, `list`), each a `block_on` of the matching call. The trait is blocking
//! because its callers are (the transcription worker, the MP3 encoder); the server
//! calls it from `spawn_blocking`.
//!
//! [`LocalBlobStore`] keeps each blob as a file under a data directory; a write goes to a
//! temporary file in the same directory, is synced, and renamed over the key, so a reader
//! or a crash never sees half a blob.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::Error;

/// What [`BlobStore::head`] and [`BlobStore::list`] say about a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// The key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written.
    pub modified: SystemTime,
}

/// A key → bytes store for recordings.
pub trait BlobStore: Send + Sync {
    /// Stores `data` under `key`, replacing what was there, atomically.
    fn put(&self, key: &str, data: &[u8]) -> Result<(), Error>;
    /// Stores the contents of the file at `source` under `key` (streamed, not read into
    /// memory), atomically. Returns the size.
    fn put_file(&self, key: &str, source: &Path) -> Result<u64, Error>;
    /// The whole blob.
    fn get(&self, key: &str) -> Result<Vec<u8>, Error>;
    /// Bytes `range` of the blob (for HTTP range requests). The end is clamped to the
    /// blob's size; a start past the end is [`Error::Range`].
    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, Error>;
    /// Size and time of the blob.
    fn head(&self, key: &str) -> Result<BlobMeta, Error>;
    /// Removes the blob; removing a missing blob is not an error.
    fn delete(&self, key: &str) -> Result<(), Error>;
    /// Every blob whose key starts with the path `prefix` (whole segments: `calls/4`
    /// lists `calls/4/…`, not `calls/42/…`; `""` lists everything), sorted by key.
    fn list(&self, prefix: &str) -> Result<Vec<BlobMeta>, Error>;
}

/// Blobs as files under a data directory.
#[derive(Debug)]
pub struct LocalBlobStore {
    root: PathBuf,
    counter: AtomicU64,
}

impl LocalBlobStore {
    /// A store rooted at `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(Error::file(&root))?;
        Ok(Self {
            root,
            counter: AtomicU64::new(0),
        })
    }

    fn path(&self, key: &str) -> Result<PathBuf, Error> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    /// Writes through `fill` into a temporary file beside the key, then renames it over.
    fn write_atomic(
        &self,
        key: &str,
        fill: impl FnOnce(&mut File) -> std::io::Result<u64>,
    ) -> Result<u64, Error> {
        let path = self.path(key)?;
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(Error::file(dir))?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".tmp-{}-{n}", std::process::id()));
        let result = (|| {
            let mut file = File::create(&tmp)?;
            let size = fill(&mut file)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            Ok(size)
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::File { path, source: e }
        })
    }

    fn open(&self, key: &str) -> Result<(File, PathBuf), Error> {
        let path = self.path(key)?;
        match File::open(&path) {
            Ok(f) => Ok((f, path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::NotFound(key.to_owned()))
            }
            Err(e) => Err(Error::File { path, source: e }),
        }
    }
}

impl BlobStore for LocalBlobStore {
    fn put(&self, key: &str, data: &[u8]) -> Result<(), Error> {
        self.write_atomic(key, |f| f.write_all(data).map(|()| data.len() as u64))?;
        Ok(())
    }

    fn put_file(&self, key: &str, source: &Path) -> Result<u64, Error> {
        let mut src = File::open(source).map_err(Error::file(source))?;
        self.write_atomic(key, |f| std::io::copy(&mut src, f))
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, Error> {
        let (mut f, path) = self.open(key)?;
        let mut data = Vec::new();
        f.read_to_end(&mut data).map_err(Error::file(&path))?;
        Ok(data)
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>, Error> {
        let (mut f, path) = self.open(key)?;
        let size = f.metadata().map_err(Error::file(&path))?.len();
        if range.start > size || range.start > range.end {
            return Err(Error::Range {
                start: range.start,
                end: range.end,
                size,
            });
        }
        let end = range.end.min(size);
        f.seek(SeekFrom::Start(range.start))
            .map_err(Error::file(&path))?;
        let mut data = Vec::with_capacity((end - range.start) as usize);
        f.take(end - range.start)
            .read_to_end(&mut data)
            .map_err(Error::file(&path))?;
        Ok(data)
    }

    fn head(&self, key: &str) -> Result<BlobMeta, Error> {
        let (f, path) = self.open(key)?;
        let meta = f.metadata().map_err(Error::file(&path))?;
        Ok(BlobMeta {
            key: key.to_owned(),
            size: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        })
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::File { path, source: e })
            }
            _ => Ok(()),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<BlobMeta>, Error> {
        let prefix = prefix.trim_end_matches('/');
        let start = if prefix.is_empty() {
            self.root.clone()
        } else {
            self.path(prefix)?
        };
        let mut out = Vec::new();
        let mut dirs = vec![start];
        while let Some(dir) = dirs.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => continue,
                Err(e) => {
                    return Err(Error::File {
                        path: dir,
                        source: e,
                    });
                }
            };
            for entry in entries {
                let entry = entry.map_err(Error::file(&dir))?;
                let path = entry.path();
                let meta = entry.metadata().map_err(Error::file(&path))?;
                if meta.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let Ok(rel) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                // Temporary files of writes in progress are not blobs.
                if check_key(&key).is_err() {
                    continue;
                }
                out.push(BlobMeta {
                    key,
                    size: meta.len(),
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

/// A key is `/`-separated segments of ASCII letters, digits, `.`, `-`, `_`; no segment
/// is empty, `.`, `..`, or starts with `.` (reserved for temporary files).
fn check_key(key: &str) -> Result<(), Error> {
    let ok = !key.is_empty()
        && key.len() <= 1024
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidKey(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_safe_relative_paths() {
        for good in ["a", "calls/42/mixed.mp3", "c-1/x_y.wav"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "a//b",
            "../x",
            "a/../b",
            "a/./b",
            "a/.tmp-1",
            "a b",
            "a\\b",
            "é",
        ] {
            assert!(matches!(check_key(bad), Err(Error::InvalidKey(_))), "{bad}");
        }
    }
}

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Any other I/O error (streams, pipes).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The input is not a WAV file this crate reads.
    #[error("not a supported WAV file: {0}")]
    Wav(String),
    /// The Whisper model folder could not be loaded or used.
    #[error("whisper model: {0}")]
    Model(String),
    /// CTranslate2 failed while transcribing.
    #[error("whisper inference: {0}")]
    Inference(String),
    /// The model cannot transcribe this language.
    #[error("language {language:?} is not supported by this model ({why})")]
    Language {
        /// The hint given.
        language: String,
        /// Why not.
        why: &'static str,
    },
    /// The transcription server failed or answered something unexpected.
    #[error("transcription server: {0}")]
    Http(String),
    /// MP3 encoding failed.
    #[error("mp3 encoder: {0}")]
    Mp3(String),
    /// A blob key is not of the form `a/b/c.ext` with safe segments.
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
    /// No blob under this key.
    #[error("no blob {0:?}")]
    NotFound(String),
    /// A range outside the blob.
    #[error("range {start}..{end} outside blob of {size} bytes")]
    Range {
        /// First byte asked for.
        start: u64,
        /// One past the last byte asked for.
        end: u64,
        /// The blob's size.
        size: u64,
    },
}

impl Error {
    pub(crate) fn file(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::File {
            path: path.to_path_buf(),
            source,
        }
    }
}

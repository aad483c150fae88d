//! Full-text search over what was said and written in chats: customer and staff
//! messages, internal notes and call transcript lines (SPEC RC-3).
//!
//! One [`Document`] per line, with its channel, chat, kind, speaker, time and (for a
//! transcript) offset in the recording. [`Index::search`] answers the chats of one
//! channel whose lines match a query, each with its best line and the byte ranges that
//! matched ([`Hit::highlights`], [`Hit::snippet`]).
//!
//! Text is analysed twice (see [`analysis`]): into words by lindera with IPADIC, built
//! once from Debian's `mecab-ipadic` into the data directory ([`dictionary`]), and into
//! character bigrams, which find a word the dictionary cut differently and carry the
//! search alone when the dictionary is missing.
//!
//! No I/O beyond the index folder; the server decides when to add, commit and search.

pub mod analysis;
pub mod dictionary;
mod highlight;
mod index;
mod recent;

use std::path::PathBuf;

pub use highlight::{Span, snippet};
pub use index::{CUSTOMER, Config, Document, Hit, Index, Kind, TranscriptLine};

/// What can go wrong with the index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The index files.
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The index folder cannot be opened.
    #[error("search index folder: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    /// The file system.
    #[error("search index: {0}")]
    Io(#[from] std::io::Error),
    /// The Japanese dictionary cannot be built or loaded.
    #[error("Japanese dictionary: {0}")]
    Dictionary(String),
    /// Another process (a running server, or `denwa admin reindex`) writes the index.
    #[error(
        "the search index in {0} is in use by another process (a running `denwa serve`?); stop it first"
    )]
    Locked(PathBuf),
    /// A rebuild's source of documents failed; the index was left as it was.
    #[error("rebuilding the search index: {0}")]
    Source(String),
}

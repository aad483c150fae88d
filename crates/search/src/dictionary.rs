//! The Japanese dictionary: lindera's binary form of IPADIC, built from the EUC-JP CSVs
//! of Debian's `mecab-ipadic` package into a cache directory the first time it is needed
//! (about 8 s), then loaded (memory-mapped) on every later start.
//!
//! lindera's `embed-*` features download the dictionary at build time; we never do.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use lindera::dictionary::{DictionaryBuilder, Metadata, load_fs_dictionary};
use lindera::mode::Mode;
use lindera::segmenter::Segmenter;

use crate::Error;

/// Where Debian's `mecab-ipadic` package puts the source CSVs.
pub const DEBIAN_IPADIC_SOURCE: &str = "/usr/share/mecab/dic/ipadic";

/// The built dictionary's folder name inside the cache directory. It names lindera's
/// major version: a new lindera with another on-disk format builds its own copy.
const BUILT_DIR: &str = "ipadic-lindera6";

/// How lindera reads mecab-ipadic's CSVs: the IPADIC column layout, EUC-JP.
const IPADIC_METADATA: &str = r#"{
  "name": "ipadic",
  "encoding": "EUC-JP",
  "default_word_cost": -10000,
  "default_left_context_id": 0,
  "default_right_context_id": 0,
  "default_field_value": "*",
  "flexible_csv": true,
  "skip_invalid_cost_or_id": false,
  "normalize_details": true,
  "dictionary_schema": {
    "fields": [
      "surface", "left_context_id", "right_context_id", "cost",
      "part_of_speech", "part_of_speech_subcategory_1", "part_of_speech_subcategory_2",
      "part_of_speech_subcategory_3", "conjugation_form", "conjugation_type",
      "base_form", "reading", "pronunciation"
    ]
  },
  "user_dictionary_schema": { "fields": ["surface", "part_of_speech", "reading"] }
}"#;

/// A loaded Japanese morphological analyser, shared by every tokenizer clone.
pub type JapaneseSegmenter = Arc<Segmenter>;

/// The built dictionary in `cache_dir`, building it from `source` (a folder of
/// mecab-ipadic CSVs and `.def` files) when it is missing or unreadable.
///
/// The build writes into a temporary folder and renames it into place, so a crash
/// mid-build leaves no half dictionary behind.
pub fn ensure_ipadic(cache_dir: &Path, source: &Path) -> Result<PathBuf, Error> {
    let built = cache_dir.join(BUILT_DIR);
    if built.join("metadata.json").is_file() {
        return Ok(built);
    }
    if !source.join("matrix.def").is_file() {
        return Err(Error::Dictionary(format!(
            "no mecab-ipadic source in {} (install the Debian package `mecab-ipadic`)",
            source.display()
        )));
    }
    std::fs::create_dir_all(cache_dir)?;
    static BUILDS: AtomicU64 = AtomicU64::new(0);
    let tmp = cache_dir.join(format!(
        "{BUILT_DIR}.building-{}-{}",
        std::process::id(),
        BUILDS.fetch_add(1, Ordering::Relaxed)
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    let started = Instant::now();
    tracing::info!(source = %source.display(), "building the Japanese dictionary (once)");
    let metadata = Metadata::load(IPADIC_METADATA.as_bytes())
        .map_err(|e| Error::Dictionary(format!("dictionary metadata: {e}")))?;
    if let Err(e) = DictionaryBuilder::new(metadata).build_dictionary(source, &tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::Dictionary(format!(
            "building from {}: {e}",
            source.display()
        )));
    }
    // Another process may have finished first: keep its copy, it is the same.
    if let Err(e) = std::fs::rename(&tmp, &built) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !built.join("metadata.json").is_file() {
            return Err(e.into());
        }
    }
    tracing::info!(
        dir = %built.display(),
        seconds = started.elapsed().as_secs_f32(),
        "Japanese dictionary built"
    );
    Ok(built)
}

/// Loads a built dictionary into a segmenter.
pub fn load_segmenter(built: &Path) -> Result<JapaneseSegmenter, Error> {
    let dictionary = load_fs_dictionary(built)
        .map_err(|e| Error::Dictionary(format!("loading {}: {e}", built.display())))?;
    Ok(Arc::new(Segmenter::new(Mode::Normal, dictionary, None)))
}

/// [`ensure_ipadic`] then [`load_segmenter`]; when a cached dictionary fails to load
/// (a stale or damaged copy) it is rebuilt once.
pub fn open_segmenter(cache_dir: &Path, source: &Path) -> Result<JapaneseSegmenter, Error> {
    let built = ensure_ipadic(cache_dir, source)?;
    match load_segmenter(&built) {
        Ok(s) => Ok(s),
        Err(e) => {
            tracing::warn!(error = %e, "the cached Japanese dictionary is unreadable; rebuilding it");
            std::fs::remove_dir_all(&built)?;
            let built = ensure_ipadic(cache_dir, source)?;
            load_segmenter(&built)
        }
    }
}

//! The search index in the data directory (`search/`): opened by `denwa serve` and fed
//! from the bus, rebuilt by `denwa admin reindex`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use denwa_api::Bus;
use denwa_search::Index;
use denwa_store::Store;

fn open_index(data_dir: &Path) -> Result<Index, denwa_search::Error> {
    Index::open(&data_dir.join("search"))
}

/// Opens the index (building the Japanese dictionary the first time, ~8 s) and starts
/// feeding it from the bus. When the index is empty but the store is not (a new install
/// of search, or a deleted index), it is rebuilt in the background. Without an index the
/// server still runs: the keyword search falls back to SQL `LIKE`.
pub(crate) async fn start(
    data_dir: &Path,
    store: Arc<dyn Store>,
    bus: &dyn Bus,
) -> Option<Arc<Index>> {
    let dir = data_dir.to_owned();
    let index = match tokio::task::spawn_blocking(move || open_index(&dir)).await {
        Ok(Ok(index)) => Arc::new(index),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "no search index; the inbox keyword search matches message text with SQL LIKE");
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "opening the search index panicked");
            return None;
        }
    };
    denwa_api::search::spawn_indexer(index.clone(), bus.subscribe());
    if index.num_docs() == 0 {
        let index = index.clone();
        tokio::spawn(async move {
            match denwa_api::search::count_lines(store.as_ref()).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(
                        lines = n,
                        "the search index is empty: indexing the stored messages and notes in the background"
                    );
                    match denwa_api::search::rebuild(store.as_ref(), index, |_| {}).await {
                        Ok(n) => tracing::info!(lines = n, "search index rebuilt"),
                        Err(e) => {
                            tracing::error!(error = %e, "rebuilding the search index failed; run `denwa admin reindex`")
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "counting lines to index"),
            }
        });
    }
    Some(index)
}

/// `denwa admin reindex`: replaces the index with every message and note of the store,
/// with a progress bar on stderr.
pub(crate) async fn reindex(data_dir: &Path, store: &dyn Store) -> anyhow::Result<()> {
    let total = denwa_api::search::count_lines(store).await?;
    let dir = data_dir.to_owned();
    let index = tokio::task::spawn_blocking(move || open_index(&dir))
        .await?
        .context("opening the search index")?;
    if !index.has_dictionary() {
        eprintln!(
            "warning: no Japanese dictionary (install the Debian package mecab-ipadic); indexing character bigrams only"
        );
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} indexing [{bar:40}] {pos}/{len} lines ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let progress = bar.clone();
    let started = std::time::Instant::now();
    let indexed =
        denwa_api::search::rebuild(store, Arc::new(index), move |n| progress.set_position(n))
            .await
            .map_err(|e| anyhow::anyhow!("rebuilding the search index: {e}"))?;
    bar.finish_and_clear();
    println!(
        "indexed {indexed} lines in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

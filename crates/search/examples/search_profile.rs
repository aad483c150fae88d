//! Times `Index::search` for given queries on an index `search_bench` built and left in
//! `DIR`, without building it again: to profile one query (`perf record`), or to compare
//! two builds' answers.
//!
//! ```sh
//! cargo run --release -p denwa-search --example search_bench -- 1000000 /tmp/idx
//! cargo run --release -p denwa-search --example search_profile -- /tmp/idx ROUNDS QUERY...
//! ```
//!
//! Prints per query: chats found, the first hit, p50 and p99 ms. `LIMIT=n` (default 20)
//! sets the limit, `BIGRAMS_ONLY=1` searches without the dictionary, `DUMP=1` prints
//! every hit (to stderr) so two builds' answers can be diffed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use denwa_search::{Config, Index};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("DIR")?);
    let rounds: usize = args.next().ok_or("ROUNDS")?.parse()?;
    let queries: Vec<String> = args.collect();
    let config = if std::env::var_os("BIGRAMS_ONLY").is_some() {
        Config {
            ipadic_source: None,
            ..Config::default()
        }
    } else {
        Config::default()
    };
    let limit: usize = std::env::var("LIMIT").map_or(Ok(20), |l| l.parse())?;
    let t = Instant::now();
    let index = Index::open_with(&dir, config)?;
    println!("opened in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    for q in &queries {
        let hits = index.search(1, q, limit)?;
        if std::env::var_os("DUMP").is_some() {
            for h in &hits {
                eprintln!("{q}\t{h:?}");
            }
        }
    }
    for q in &queries {
        let mut times = Vec::with_capacity(rounds);
        let mut found = 0;
        let mut first = None;
        for _ in 0..rounds {
            let t = Instant::now();
            let hits = index.search(1, q, limit)?;
            times.push(t.elapsed());
            found = hits.len();
            first = hits
                .first()
                .map(|h| (h.chat_id, h.key.clone(), h.word_match));
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{q}\tfound {found}\tfirst {first:?}\tp50 {:.2}\tp99 {:.2}",
            ms(times[times.len() / 2]),
            ms(times[(times.len() - 1) * 99 / 100])
        );
    }
    Ok(())
}

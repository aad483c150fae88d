//! Search latency over synthetic transcript lines (driven by `bench/search.sh`).
//!
//! ```sh
//! cargo run --release -p denwa-search --example search_bench -- [LINES] [DIR]
//! ```
//!
//! Generates `LINES` (default 1 000 000) deterministic transcript lines, half Japanese
//! and half English, in 2 000-line calls of one channel (the worst case: every line is
//! in the searched tenant) plus a second channel of 10 % more lines with the same text,
//! indexes them, then times `Index::search` (with highlighting, as the inbox calls it)
//! for a fixed mix of queries. Prints one Markdown table row per measure.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use denwa_search::{CUSTOMER, Config, Document, Index, Kind};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const JA_OPENERS: &[&str] = &[
    "お世話になっております",
    "すみません",
    "恐れ入りますが",
    "はい、承知しました",
    "少々お待ちください",
    "お電話ありがとうございます",
    "確認いたします",
];
const JA_TOPICS: &[&str] = &[
    "請求書",
    "領収書",
    "配送状況",
    "解約手続き",
    "お支払い方法",
    "パスワード",
    "予約の変更",
    "返品",
    "保証期間",
    "見積書",
    "会員登録",
    "ポイント",
    "住所変更",
    "商品の在庫",
    "キャンセル料",
];
const JA_ENDINGS: &[&str] = &[
    "について確認したいです",
    "の再発行をお願いします",
    "がまだ届いていません",
    "を教えていただけますか",
    "の件でお電話しました",
    "はいつ頃になりますか",
    "を変更したいのですが",
];
const EN_OPENERS: &[&str] = &[
    "Hello",
    "Thanks for calling",
    "Sorry to bother you",
    "Okay",
    "Let me check that",
    "Sure",
    "One moment please",
];
const EN_REQUESTS: &[&str] = &[
    "I would like a refund for",
    "can you check the delivery of",
    "I want to cancel",
    "there is a problem with",
    "please send the invoice for",
    "I need to change the address on",
    "when will you ship",
    "I was charged twice for",
];
const EN_OBJECTS: &[&str] = &[
    "order number",
    "my subscription",
    "the warranty claim",
    "reservation",
    "account",
    "the replacement part",
];

fn line(rng: &mut Rng, i: u64) -> String {
    let n = rng.below(100_000);
    if i.is_multiple_of(2) {
        format!(
            "{}、{}{}。番号は{n}です。",
            rng.pick(JA_OPENERS),
            rng.pick(JA_TOPICS),
            rng.pick(JA_ENDINGS)
        )
    } else {
        format!(
            "{}, {} {} {n}.",
            rng.pick(EN_OPENERS),
            rng.pick(EN_REQUESTS),
            rng.pick(EN_OBJECTS)
        )
    }
}

fn documents(lines: u64) -> impl Iterator<Item = Document> {
    let mut rng = Rng(0x5EED_DE4A);
    let extra = lines / 10;
    (0..lines + extra).map(move |i| {
        let (channel, j) = if i < lines { (1, i) } else { (2, i - lines) };
        let call = j / 2_000;
        Document {
            key: format!("transcript:{channel}:{j}"),
            channel_id: channel,
            chat_id: channel * 1_000_000 + call as i64,
            kind: Kind::Transcript,
            speaker: Some(if j.is_multiple_of(2) {
                CUSTOMER.into()
            } else {
                "7".into()
            }),
            offset_ms: Some((j % 2_000) * 3_000),
            created_ms: 1_700_000_000_000 + j as i64 * 1_000,
            text: line(&mut rng, j),
        }
    })
}

const QUERIES: &[&str] = &[
    "請求書",
    "再発行",
    "請求書 再発行",
    "配送状況",
    "キャンセル料",
    "届いていません",
    "書",
    "refund",
    "invoice",
    "refund order",
    "charged twice",
    "warranty",
    "42424",
    "nonexistentword",
    "存在しない言葉",
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn dir_size(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let lines: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir: PathBuf = match args.next() {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join("denwa-search-bench"),
    };
    let _ = std::fs::remove_dir_all(dir.join("index"));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));

    let started = Instant::now();
    let index = Index::open_with(
        &dir,
        Config {
            writer_threads: threads,
            writer_memory_bytes: 200_000_000 * threads,
            ..Config::default()
        },
    )?;
    let open_s = started.elapsed().as_secs_f64();
    if !index.has_dictionary() {
        return Err("no Japanese dictionary (apt-get install mecab-ipadic)".into());
    }

    let started = Instant::now();
    let total = index.reindex(documents(lines).map(Ok::<_, String>), |n| {
        if n.is_multiple_of(200_000) {
            eprintln!("indexed {n}");
        }
    })?;
    let build = started.elapsed();
    drop(index);
    // Reopen as a server would after the build.
    let index = Index::open_with(&dir, Config::default())?;

    // Warm up (page cache, lazily loaded structures), then measure.
    for q in QUERIES {
        index.search(1, q, 20)?;
    }
    let rounds = 40;
    let mut all = Vec::with_capacity(rounds * QUERIES.len());
    let mut per_query: Vec<(&str, Vec<Duration>, usize)> = Vec::new();
    for q in QUERIES {
        let mut times = Vec::with_capacity(rounds);
        let mut found = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            let hits = index.search(1, q, 20)?;
            times.push(t.elapsed());
            found = hits.len();
        }
        all.extend(times.iter().copied());
        times.sort();
        per_query.push((q, times, found));
    }
    all.sort();

    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| lines indexed (channel 1 + channel 2) | {total} ({lines} + {}) |",
        total - lines
    );
    println!("| indexing threads | {threads} |");
    println!("| dictionary load/build at open | {open_s:.1} s |");
    println!(
        "| index build time | {:.1} s ({:.0} lines/s) |",
        build.as_secs_f64(),
        total as f64 / build.as_secs_f64()
    );
    println!(
        "| index size on disk | {:.1} MiB |",
        dir_size(&dir.join("index")) as f64 / (1024.0 * 1024.0)
    );
    println!(
        "| search latency over {} searches (limit 20 chats, highlights) | p50 {} ms, p95 {} ms, **p99 {} ms**, max {} ms |",
        all.len(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.95)),
        ms(percentile(&all, 0.99)),
        ms(*all.last().unwrap_or(&Duration::ZERO))
    );
    println!();
    println!("| query | chats found | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    for (q, times, found) in &per_query {
        println!(
            "| `{q}` | {found} | {} | {} |",
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.99))
        );
    }
    Ok(())
}

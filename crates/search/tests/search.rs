//! The index end to end: Japanese and English lines, the bigram fallback, tenant
//! isolation, highlights, replacing and reindexing. Needs Debian's `mecab-ipadic`
//! (scripts/test.sh installs it); the dictionary is built once into the target folder.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use denwa_search::{CUSTOMER, Config, Document, Error, Index, Kind, Span, TranscriptLine};

/// The built dictionary, shared by every test of this binary (and later runs).
fn dictionary_cache() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("denwa-search-dictionary");
            denwa_search::dictionary::ensure_ipadic(
                &cache,
                Path::new(denwa_search::dictionary::DEBIAN_IPADIC_SOURCE),
            )
            .expect("mecab-ipadic is installed (apt-get install mecab-ipadic)");
            cache
        })
        .clone()
}

fn open(dir: &Path) -> Index {
    let index = Index::open_with(
        dir,
        Config {
            dictionary_cache: Some(dictionary_cache()),
            ..Config::default()
        },
    )
    .expect("index opens");
    assert!(index.has_dictionary());
    index
}

fn open_bigrams_only(dir: &Path) -> Index {
    let index = Index::open_with(
        dir,
        Config {
            ipadic_source: None,
            ..Config::default()
        },
    )
    .expect("index opens");
    assert!(!index.has_dictionary());
    index
}

fn note(channel: i64, chat: i64, id: i64, text: &str) -> Document {
    Document::message(
        channel,
        chat,
        id,
        Kind::Note,
        Some("7".into()),
        1_700_000_000_000 + id,
        text,
    )
}

fn add_all(index: &Index, docs: &[Document]) {
    for d in docs {
        index.add(d).expect("add");
    }
    index.commit().expect("commit");
}

fn chats(index: &Index, channel: i64, query: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = index
        .search(channel, query, 50)
        .expect("search")
        .iter()
        .map(|h| h.chat_id)
        .collect();
    ids.sort();
    ids
}

fn marked(spans: &[Span]) -> Vec<&str> {
    spans
        .iter()
        .filter(|s| s.mark)
        .map(|s| s.text.as_str())
        .collect()
}

/// Lines around an invoice, only one of which asks for the invoice (請求書).
fn japanese_lines() -> Vec<Document> {
    vec![
        note(1, 10, 1, "請求書の再発行をお願いします"),
        note(1, 11, 2, "請求について確認させてください"),
        note(1, 12, 3, "領収書を送ってください"),
        note(1, 13, 4, "書類はメールでお送りします"),
        note(1, 14, 5, "お支払い方法を変更したいです"),
    ]
}

#[test]
fn japanese_word_finds_its_line_and_nothing_unrelated() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    add_all(&index, &japanese_lines());

    let hits = index.search(1, "請求書", 10).unwrap();
    assert_eq!(hits.len(), 1, "only the invoice line: {hits:?}");
    let hit = &hits[0];
    assert_eq!(hit.chat_id, 10);
    assert_eq!(hit.text, "請求書の再発行をお願いします");
    assert_eq!(hit.highlights, vec![0.."請求書".len()]);
    assert_eq!(marked(&hit.snippet(80)), ["請求書"]);

    // Other words find their own lines only.
    assert_eq!(chats(&index, 1, "再発行"), [10]);
    assert_eq!(chats(&index, 1, "領収書"), [12]);
    assert_eq!(chats(&index, 1, "請求"), [10, 11]);
    assert!(chats(&index, 1, "見積書").is_empty());
}

#[test]
fn english_words_match_case_insensitively() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    add_all(
        &index,
        &[
            Document::transcript(
                1,
                20,
                500,
                1_700_000_000_000,
                &[
                    TranscriptLine {
                        speaker: "3".into(),
                        offset_ms: 0,
                        text: "Thank you for calling, how can I help?".into(),
                    },
                    TranscriptLine {
                        speaker: CUSTOMER.into(),
                        offset_ms: 2_400,
                        text: "I would like a refund for order number four two seven".into(),
                    },
                ],
            ),
            vec![
                note(1, 21, 30, "Refunds are handled by the billing team"),
                note(1, 22, 31, "Customer asked about the delivery date"),
            ],
        ]
        .concat(),
    );

    let hits = index.search(1, "refund", 10).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    let hit = &hits[0];
    assert_eq!(hit.chat_id, 20);
    assert_eq!(hit.kind, Kind::Transcript);
    assert_eq!(hit.speaker.as_deref(), Some(CUSTOMER));
    assert_eq!(hit.offset_ms, Some(2_400));
    assert_eq!(hit.key, "transcript:500:1");
    assert_eq!(marked(&hit.snippet(80)), ["refund"]);

    assert_eq!(chats(&index, 1, "REFUND"), [20]);
    assert_eq!(chats(&index, 1, "ＲＥＦＵＮＤ"), [20], "full-width Latin");
    assert_eq!(chats(&index, 1, "refunds"), [21]);
    // Every word must match.
    assert_eq!(chats(&index, 1, "order seven"), [20]);
    assert!(chats(&index, 1, "order eight").is_empty());
    assert_eq!(chats(&index, 1, "the"), [21, 22]);
    // Punctuation alone finds nothing (and is no error).
    assert!(chats(&index, 1, "?! 、").is_empty());
    assert!(chats(&index, 1, "").is_empty());
}

#[test]
fn bigrams_alone_search_when_there_is_no_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let index = open_bigrams_only(dir.path());
    add_all(&index, &japanese_lines());
    add_all(&index, &[note(1, 15, 6, "I would like a refund")]);

    let hits = index.search(1, "請求書", 10).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].chat_id, 10);
    assert_eq!(hits[0].highlights, vec![0.."請求書".len()]);
    assert_eq!(chats(&index, 1, "請求"), [10, 11]);
    assert_eq!(chats(&index, 1, "refund"), [15]);
    // A single character is found inside longer words.
    assert_eq!(chats(&index, 1, "書"), [10, 12, 13]);
}

#[test]
fn bigrams_find_a_word_the_dictionary_cuts_differently() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    // IPADIC reads 東京都 as 東京 + 都, so 京都 is no word of this line; it still is
    // a substring of it.
    add_all(&index, &[note(1, 30, 1, "東京都にお住まいの方")]);
    let hits = index.search(1, "京都", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(marked(&hits[0].snippet(80)), ["京都"]);
}

#[test]
fn a_channel_never_sees_another_channels_lines() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    add_all(
        &index,
        &[
            note(1, 40, 1, "請求書の再発行をお願いします"),
            note(2, 41, 2, "請求書の再発行をお願いします"),
            note(2, 42, 3, "refund please"),
        ],
    );
    assert_eq!(chats(&index, 1, "請求書"), [40]);
    assert_eq!(chats(&index, 2, "請求書"), [41]);
    assert!(chats(&index, 1, "refund").is_empty());
    assert!(chats(&index, 3, "請求書").is_empty());
}

#[test]
fn one_hit_per_chat_word_matches_first_then_most_recent() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    add_all(
        &index,
        &[
            note(1, 50, 1, "refund"),
            note(1, 50, 2, "refund refund, about the refund"),
            note(1, 51, 3, "a line that mentions a refund"),
            note(1, 52, 5, "東京都の請求書"),
            note(1, 53, 4, "京都の請求書"),
        ],
    );
    let hits = index.search(1, "refund", 10).unwrap();
    assert_eq!(hits.iter().map(|h| h.chat_id).collect::<Vec<_>>(), [51, 50]);
    // A chat's most recent matching line.
    assert_eq!(hits[1].key, Document::message_key(2));
    assert!(hits.iter().all(|h| h.word_match));
    // The limit counts chats.
    assert_eq!(index.search(1, "refund", 1).unwrap().len(), 1);

    // 京都 is a word of chat 53's line, only a substring of chat 52's (東京 + 都):
    // the word match comes first, though older.
    let hits = index.search(1, "京都", 10).unwrap();
    assert_eq!(hits.iter().map(|h| h.chat_id).collect::<Vec<_>>(), [53, 52]);
    assert_eq!(
        hits.iter().map(|h| h.word_match).collect::<Vec<_>>(),
        [true, false]
    );
}

#[test]
fn highlights_are_byte_ranges_of_the_line_and_snippets_cut_long_lines() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    let long = format!(
        "{}お客様から請求書の件でお電話、請求書は来週送付{}",
        "前置き。".repeat(40),
        "。以上".repeat(40)
    );
    add_all(&index, &[note(1, 60, 1, &long)]);
    let hit = &index.search(1, "請求書", 10).unwrap()[0];
    assert_eq!(hit.highlights.len(), 2);
    for r in &hit.highlights {
        assert_eq!(&hit.text[r.clone()], "請求書");
    }
    let spans = hit.snippet(60);
    assert_eq!(spans.first().unwrap().text, "…");
    assert_eq!(spans.last().unwrap().text, "…");
    assert_eq!(marked(&spans), ["請求書", "請求書"]);
    // The spans are the line's own text, in order.
    let shown: String = spans[1..spans.len() - 1]
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    assert!(hit.text.contains(&shown));
}

#[test]
fn adding_a_key_again_replaces_the_line_and_delete_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    add_all(&index, &[note(1, 70, 1, "first text about a refund")]);
    add_all(&index, &[note(1, 70, 1, "edited text about an invoice")]);
    assert!(chats(&index, 1, "refund").is_empty());
    assert_eq!(chats(&index, 1, "invoice"), [70]);
    assert_eq!(index.num_docs(), 1);
    index.delete(&Document::message_key(1)).unwrap();
    index.commit().unwrap();
    assert!(chats(&index, 1, "invoice").is_empty());
}

#[test]
fn reindex_replaces_everything_and_reports_progress() {
    let dir = tempfile::tempdir().unwrap();
    let index = open(dir.path());
    add_all(&index, &[note(1, 80, 1, "stale line about a refund")]);
    let docs: Vec<Document> = (0..2_500)
        .map(|i| note(1, 100 + i % 50, 10 + i, &format!("line {i} 請求書 invoice")))
        .collect();
    let mut reports = Vec::new();
    let n = index
        .reindex(docs.into_iter().map(Ok::<_, String>), |done| {
            reports.push(done)
        })
        .unwrap();
    assert_eq!(n, 2_500);
    assert_eq!(reports, [1_000, 2_000, 2_500]);
    assert_eq!(index.num_docs(), 2_500);
    assert!(chats(&index, 1, "refund").is_empty());
    assert_eq!(index.search(1, "請求書", 100).unwrap().len(), 50);
    assert!(index.size_on_disk() > 0);

    // A failing source leaves the index as it was.
    let failing = vec![
        Ok(note(1, 999, 99_999, "refund")),
        Err("the store went away"),
    ];
    let err = index.reindex(failing, |_| {}).unwrap_err();
    assert!(matches!(err, Error::Source(_)), "{err}");
    assert_eq!(index.num_docs(), 2_500);
    assert!(chats(&index, 1, "refund").is_empty());
    assert_eq!(index.search(1, "請求書", 100).unwrap().len(), 50);
}

#[test]
fn the_index_survives_a_reopen_and_one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = open(dir.path());
        add_all(&index, &[note(1, 90, 1, "請求書の再発行をお願いします")]);
        // A second writer on the same folder is refused with a clear error.
        let second = Index::open_with(
            dir.path(),
            Config {
                dictionary_cache: Some(dictionary_cache()),
                ..Config::default()
            },
        );
        assert!(matches!(second, Err(Error::Locked(_))), "{second:?}");
    }
    let index = open(dir.path());
    assert_eq!(chats(&index, 1, "請求書"), [90]);
}

#[test]
fn a_missing_dictionary_source_falls_back_to_bigrams() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open_with(
        dir.path(),
        Config {
            ipadic_source: Some(dir.path().join("no-such-ipadic")),
            ..Config::default()
        },
    )
    .unwrap();
    assert!(!index.has_dictionary());
    add_all(&index, &japanese_lines());
    assert_eq!(chats(&index, 1, "請求書"), [10]);
}

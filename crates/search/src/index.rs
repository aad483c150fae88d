//! The index: one tantivy document per line (a message, a note, a transcript line).

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::query::RegexQuery;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::tokenizer::PreTokenizedString;
use tantivy::{IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::Error;
use crate::analysis::{BigramTokenizer, JapaneseTokenizer, bigram_tokens, word_tokens};
use crate::dictionary::{DEBIAN_IPADIC_SOURCE, JapaneseSegmenter, open_segmenter};
use crate::highlight::{self, QueryWord, Span};
use crate::recent::{ChatLatest, Conjunction, Part, SegmentCache, latest_chats};

/// What a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A message between the customer and staff.
    Message,
    /// An internal note.
    Note,
    /// A line of a call transcript.
    Transcript,
}

impl Kind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Note => "note",
            Kind::Transcript => "transcript",
        }
    }

    /// Reads [`as_str`](Self::as_str)'s spelling.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "message" => Some(Kind::Message),
            "note" => Some(Kind::Note),
            "transcript" => Some(Kind::Transcript),
            _ => None,
        }
    }
}

/// The speaker label of the customer (staff are labelled by their id).
pub const CUSTOMER: &str = "customer";

/// One searchable line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Unique per line; adding a document with a key already indexed replaces it.
    pub key: String,
    /// The channel (tenant); a search only ever sees its channel's documents.
    pub channel_id: i64,
    /// The chat the line belongs to.
    pub chat_id: i64,
    /// What the line is.
    pub kind: Kind,
    /// Who said or wrote it: [`CUSTOMER`] or a staff id; none for integrations.
    pub speaker: Option<String>,
    /// For a transcript line, where it starts in the recording.
    pub offset_ms: Option<u64>,
    /// When it was written or said, Unix ms.
    pub created_ms: i64,
    /// The text.
    pub text: String,
}

/// A line of a transcript, as a transcription job produces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptLine {
    /// [`CUSTOMER`] or a staff id.
    pub speaker: String,
    /// Where it starts in the recording.
    pub offset_ms: u64,
    /// What was said.
    pub text: String,
}

impl Document {
    /// The key of a stored message or note.
    pub fn message_key(message_id: i64) -> String {
        format!("message:{message_id}")
    }

    /// A message or note of a chat.
    pub fn message(
        channel_id: i64,
        chat_id: i64,
        message_id: i64,
        kind: Kind,
        speaker: Option<String>,
        created_ms: i64,
        text: impl Into<String>,
    ) -> Document {
        Document {
            key: Document::message_key(message_id),
            channel_id,
            chat_id,
            kind,
            speaker,
            offset_ms: None,
            created_ms,
            text: text.into(),
        }
    }

    /// The documents of one call's transcript: one per line, keyed by the call and the
    /// line's place, so indexing a transcript again replaces it.
    pub fn transcript(
        channel_id: i64,
        chat_id: i64,
        call_id: i64,
        created_ms: i64,
        lines: &[TranscriptLine],
    ) -> Vec<Document> {
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| Document {
                key: format!("transcript:{call_id}:{i}"),
                channel_id,
                chat_id,
                kind: Kind::Transcript,
                speaker: Some(line.speaker.clone()),
                offset_ms: Some(line.offset_ms),
                created_ms,
                text: line.text.clone(),
            })
            .collect()
    }
}

/// The best matching line of one chat.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The chat.
    pub chat_id: i64,
    /// The line's key.
    pub key: String,
    /// What the line is.
    pub kind: Kind,
    /// Who said or wrote it.
    pub speaker: Option<String>,
    /// For a transcript line, where it starts in the recording.
    pub offset_ms: Option<u64>,
    /// When, Unix ms.
    pub created_ms: i64,
    /// The whole line.
    pub text: String,
    /// Byte ranges of `text` that match the query, sorted, not overlapping.
    pub highlights: Vec<Range<usize>>,
    /// Whether the query's words are words of the line (else substrings of it).
    pub word_match: bool,
}

impl Hit {
    /// At most `max_chars` characters around the first match, as text and marked spans.
    pub fn snippet(&self, max_chars: usize) -> Vec<Span> {
        highlight::snippet(&self.text, &self.highlights, max_chars)
    }
}

/// How to open an index.
#[derive(Debug, Clone)]
pub struct Config {
    /// mecab-ipadic's CSVs to build the Japanese dictionary from, when it is not built
    /// yet; `None` searches with bigrams only.
    pub ipadic_source: Option<PathBuf>,
    /// Where the built dictionary is kept; `None`: `dictionary/` beside the index.
    pub dictionary_cache: Option<PathBuf>,
    /// Indexing threads.
    pub writer_threads: usize,
    /// Indexing memory across those threads (at least 15 MB per thread).
    pub writer_memory_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            ipadic_source: Some(PathBuf::from(DEBIAN_IPADIC_SOURCE)),
            dictionary_cache: None,
            writer_threads: 1,
            writer_memory_bytes: 50_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    key: Field,
    channel: Field,
    chat: Field,
    kind: Field,
    speaker: Field,
    offset_ms: Field,
    created_ms: Field,
    text: Field,
    words: Field,
    bigrams: Field,
}

const WORDS_TOKENIZER: &str = "denwa_words";
const BIGRAM_TOKENIZER: &str = "denwa_bigrams";

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let analysed = |tokenizer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let fields = Fields {
        key: b.add_text_field("key", STRING | STORED),
        channel: b.add_i64_field("channel_id", INDEXED | FAST),
        chat: b.add_i64_field("chat_id", FAST | STORED),
        kind: b.add_text_field("kind", STORED),
        speaker: b.add_text_field("speaker", STORED),
        offset_ms: b.add_u64_field("offset_ms", STORED),
        created_ms: b.add_i64_field("created_ms", FAST | STORED),
        text: b.add_text_field("text", STORED),
        words: b.add_text_field("words", analysed(WORDS_TOKENIZER)),
        bigrams: b.add_text_field("bigrams", analysed(BIGRAM_TOKENIZER)),
    };
    (b.build(), fields)
}

/// A search index in a folder of the data directory. Cheap to share (`Arc<Index>`):
/// searches run concurrently; writes take a lock.
pub struct Index {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    segmenter: Option<JapaneseSegmenter>,
    segments: SegmentCache,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dictionary", &self.segmenter.is_some())
            .finish_non_exhaustive()
    }
}

impl Index {
    /// Opens (or creates) the index in `dir` with the default [`Config`]: the Japanese
    /// dictionary is built from Debian's mecab-ipadic into `dir` on first use.
    pub fn open(dir: &Path) -> Result<Index, Error> {
        Index::open_with(dir, Config::default())
    }

    /// Opens (or creates) the index in `dir` (`dir/index`; the dictionary cache in
    /// `dir/dictionary` unless the config names another). Without a usable dictionary it logs a warning and searches
    /// with bigrams only.
    pub fn open_with(dir: &Path, config: Config) -> Result<Index, Error> {
        let segmenter = match &config.ipadic_source {
            Some(source) => match open_segmenter(
                &config
                    .dictionary_cache
                    .clone()
                    .unwrap_or_else(|| dir.join("dictionary")),
                source,
            ) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "no Japanese dictionary: searching with character bigrams only (install `mecab-ipadic` for word search)"
                    );
                    None
                }
            },
            None => {
                tracing::warn!(
                    "no Japanese dictionary configured: searching with character bigrams only"
                );
                None
            }
        };
        let index_dir = dir.join("index");
        std::fs::create_dir_all(&index_dir)?;
        let (schema, fields) = schema();
        let directory = MmapDirectory::open(&index_dir)?;
        let index = tantivy::Index::open_or_create(directory, schema)?;
        index
            .tokenizers()
            .register(WORDS_TOKENIZER, JapaneseTokenizer::new(segmenter.clone()));
        index
            .tokenizers()
            .register(BIGRAM_TOKENIZER, BigramTokenizer);
        let writer = index
            .writer_with_num_threads(
                config.writer_threads.max(1),
                config
                    .writer_memory_bytes
                    .max(15_000_000 * config.writer_threads.max(1)),
            )
            .map_err(|e| match e {
                tantivy::TantivyError::LockFailure(..) => Error::Locked(index_dir.clone()),
                e => Error::Tantivy(e),
            })?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let segments = SegmentCache::default();
        segments.refresh(&reader.searcher())?;
        Ok(Index {
            reader,
            writer: Mutex::new(writer),
            fields,
            segmenter,
            segments,
        })
    }

    /// Whether Japanese words are analysed with the dictionary (else bigrams only).
    pub fn has_dictionary(&self) -> bool {
        self.segmenter.is_some()
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        // A panic while holding the lock leaves a writer that tantivy keeps consistent
        // (uncommitted work is simply dropped at the next rollback or commit).
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tantivy_doc(&self, doc: &Document) -> TantivyDocument {
        let f = &self.fields;
        let mut d = TantivyDocument::new();
        d.add_text(f.key, &doc.key);
        d.add_i64(f.channel, doc.channel_id);
        d.add_i64(f.chat, doc.chat_id);
        d.add_text(f.kind, doc.kind.as_str());
        if let Some(s) = &doc.speaker {
            d.add_text(f.speaker, s);
        }
        if let Some(o) = doc.offset_ms {
            d.add_u64(f.offset_ms, o);
        }
        d.add_i64(f.created_ms, doc.created_ms);
        d.add_text(f.text, &doc.text);
        // Terms carry the channel (see `tenant_term`), so a channel's postings are its
        // own: no intersection with a channel filter, and no way to match another's.
        let prefix = tenant_prefix(doc.channel_id);
        let tenant = |mut tokens: Vec<tantivy::tokenizer::Token>| {
            for t in &mut tokens {
                t.text.insert_str(0, &prefix);
            }
            PreTokenizedString {
                text: String::new(),
                tokens,
            }
        };
        d.add_pre_tokenized_text(
            f.words,
            tenant(word_tokens(self.segmenter.as_ref(), &doc.text)),
        );
        d.add_pre_tokenized_text(f.bigrams, tenant(bigram_tokens(&doc.text)));
        d
    }

    /// Adds a line, replacing any line with the same key. Visible after [`commit`](Self::commit).
    pub fn add(&self, doc: &Document) -> Result<(), Error> {
        let writer = self.writer();
        writer.delete_term(Term::from_field_text(self.fields.key, &doc.key));
        writer.add_document(self.tantivy_doc(doc))?;
        Ok(())
    }

    /// Removes the line with this key. Visible after [`commit`](Self::commit).
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        self.writer()
            .delete_term(Term::from_field_text(self.fields.key, key));
        Ok(())
    }

    /// Makes every change so far durable and visible to searches.
    pub fn commit(&self) -> Result<(), Error> {
        self.writer().commit()?;
        self.reload()
    }

    /// Makes the last commit visible to searches.
    fn reload(&self) -> Result<(), Error> {
        self.reader.reload()?;
        self.segments.refresh(&self.reader.searcher())?;
        Ok(())
    }

    /// Replaces the whole index with `docs`, calling `progress` with the number of
    /// documents added so far (every 1 000 and at the end). Searches see the old index
    /// until the new one is committed; an `Err` item (the source failed) abandons the
    /// rebuild and leaves the old index as it was. Returns how many documents were
    /// indexed.
    pub fn reindex<I, E, P>(&self, docs: I, mut progress: P) -> Result<u64, Error>
    where
        I: IntoIterator<Item = Result<Document, E>>,
        E: std::fmt::Display,
        P: FnMut(u64),
    {
        let mut writer = self.writer();
        writer.delete_all_documents()?;
        let mut n = 0u64;
        for doc in docs {
            let added = match doc {
                Ok(doc) => writer
                    .add_document(self.tantivy_doc(&doc))
                    .map_err(Error::from),
                Err(e) => Err(Error::Source(e.to_string())),
            };
            if let Err(e) = added {
                let _ = writer.rollback();
                return Err(e);
            }
            n += 1;
            if n.is_multiple_of(1000) {
                progress(n);
            }
        }
        writer.commit()?;
        drop(writer);
        self.reload()?;
        progress(n);
        Ok(n)
    }

    /// Lines in the index (committed).
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Bytes the index takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.reader
            .searcher()
            .space_usage()
            .map(|u| u.total().get_bytes())
            .unwrap_or(0)
    }

    /// The chats of `channel` with a line matching `query`, at most `limit`; each with
    /// its most recent matching line and where the query matched in it.
    ///
    /// Every whitespace-separated word of the query must match, case- and
    /// width-insensitively. Chats whose lines contain the words as the dictionary's
    /// words come first, most recent first; when they are fewer than `limit`, chats where
    /// a word only appears as a substring (bigrams; the dictionary cut it differently,
    /// or there is no dictionary) follow, most recent first. A query with no searchable
    /// word (punctuation only) finds nothing.
    pub fn search(&self, channel: i64, query: &str, limit: usize) -> Result<Vec<Hit>, Error> {
        let limit = limit.clamp(1, 1000);
        let words: Vec<QueryWord> = query
            .split_whitespace()
            .filter_map(|w| QueryWord::parse(self.segmenter.as_ref(), w))
            .collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let mut found: Vec<(ChatLatest, bool)> = Vec::new();
        let mut seen = HashSet::new();
        // Dictionary words first, when every query word is one: term lookups, precise.
        let one_word_each = self.segmenter.is_some() && words.iter().all(|w| w.words.len() == 1);
        if one_word_each {
            let query = self.words_query(channel, &words);
            for c in latest_chats(&searcher, &self.segments, &query, limit, &seen)? {
                seen.insert(c.chat);
                found.push((c, true));
            }
        }
        // Then substrings: every chat a word query finds, a substring query finds too,
        // and a word of several dictionary words is a phrase of bigrams anyway.
        if found.len() < limit {
            let query = self.substring_query(channel, &words)?;
            let need = limit - found.len();
            for c in latest_chats(&searcher, &self.segments, &query, need, &seen)? {
                found.push((c, false));
            }
        }
        let mut hits = Vec::with_capacity(found.len());
        for (c, word_match) in found {
            let doc: TantivyDocument = searcher.doc(c.doc)?;
            hits.push(self.hit(&doc, word_match, &words));
        }
        Ok(hits)
    }

    fn hit(&self, doc: &TantivyDocument, word_match: bool, words: &[QueryWord]) -> Hit {
        let f = &self.fields;
        let text_of = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let text = text_of(f.text).unwrap_or_default();
        let highlights = highlight::find(self.segmenter.as_ref(), &text, words);
        Hit {
            chat_id: doc.get_first(f.chat).and_then(|v| v.as_i64()).unwrap_or(0),
            key: text_of(f.key).unwrap_or_default(),
            kind: text_of(f.kind)
                .and_then(|k| Kind::parse(&k))
                .unwrap_or(Kind::Message),
            speaker: text_of(f.speaker),
            offset_ms: doc.get_first(f.offset_ms).and_then(|v| v.as_u64()),
            created_ms: doc
                .get_first(f.created_ms)
                .and_then(|v| v.as_i64())
                .unwrap_or(0),
            text,
            highlights,
            word_match,
        }
    }

    /// The lines of `channel` with every query word as one of their dictionary words.
    fn words_query(&self, channel: i64, words: &[QueryWord]) -> Conjunction {
        let prefix = tenant_prefix(channel);
        words
            .iter()
            .map(|w| terms_part(self.fields.words, &prefix, &w.words))
            .collect()
    }

    /// The lines of `channel` with every query word as a substring (bigrams for CJK,
    /// whole words for Latin script).
    fn substring_query(&self, channel: i64, words: &[QueryWord]) -> Result<Conjunction, Error> {
        let prefix = tenant_prefix(channel);
        let field = self.fields.bigrams;
        let mut must = Conjunction::new();
        for w in words {
            if let Some(c) = w.single_cjk {
                // A lone character is inside bigrams: as their first or second half (or
                // a unigram of its own). The prefix is digits, `-` and U+0001; CJK
                // characters need no escaping.
                let pattern = format!(
                    "{}(?:{c}.?|.{c})",
                    prefix.replace('-', "\\-").replace('\u{1}', "\\x01")
                );
                must.push(Part::Regex(RegexQuery::from_pattern(&pattern, field)?));
            } else if !w.bigrams.is_empty() {
                must.push(terms_part(field, &prefix, &w.bigrams));
            }
        }
        Ok(must)
    }
}

/// What every indexed term of a channel starts with: its id and U+0001 (which no
/// analysed term contains).
fn tenant_prefix(channel: i64) -> String {
    format!("{channel}\u{1}")
}

/// One term, or a phrase of several, of one channel.
fn terms_part(field: Field, prefix: &str, terms: &[String]) -> Part {
    let mut terms: Vec<Term> = terms
        .iter()
        .map(|t| Term::from_field_text(field, &format!("{prefix}{t}")))
        .collect();
    if terms.len() == 1 {
        Part::Term(terms.remove(0))
    } else {
        Part::Phrase(terms)
    }
}

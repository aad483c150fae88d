//! The chats whose most recent matching line is the most recent: what a search answers.
//!
//! A common query matches a large share of a busy channel's lines (every line that
//! says 請求書), yet the answer is a page of chats. So lines are read newest first, a
//! block of documents at a time, and reading stops as soon as no block left can hold a
//! line more recent than the last chat of the page: the answer is exactly the one a
//! scan of every line gives, at the cost of the newest few thousand lines.
//!
//! "Newest first" needs documents in time order, which postings are not (they are in
//! document order, and documents are mostly, not always, in time order). Each segment
//! keeps, per block of [`BLOCK_DOCS`] documents, the latest time of any of its lines
//! ([`SegmentColumns`]); blocks are read in the order of those bounds, several per
//! round, each round over fresh postings that skip straight to its blocks. tantivy's
//! own scorers cannot start in the middle of a segment (a phrase or conjunction scorer
//! looks for its first match from the start of the segment when it is built), so the
//! few query shapes a search uses ([`Part`]) are matched here, over tantivy's postings.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use tantivy::columnar::Column;
use tantivy::index::SegmentId;
use tantivy::postings::{Postings, SegmentPostings, TermInfo};
use tantivy::query::{EnableScoring, Query, RegexQuery, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{
    DocAddress, DocId, DocSet, Searcher, SegmentOrdinal, SegmentReader, TERMINATED, Term,
};

use crate::Error;

/// Documents per block of [`SegmentColumns::block_max`] (fewer in tests, so that a
/// small index has many blocks).
const BLOCK_DOCS: u32 = if cfg!(test) { 32 } else { 1024 };

/// Blocks read by the first round of [`latest_chats`]; each later round reads twice as
/// many as the one before.
const FIRST_ROUND_BLOCKS: usize = if cfg!(test) { 2 } else { 8 };

/// One condition on a line.
#[derive(Debug)]
pub(crate) enum Part {
    /// The line has this term.
    Term(Term),
    /// The line has these terms at consecutive positions.
    Phrase(Vec<Term>),
    /// The line has a term this regex matches (a lone CJK character inside bigrams).
    Regex(RegexQuery),
}

/// What a search looks for: the lines that meet every part (none when there is no part).
pub(crate) type Conjunction = Vec<Part>;

/// The most recent matching line of one chat.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChatLatest {
    pub(crate) chat: i64,
    pub(crate) created_ms: i64,
    pub(crate) doc: DocAddress,
}

impl ChatLatest {
    /// Whether `self` is the line to keep over `other` of the same chat: the later one;
    /// of two at the same time, the first in the index.
    fn beats(&self, other: &ChatLatest) -> bool {
        self.created_ms > other.created_ms
            || (self.created_ms == other.created_ms
                && (self.doc.segment_ord, self.doc.doc_id)
                    < (other.doc.segment_ord, other.doc.doc_id))
    }

    /// The order of the answer: most recent first, then the higher chat id.
    fn rank(&self, other: &ChatLatest) -> std::cmp::Ordering {
        other
            .created_ms
            .cmp(&self.created_ms)
            .then(other.chat.cmp(&self.chat))
    }
}

/// What a search needs of a segment besides its postings, prepared once per segment
/// (segments never change): its chat and time columns (opening a column decodes its
/// header, a noticeable part of a quick search) and, per block of [`BLOCK_DOCS`]
/// documents, the latest time of any line in it, an upper bound on how recent a match
/// in the block can be.
struct SegmentColumns {
    chat: Column<i64>,
    created: Column<i64>,
    block_max: Vec<i64>,
}

impl SegmentColumns {
    fn new(reader: &SegmentReader) -> tantivy::Result<SegmentColumns> {
        let ff = reader.fast_fields();
        let chat = ff.i64("chat_id")?;
        let created = ff.i64("created_ms")?;
        let max_doc = reader.max_doc();
        let mut docs: Vec<DocId> = Vec::with_capacity(BLOCK_DOCS as usize);
        let mut values = vec![None; BLOCK_DOCS as usize];
        let mut block_max = Vec::with_capacity(max_doc.div_ceil(BLOCK_DOCS) as usize);
        for start in (0..max_doc).step_by(BLOCK_DOCS as usize) {
            docs.clear();
            docs.extend(start..(start + BLOCK_DOCS).min(max_doc));
            let values = &mut values[..docs.len()];
            created.first_vals(&docs, values);
            // A line without a time is collected as time 0.
            block_max.push(values.iter().map(|v| v.unwrap_or(0)).max().unwrap_or(0));
        }
        Ok(SegmentColumns {
            chat,
            created,
            block_max,
        })
    }
}

/// [`SegmentColumns`] of the searched segments, prepared when a reload brings a segment
/// in and dropped when it leaves the index.
#[derive(Default)]
pub(crate) struct SegmentCache(Mutex<HashMap<SegmentId, Arc<SegmentColumns>>>);

impl SegmentCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SegmentId, Arc<SegmentColumns>>> {
        // Only ever a cache: whatever a panicking thread left in it is still valid.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The columns of one segment, prepared now when missing.
    fn of(&self, reader: &SegmentReader) -> tantivy::Result<Arc<SegmentColumns>> {
        if let Some(c) = self.lock().get(&reader.segment_id()) {
            return Ok(c.clone());
        }
        let c = Arc::new(SegmentColumns::new(reader)?);
        self.lock().insert(reader.segment_id(), c.clone());
        Ok(c)
    }

    /// Prepares the searcher's new segments and forgets those it no longer has.
    pub(crate) fn refresh(&self, searcher: &Searcher) -> tantivy::Result<()> {
        let live: HashSet<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(SegmentReader::segment_id)
            .collect();
        self.lock().retain(|id, _| live.contains(id));
        for reader in searcher.segment_readers() {
            self.of(reader)?;
        }
        Ok(())
    }
}

/// Documents as bits (a regex part's matches in one segment).
struct Bits {
    words: Vec<u64>,
    count: u32,
}

impl Bits {
    /// The documents of a tantivy scorer.
    fn collect<D: DocSet + ?Sized>(docs: &mut D, max_doc: DocId) -> Bits {
        let mut words = vec![0u64; max_doc.div_ceil(64) as usize];
        let mut count = 0;
        let mut doc = docs.doc();
        while doc != TERMINATED {
            words[(doc / 64) as usize] |= 1 << (doc % 64);
            count += 1;
            doc = docs.advance();
        }
        Bits { words, count }
    }

    /// The first document at or after `target`, or [`TERMINATED`].
    fn next(&self, target: DocId) -> DocId {
        let mut i = (target / 64) as usize;
        let Some(&first) = self.words.get(i) else {
            return TERMINATED;
        };
        let mut word = first & (u64::MAX << (target % 64));
        loop {
            if word != 0 {
                return i as DocId * 64 + word.trailing_zeros();
            }
            i += 1;
            match self.words.get(i) {
                Some(&w) => word = w,
                None => return TERMINATED,
            }
        }
    }
}

/// Where a part's terms stand in one segment.
enum PartTerms {
    /// A term (one) or a phrase (several) of one field.
    Terms {
        field: Field,
        infos: Vec<TermInfo>,
    },
    Regex(Arc<Bits>),
}

/// One segment's side of a search: each part's terms (looked up once per search), or
/// `None` when some part matches nothing in it.
struct SegmentParts(Option<Vec<PartTerms>>);

impl SegmentParts {
    fn new(
        parts: &[Part],
        regex_weights: &[Option<Box<dyn Weight>>],
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentParts> {
        let mut out = Vec::with_capacity(parts.len());
        for (part, weight) in parts.iter().zip(regex_weights) {
            let terms: &[Term] = match part {
                Part::Term(t) => std::slice::from_ref(t),
                Part::Phrase(ts) => ts,
                Part::Regex(_) => {
                    let Some(weight) = weight else {
                        return Ok(SegmentParts(None));
                    };
                    let bits = Bits::collect(&mut weight.scorer(reader, 1.0)?, reader.max_doc());
                    if bits.count == 0 {
                        return Ok(SegmentParts(None));
                    }
                    out.push(PartTerms::Regex(Arc::new(bits)));
                    continue;
                }
            };
            let Some(field) = terms.first().map(Term::field) else {
                return Ok(SegmentParts(None));
            };
            let inverted = reader.inverted_index(field)?;
            let mut infos = Vec::with_capacity(terms.len());
            for t in terms {
                let Some(info) = inverted.get_term_info(t)? else {
                    return Ok(SegmentParts(None));
                };
                infos.push(info);
            }
            out.push(PartTerms::Terms { field, infos });
        }
        if out.is_empty() {
            return Ok(SegmentParts(None));
        }
        Ok(SegmentParts(Some(out)))
    }
}

/// A cursor over the documents of one term (or regex part).
enum Cursor {
    Postings(Box<SegmentPostings>),
    Bits { bits: Arc<Bits>, doc: DocId },
}

impl Cursor {
    /// Moves to the first document at or after `target` (never back).
    fn seek(&mut self, target: DocId) -> DocId {
        match self {
            Cursor::Postings(p) if p.doc() < target => p.seek(target),
            Cursor::Postings(p) => p.doc(),
            Cursor::Bits { bits, doc } => {
                if *doc < target {
                    *doc = bits.next(target);
                }
                *doc
            }
        }
    }

    fn len(&self) -> u32 {
        match self {
            Cursor::Postings(p) => p.doc_freq(),
            Cursor::Bits { bits, .. } => bits.count,
        }
    }
}

/// The documents of one segment that meet every part, from any document onwards: a
/// conjunction of cursors (the rarest leads), then each phrase's positions.
struct Matcher {
    cursors: Vec<Cursor>,
    /// Cursor indexes, rarest first.
    order: Vec<usize>,
    /// The cursors of each phrase, in phrase order.
    phrases: Vec<Range<usize>>,
    positions: Vec<Vec<u32>>,
}

impl Matcher {
    /// Fresh cursors: cheap (the terms are looked up already), and they start anywhere.
    fn new(terms: &[PartTerms], reader: &SegmentReader) -> tantivy::Result<Matcher> {
        let mut cursors = Vec::new();
        let mut phrases = Vec::new();
        for part in terms {
            match part {
                PartTerms::Regex(bits) => cursors.push(Cursor::Bits {
                    bits: bits.clone(),
                    doc: bits.next(0),
                }),
                PartTerms::Terms { field, infos } => {
                    let inverted = reader.inverted_index(*field)?;
                    let option = if infos.len() > 1 {
                        phrases.push(cursors.len()..cursors.len() + infos.len());
                        IndexRecordOption::WithFreqsAndPositions
                    } else {
                        IndexRecordOption::Basic
                    };
                    for info in infos {
                        cursors.push(Cursor::Postings(Box::new(
                            inverted.read_postings_from_terminfo(info, option)?,
                        )));
                    }
                }
            }
        }
        let mut order: Vec<usize> = (0..cursors.len()).collect();
        order.sort_by_key(|&i| cursors[i].len());
        let positions = vec![
            Vec::new();
            phrases
                .iter()
                .map(ExactSizeIterator::len)
                .max()
                .unwrap_or(0)
        ];
        Ok(Matcher {
            cursors,
            order,
            phrases,
            positions,
        })
    }

    /// The first matching document at or after `target` (or [`TERMINATED`]).
    fn seek(&mut self, target: DocId) -> DocId {
        let mut candidate = target;
        'candidates: loop {
            if candidate >= TERMINATED {
                return TERMINATED;
            }
            for &i in &self.order {
                let doc = self.cursors[i].seek(candidate);
                if doc != candidate {
                    if doc == TERMINATED {
                        return TERMINATED;
                    }
                    candidate = doc;
                    continue 'candidates;
                }
            }
            if self.phrases_match() {
                return candidate;
            }
            candidate += 1;
        }
    }

    /// Whether each phrase's terms are at consecutive positions in the current
    /// document (every cursor is on it).
    fn phrases_match(&mut self) -> bool {
        for phrase in &self.phrases {
            for (k, i) in phrase.clone().enumerate() {
                let Cursor::Postings(p) = &mut self.cursors[i] else {
                    return false;
                };
                p.positions(&mut self.positions[k]);
            }
            let [first, rest @ ..] = &self.positions[..phrase.len()] else {
                return false;
            };
            let found = first.iter().any(|&start| {
                rest.iter()
                    .enumerate()
                    .all(|(k, ps)| ps.binary_search(&(start + k as u32 + 1)).is_ok())
            });
            if !found {
                return false;
            }
        }
        true
    }
}

/// The `need` chats, none of them in `skip`, whose most recent line meeting every part
/// of `query` is the most recent; most recent first, each with that line. The same
/// answer as reading every line (ties included: of two lines of a chat at the same
/// time, the first in the index), read newest blocks first (see the module's doc).
pub(crate) fn latest_chats(
    searcher: &Searcher,
    segments: &SegmentCache,
    query: &[Part],
    need: usize,
    skip: &HashSet<i64>,
) -> Result<Vec<ChatLatest>, Error> {
    if need == 0 || query.is_empty() {
        return Ok(Vec::new());
    }
    let regex_weights: Vec<Option<Box<dyn Weight>>> = query
        .iter()
        .map(|p| match p {
            Part::Regex(q) => q
                .weight(EnableScoring::disabled_from_searcher(searcher))
                .map(Some),
            _ => Ok(None),
        })
        .collect::<tantivy::Result<_>>()?;
    let readers = searcher.segment_readers();
    let mut columns = Vec::with_capacity(readers.len());
    let mut parts = Vec::with_capacity(readers.len());
    // Every block of every segment that can match, the most recent first.
    let mut blocks: Vec<(i64, SegmentOrdinal, u32)> = Vec::new();
    for (ord, reader) in readers.iter().enumerate() {
        let c = segments.of(reader)?;
        let p = SegmentParts::new(query, &regex_weights, reader)?;
        if p.0.is_some() {
            blocks.extend(
                c.block_max
                    .iter()
                    .enumerate()
                    .map(|(b, &max)| (max, ord as SegmentOrdinal, b as u32)),
            );
        }
        columns.push(c);
        parts.push(p);
    }
    blocks.sort_unstable_by_key(|&(max, _, _)| std::cmp::Reverse(max));

    let mut best: HashMap<i64, ChatLatest> = HashMap::new();
    let mut read = 0;
    let mut round_blocks = FIRST_ROUND_BLOCKS;
    let mut round: Vec<(SegmentOrdinal, u32)> = Vec::new();
    while read < blocks.len() {
        let end = (read + round_blocks).min(blocks.len());
        round.clear();
        round.extend(blocks[read..end].iter().map(|&(_, s, b)| (s, b)));
        round.sort_unstable();
        read = end;
        round_blocks *= 2;
        // Per segment, its blocks of this round in document order, with one matcher.
        for segment_blocks in round.chunk_by(|a, b| a.0 == b.0) {
            let segment = segment_blocks[0].0;
            let reader = &readers[segment as usize];
            let Some(terms) = &parts[segment as usize].0 else {
                continue;
            };
            let mut matcher = Matcher::new(terms, reader)?;
            let SegmentColumns { chat, created, .. } = &*columns[segment as usize];
            let alive = reader.alive_bitset();
            let mut last_chat = None;
            for run in segment_blocks.chunk_by(|a, b| a.1 + 1 == b.1) {
                let from = run[0].1 * BLOCK_DOCS;
                let to = ((run[run.len() - 1].1 + 1) * BLOCK_DOCS).min(reader.max_doc());
                let mut doc = matcher.seek(from);
                while doc < to {
                    if alive.is_none_or(|a| a.is_alive(doc))
                        && let Some(chat) = chat.first(doc)
                    {
                        // Lines of one chat are mostly adjacent: a chat just looked up
                        // in `skip` is not looked up again.
                        let skipped = match last_chat {
                            Some((c, s)) if c == chat => s,
                            _ => {
                                let s = skip.contains(&chat);
                                last_chat = Some((chat, s));
                                s
                            }
                        };
                        if !skipped {
                            let line = ChatLatest {
                                chat,
                                created_ms: created.first(doc).unwrap_or(0),
                                doc: DocAddress::new(segment, doc),
                            };
                            match best.entry(chat) {
                                Entry::Occupied(mut o) => {
                                    if line.beats(o.get()) {
                                        o.insert(line);
                                    }
                                }
                                Entry::Vacant(v) => {
                                    v.insert(line);
                                }
                            }
                        }
                    }
                    doc = matcher.seek(doc + 1);
                }
            }
        }
        // Done when the `need`-th chat is more recent than any line left to read (a
        // line as recent could be of a chat ranked before it).
        if let Some(&(next_max, _, _)) = blocks.get(read)
            && best.len() >= need
        {
            let mut chats: Vec<&ChatLatest> = best.values().collect();
            chats.select_nth_unstable_by(need - 1, |a, b| a.rank(b));
            if next_max < chats[need - 1].created_ms {
                break;
            }
        }
    }
    let mut chats: Vec<ChatLatest> = best.into_values().collect();
    chats.sort_unstable_by(|a, b| a.rank(b));
    chats.truncate(need);
    Ok(chats)
}

#[cfg(test)]
mod tests {
    //! Reading the newest blocks first and stopping early answers exactly what a scan of
    //! every line answers: checked against a brute-force answer over thousands of lines
    //! (blocks of 32 documents in tests, so a search takes many rounds) in several
    //! segments, with times out of document order, replaced and deleted lines, and
    //! terms, phrases, single characters and several words in the queries.

    use std::collections::HashMap;

    use crate::{Config, Document, Index, Kind};

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const WORDS: &[&str] = &["alpha", "beta", "gamma", "delta", "omega", "kappa", "sigma"];
    const KANA: &[char] = &['あ', 'い', 'う', 'え', 'お'];

    fn text(rng: &mut Rng, i: u64) -> String {
        if i.is_multiple_of(2) {
            (0..3 + rng.below(4))
                .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            (0..3 + rng.below(8))
                .map(|_| KANA[rng.below(KANA.len() as u64) as usize])
                .collect()
        }
    }

    /// Lines whose times mostly follow the order they are added in, each a little early
    /// or late, and a few far out of order (a line edited or indexed late).
    fn lines(rng: &mut Rng, n: u64) -> Vec<Document> {
        (0..n)
            .map(|i| {
                let time = if rng.below(50) == 0 {
                    rng.below(n) * 1_000
                } else {
                    (i * 1_000 + rng.below(60_000)).saturating_sub(30_000)
                };
                Document::message(
                    1,
                    rng.below(150) as i64,
                    i as i64,
                    Kind::Message,
                    None,
                    // Unique times: `i` in the last digits.
                    1_700_000_000_000 + (time * 10_000 + i) as i64,
                    text(rng, i),
                )
            })
            .collect()
    }

    /// The answer of a scan of every line: the chats with a matching line, by their
    /// most recent one, most recent first; with that line's key.
    fn brute_force(
        docs: &HashMap<String, Document>,
        matches: impl Fn(&str) -> bool,
        limit: usize,
    ) -> Vec<(i64, String)> {
        let mut latest: HashMap<i64, &Document> = HashMap::new();
        for d in docs.values().filter(|d| matches(&d.text)) {
            let l = latest.entry(d.chat_id).or_insert(d);
            if d.created_ms > l.created_ms {
                *l = d;
            }
        }
        let mut chats: Vec<&Document> = latest.into_values().collect();
        chats.sort_by(|a, b| {
            b.created_ms
                .cmp(&a.created_ms)
                .then(b.chat_id.cmp(&a.chat_id))
        });
        chats
            .into_iter()
            .take(limit)
            .map(|d| (d.chat_id, d.key.clone()))
            .collect()
    }

    /// Indexes `n` lines in commits of 1 300 (several segments of many blocks), then
    /// replaces and deletes some; returns the lines the index holds.
    fn fill(index: &Index, rng: &mut Rng, n: u64) -> HashMap<String, Document> {
        let mut docs = HashMap::new();
        for batch in lines(rng, n).chunks(1_300) {
            for d in batch {
                index.add(d).unwrap();
                docs.insert(d.key.clone(), d.clone());
            }
            index.commit().unwrap();
        }
        let keys: Vec<String> = {
            let mut k: Vec<String> = docs.keys().cloned().collect();
            k.sort();
            k
        };
        for (i, key) in keys.iter().enumerate() {
            match rng.below(20) {
                0 => {
                    index.delete(key).unwrap();
                    docs.remove(key);
                }
                1 => {
                    let mut d = docs[key].clone();
                    d.text = text(rng, i as u64);
                    d.created_ms += 50_000 * 10_000;
                    index.add(&d).unwrap();
                    docs.insert(key.clone(), d);
                }
                _ => {}
            }
        }
        index.commit().unwrap();
        docs
    }

    fn check(index: &Index, docs: &HashMap<String, Document>, query: &str, limit: usize) {
        let words: Vec<&str> = query.split_whitespace().collect();
        let latin = words[0].is_ascii();
        let expected = brute_force(
            docs,
            |text| {
                if latin {
                    let line: Vec<&str> = text.split(' ').collect();
                    words.iter().all(|w| line.contains(w))
                } else {
                    words.iter().all(|w| text.contains(w))
                }
            },
            limit,
        );
        let hits = index.search(1, query, limit).unwrap();
        let got: Vec<(i64, String)> = hits.iter().map(|h| (h.chat_id, h.key.clone())).collect();
        assert_eq!(got, expected, "query {query:?}, limit {limit}");
        for h in &hits {
            assert!(!h.highlights.is_empty(), "{query:?}: {h:?}");
        }
    }

    #[test]
    fn the_index_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Index>();
    }

    #[test]
    fn newest_blocks_first_answers_as_a_full_scan() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open_with(
            dir.path(),
            Config {
                ipadic_source: None,
                ..Config::default()
            },
        )
        .unwrap();
        assert!(!index.has_dictionary());
        let docs = fill(&index, &mut Rng(0x5EED_0002), 6_000);
        for query in [
            "あ",
            "あい",
            "あいう",
            "うえおあい",
            "ああああ",
            "あい お",
            "えお gamma",
            "omega",
            "alpha beta",
        ] {
            for limit in [1, 3, 10, 40, 200] {
                check(&index, &docs, query, limit);
            }
        }
    }
}

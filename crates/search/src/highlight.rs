//! Where a query matched inside a line, and a short snippet around it.
//!
//! Highlights are byte ranges into the stored line. A [`Span`] list is what a console
//! renders: plain text and marked text, so no HTML is ever built from a line's text.

use std::ops::Range;

use serde::Serialize;
use tantivy::tokenizer::Token;

use crate::analysis::{bigram_tokens, is_cjk, normalize, word_tokens};
use crate::dictionary::JapaneseSegmenter;

/// One word of a query, analysed both ways.
#[derive(Debug, Clone)]
pub(crate) struct QueryWord {
    /// Its bigram-field terms, in order.
    pub(crate) bigrams: Vec<String>,
    /// Its word-field terms, in order.
    pub(crate) words: Vec<String>,
    /// A lone CJK character: found inside bigrams, not as a term.
    pub(crate) single_cjk: Option<char>,
}

impl QueryWord {
    pub(crate) fn parse(segmenter: Option<&JapaneseSegmenter>, word: &str) -> Option<QueryWord> {
        let bigrams: Vec<String> = bigram_tokens(word).into_iter().map(|t| t.text).collect();
        let words: Vec<String> = word_tokens(segmenter, word)
            .into_iter()
            .map(|t| t.text)
            .collect();
        if bigrams.is_empty() && words.is_empty() {
            return None;
        }
        let single_cjk = match bigrams.as_slice() {
            [one] => {
                let mut chars = one.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if is_cjk(c) => Some(c),
                    _ => None,
                }
            }
            _ => None,
        };
        Some(QueryWord {
            bigrams,
            words,
            single_cjk,
        })
    }
}

/// A piece of a snippet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// The text, verbatim from the line (render it as text, never as HTML).
    pub text: String,
    /// Whether it is a match.
    pub mark: bool,
}

/// The byte ranges of `text` the query words match, sorted, merged.
pub(crate) fn find(
    segmenter: Option<&JapaneseSegmenter>,
    text: &str,
    query: &[QueryWord],
) -> Vec<Range<usize>> {
    let bigrams = bigram_tokens(text);
    let mut words: Option<Vec<Token>> = None;
    let mut ranges = Vec::new();
    for q in query {
        let before = ranges.len();
        if let Some(c) = q.single_cjk {
            ranges.extend(
                normalize(text)
                    .into_iter()
                    .filter(|n| n.c == c)
                    .map(|n| n.from..n.to),
            );
        } else {
            sequence(&bigrams, &q.bigrams, &mut ranges);
        }
        if ranges.len() == before && !q.words.is_empty() {
            let words = words.get_or_insert_with(|| word_tokens(segmenter, text));
            sequence(words, &q.words, &mut ranges);
        }
    }
    merge(ranges)
}

/// Every run of consecutive `tokens` whose texts are `terms`.
fn sequence(tokens: &[Token], terms: &[String], out: &mut Vec<Range<usize>>) {
    if terms.is_empty() || tokens.len() < terms.len() {
        return;
    }
    for w in tokens.windows(terms.len()) {
        if w.iter().zip(terms).all(|(t, q)| &t.text == q) {
            out.push(w[0].offset_from..w[w.len() - 1].offset_to);
        }
    }
}

fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// At most `max_chars` characters of `text` around its first highlight, as spans; an
/// ellipsis marks a cut. `highlights` are byte ranges on character boundaries.
pub fn snippet(text: &str, highlights: &[Range<usize>], max_chars: usize) -> Vec<Span> {
    let max_chars = max_chars.max(1);
    let total = text.chars().count();
    let (start, end) = if total <= max_chars {
        (0, text.len())
    } else {
        let first = highlights.first().map_or(0, |r| r.start);
        // Keep about a quarter of the window before the first match.
        let lead = max_chars / 4;
        let chars_before = text[..first.min(text.len())].chars().count();
        let start_char = chars_before.saturating_sub(lead).min(total - max_chars);
        let start = byte_of_char(text, start_char);
        let end = byte_of_char(text, start_char + max_chars);
        (start, end)
    };
    let mut spans = Vec::new();
    if start > 0 {
        spans.push(Span {
            text: "…".into(),
            mark: false,
        });
    }
    let mut at = start;
    for r in highlights {
        let (s, e) = (r.start.max(start), r.end.min(end));
        if s >= e || !text.is_char_boundary(s) || !text.is_char_boundary(e) {
            continue;
        }
        if s > at {
            spans.push(Span {
                text: text[at..s].into(),
                mark: false,
            });
        }
        spans.push(Span {
            text: text[s..e].into(),
            mark: true,
        });
        at = e;
    }
    if at < end {
        spans.push(Span {
            text: text[at..end].into(),
            mark: false,
        });
    }
    if end < text.len() {
        spans.push(Span {
            text: "…".into(),
            mark: false,
        });
    }
    spans
}

fn byte_of_char(text: &str, n: usize) -> usize {
    text.char_indices().nth(n).map_or(text.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(word: &str) -> QueryWord {
        QueryWord::parse(None, word).expect("a searchable word")
    }

    #[test]
    fn finds_a_cjk_substring_by_its_bigrams() {
        let text = "請求書の再発行をお願いします";
        let r = find(None, text, &[q("請求書")]);
        assert_eq!(r, vec![0.."請求書".len()]);
        assert_eq!(&text[r[0].clone()], "請求書");
    }

    #[test]
    fn latin_words_match_whole_words_any_case() {
        let text = "I would like a REFUND; refunds are not a Refund.";
        let r = find(None, text, &[q("refund")]);
        let found: Vec<&str> = r.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(found, ["REFUND", "Refund"]);
    }

    #[test]
    fn a_single_kanji_is_found_inside_words() {
        let text = "請求書と書類";
        let r = find(None, text, &[q("書")]);
        let found: Vec<&str> = r.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(found, ["書", "書"]);
    }

    #[test]
    fn overlapping_matches_merge() {
        assert_eq!(merge(vec![5..9, 0..3, 2..4, 9..10]), vec![0..4, 5..10]);
    }

    #[test]
    fn snippet_marks_matches_and_keeps_the_rest_as_text() {
        let text = "a <b>refund</b> please";
        let spans = snippet(text, &find(None, text, &[q("refund")]), 100);
        assert_eq!(
            spans,
            vec![
                Span {
                    text: "a <b>".into(),
                    mark: false
                },
                Span {
                    text: "refund".into(),
                    mark: true
                },
                Span {
                    text: "</b> please".into(),
                    mark: false
                },
            ]
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_first_match() {
        let text = format!("{}請求書{}", "あ".repeat(100), "い".repeat(100));
        let spans = snippet(&text, &find(None, &text, &[q("請求書")]), 40);
        assert_eq!(spans.first().map(|s| s.text.as_str()), Some("…"));
        assert_eq!(spans.last().map(|s| s.text.as_str()), Some("…"));
        let marked: Vec<&Span> = spans.iter().filter(|s| s.mark).collect();
        assert_eq!(marked.len(), 1);
        assert_eq!(marked[0].text, "請求書");
        let shown: usize = spans.iter().map(|s| s.text.chars().count()).sum();
        assert_eq!(shown, 40 + 2);
    }
}

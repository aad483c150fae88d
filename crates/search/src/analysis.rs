//! Text analysis: how a line becomes index terms.
//!
//! Two analyzers index every line, into two fields:
//!
//! - **words** ([`JapaneseTokenizer`]): lindera's morphological analysis with IPADIC.
//!   Japanese is cut into words; Latin text into words at spaces and punctuation.
//! - **bigrams** ([`BigramTokenizer`]): runs of Han, Hiragana and Katakana become
//!   overlapping character pairs (a single character stays a unigram); every other run
//!   of letters or digits is one word. A phrase of bigrams is a substring match, so this
//!   field finds a word the dictionary cut differently, and it is the whole search when
//!   the dictionary is unavailable.
//!
//! Both normalise each term the same way: NFKC (full-width Latin and digits become
//! ASCII, half-width Katakana full-width) and lowercase. Offsets always point into the
//! original text, so highlights are exact.

use std::borrow::Cow;

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use unicode_normalization::UnicodeNormalization;

use crate::dictionary::JapaneseSegmenter;

/// Whether `c` belongs to a script written without spaces (bigrammed).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x309F   // Hiragana (with the combining voiced marks)
        | 0x30A0..=0x30FF // Katakana, ー
        | 0x31F0..=0x31FF // Katakana phonetic extensions
        | 0x3005..=0x3007 // 々 〆 〇
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xF900..=0xFAFF // compatibility ideographs
        | 0xFF66..=0xFF9F // half-width Katakana
        | 0x20000..=0x3FFFF)
}

/// One character of a line after normalisation, with the byte range of the original
/// character it came from (NFKC can turn one character into several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NormChar {
    pub(crate) c: char,
    pub(crate) from: usize,
    pub(crate) to: usize,
}

/// The normalised characters of `text`.
pub(crate) fn normalize(text: &str) -> Vec<NormChar> {
    let mut out = Vec::with_capacity(text.len());
    for (from, orig) in text.char_indices() {
        let to = from + orig.len_utf8();
        if orig.is_ascii() {
            out.push(NormChar {
                c: orig.to_ascii_lowercase(),
                from,
                to,
            });
            continue;
        }
        for n in std::iter::once(orig).nfkc() {
            for c in n.to_lowercase() {
                out.push(NormChar { c, from, to });
            }
        }
    }
    out
}

/// A term's normalised form (NFKC, lowercase).
pub fn normalize_term(term: &str) -> String {
    normalize(term).into_iter().map(|n| n.c).collect()
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_cjk(c)
}

/// Character bigrams for CJK runs, whole words for everything else.
#[derive(Debug, Clone, Default)]
pub struct BigramTokenizer;

/// The tokens of a [`BigramTokenizer`] or [`JapaneseTokenizer`], computed up front.
#[derive(Debug)]
pub struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl VecTokenStream {
    fn new(tokens: Vec<Token>) -> VecTokenStream {
        VecTokenStream { tokens, next: 0 }
    }
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// Bigram tokens of `text`, positions counted from 0.
pub(crate) fn bigram_tokens(text: &str) -> Vec<Token> {
    let chars = normalize(text);
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].c;
        if is_cjk(c) {
            let start = i;
            while i < chars.len() && is_cjk(chars[i].c) {
                i += 1;
            }
            let run = &chars[start..i];
            if run.len() == 1 {
                push(&mut tokens, run);
            } else {
                for pair in run.windows(2) {
                    push(&mut tokens, pair);
                }
            }
        } else if is_word_char(c) {
            let start = i;
            while i < chars.len() && is_word_char(chars[i].c) {
                i += 1;
            }
            push(&mut tokens, &chars[start..i]);
        } else {
            i += 1;
        }
    }
    tokens
}

fn push(tokens: &mut Vec<Token>, chars: &[NormChar]) {
    let (Some(first), Some(last)) = (chars.first(), chars.last()) else {
        return;
    };
    tokens.push(Token {
        offset_from: first.from,
        offset_to: last.to,
        position: tokens.len(),
        text: chars.iter().map(|n| n.c).collect(),
        position_length: 1,
    });
}

impl Tokenizer for BigramTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream::new(bigram_tokens(text))
    }
}

/// lindera's morphological analysis as a tantivy tokenizer; without a dictionary it
/// produces no tokens (the bigram field then carries the search).
#[derive(Clone)]
pub struct JapaneseTokenizer {
    segmenter: Option<JapaneseSegmenter>,
}

impl std::fmt::Debug for JapaneseTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JapaneseTokenizer")
            .field("dictionary", &self.segmenter.is_some())
            .finish()
    }
}

impl JapaneseTokenizer {
    /// A tokenizer over a loaded dictionary, or an empty one without.
    pub fn new(segmenter: Option<JapaneseSegmenter>) -> JapaneseTokenizer {
        JapaneseTokenizer { segmenter }
    }

    /// Whether a dictionary is loaded.
    pub fn has_dictionary(&self) -> bool {
        self.segmenter.is_some()
    }
}

/// Word tokens of `text` (none without a dictionary).
pub(crate) fn word_tokens(segmenter: Option<&JapaneseSegmenter>, text: &str) -> Vec<Token> {
    let Some(segmenter) = segmenter else {
        return Vec::new();
    };
    let segments = match segmenter.segment(Cow::Borrowed(text)) {
        Ok(s) => s,
        Err(e) => {
            // Segmentation fails only on a damaged dictionary; the bigram field still
            // indexes the line.
            tracing::warn!(error = %e, "Japanese segmentation failed; indexing bigrams only");
            return Vec::new();
        }
    };
    let mut tokens = Vec::with_capacity(segments.len());
    for s in segments {
        let term = normalize_term(&s.surface);
        // Punctuation and symbols are not searchable words.
        if !term.chars().any(char::is_alphanumeric) {
            continue;
        }
        tokens.push(Token {
            offset_from: s.byte_start,
            offset_to: s.byte_end,
            position: tokens.len(),
            text: term,
            position_length: 1,
        });
    }
    tokens
}

impl Tokenizer for JapaneseTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream::new(word_tokens(self.segmenter.as_ref(), text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(tokens: &[Token]) -> Vec<&str> {
        tokens.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn bigrams_cjk_runs_and_keeps_latin_words_whole() {
        let t = bigram_tokens("請求書の再発行 Order 427");
        assert_eq!(
            texts(&t),
            [
                "請求", "求書", "書の", "の再", "再発", "発行", "order", "427"
            ]
        );
        assert_eq!(
            t.iter().map(|t| t.position).collect::<Vec<_>>(),
            (0..8).collect::<Vec<_>>()
        );
        // Offsets are bytes of the original text.
        assert_eq!(
            &"請求書の再発行 Order 427"[t[6].offset_from..t[6].offset_to],
            "Order"
        );
    }

    #[test]
    fn single_cjk_character_is_a_unigram() {
        assert_eq!(texts(&bigram_tokens("本 book")), ["本", "book"]);
    }

    #[test]
    fn full_width_latin_and_half_width_katakana_are_normalised() {
        let t = bigram_tokens("ＲＥＦＵＮＤ ｶﾀｶﾅ");
        assert_eq!(texts(&t), ["refund", "カタ", "タカ", "カナ"]);
        assert_eq!(t[0].offset_from, 0);
        assert_eq!(t[0].offset_to, "ＲＥＦＵＮＤ".len());
    }

    #[test]
    fn punctuation_separates_and_is_dropped() {
        assert_eq!(
            texts(&bigram_tokens("refund, please!")),
            ["refund", "please"]
        );
        assert!(bigram_tokens("、。!? ").is_empty());
    }
}

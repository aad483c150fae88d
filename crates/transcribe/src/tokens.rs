//! The model's vocabulary (`vocabulary.txt` in a faster-whisper model folder: one
//! byte-level BPE token per line, line number = token id) and turning token ids back into
//! text.

use std::collections::HashMap;
use std::path::Path;

use crate::Error;

/// Token ids the decoder loop needs, looked up by name in the vocabulary.
#[derive(Debug)]
pub(crate) struct Vocabulary {
    tokens: Vec<String>,
    ids: HashMap<String, usize>,
    /// `<|endoftext|>`: every id from here up is a special token.
    pub(crate) eot: usize,
    /// `<|0.00|>`: every id from here up is a timestamp, 20 ms apart.
    pub(crate) timestamp_begin: usize,
    byte_of: HashMap<char, u8>,
}

impl Vocabulary {
    pub(crate) fn load(model_dir: &Path) -> Result<Self, Error> {
        let path = model_dir.join("vocabulary.txt");
        let text = std::fs::read_to_string(&path).map_err(Error::file(&path))?;
        let tokens: Vec<String> = text.lines().map(str::to_owned).collect();
        let ids: HashMap<String, usize> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        let find = |name: &str| {
            ids.get(name)
                .copied()
                .ok_or_else(|| Error::Model(format!("{} has no token {name}", path.display())))
        };
        Ok(Self {
            eot: find("<|endoftext|>")?,
            timestamp_begin: find("<|0.00|>")?,
            tokens,
            ids,
            byte_of: bytes_to_unicode()
                .into_iter()
                .enumerate()
                .map(|(b, c)| (c, b as u8))
                .collect(),
        })
    }

    pub(crate) fn contains(&self, token: &str) -> bool {
        self.ids.contains_key(token)
    }

    /// The text of `ids`, skipping special and timestamp tokens.
    pub(crate) fn decode(&self, ids: &[usize]) -> String {
        let mut bytes = Vec::new();
        for &id in ids.iter().filter(|&&id| id < self.eot) {
            if let Some(token) = self.tokens.get(id) {
                bytes.extend(token.chars().filter_map(|c| self.byte_of.get(&c)));
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// GPT-2's byte ↔ printable character table: byte `b` is written as character
/// `bytes_to_unicode()[b]` in the vocabulary.
fn bytes_to_unicode() -> Vec<char> {
    let printable = |b: u32| {
        (u32::from(b'!')..=u32::from(b'~')).contains(&b)
            || (0xA1..=0xAC).contains(&b)
            || (0xAE..=0xFF).contains(&b)
    };
    let mut next = 256;
    (0u32..256)
        .map(|b| {
            let code = if printable(b) {
                b
            } else {
                next += 1;
                next - 1
            };
            char::from_u32(code).unwrap_or('?')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_gpt2s() {
        let t = bytes_to_unicode();
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'a' as usize], 'a');
        let unique: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(unique.len(), 256);
    }

    #[test]
    fn decodes_words_and_multibyte_text() {
        let t = bytes_to_unicode();
        let enc = |s: &str| s.bytes().map(|b| t[b as usize]).collect::<String>();
        let dir = tempfile::tempdir().expect("temp dir");
        // ids: 0 " refund", 1 "請求", 2 "<|endoftext|>", 3 "<|0.00|>"
        let vocab = format!(
            "{}\n{}\n<|endoftext|>\n<|0.00|>\n",
            enc(" refund"),
            enc("請求")
        );
        std::fs::write(dir.path().join("vocabulary.txt"), vocab).expect("write");
        let v = Vocabulary::load(dir.path()).expect("load");
        assert_eq!((v.eot, v.timestamp_begin), (2, 3));
        assert_eq!(v.decode(&[3, 0, 1, 2, 3]), " refund請求");
    }
}

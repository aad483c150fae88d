//! Contacts a staff member brings from their own device (SPEC OUT-6): reading a contact
//! file — vCard 3.0/4.0 (RFC 2426, RFC 6350; 2.1 is read too) or CSV with a header row
//! (RFC 4180) — and planning its import into a channel's contact list.
//!
//! Reading ([`read_contact_file`]) turns bytes into [`ContactCard`]s: a name and the
//! numbers as written. Planning ([`plan_import`]) reads every number with the channel's
//! region and decides, per contact, what importing it does: **join** the existing customer
//! that owns one of its numbers (a known number adds nothing new; a new number of that
//! contact is added to that customer, and an empty name is filled), **create** a new lead,
//! or **skip** it with the reason. The store computes the plan and, to apply it, carries
//! out exactly that plan in one transaction.
//!
//! Both steps are pure and never panic on any input.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::CustomerId;
use crate::phone::{E164, Region};

/// Most contacts one file may hold.
pub const MAX_CONTACTS: usize = 5000;
/// Longest name kept (characters); longer names are cut to it, as the store's limit.
pub const MAX_NAME_CHARS: usize = 200;
/// Most phone numbers one customer may have (the store's limit).
pub const MAX_PHONES: usize = 20;

/// What a contact file could not be read for. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContactFileError {
    /// Not text in an encoding contact exports use.
    #[error("the file is not text (expected UTF-8, UTF-16 or Shift_JIS)")]
    NotText,
    /// Declared a vCard but is not one.
    #[error("the file was sent as a vCard but does not start with BEGIN:VCARD")]
    NotVcard,
    /// A card that never ends: the file is cut off or broken.
    #[error("card {index} has no END:VCARD (is the file cut off?)")]
    UnterminatedCard {
        /// Its number in the file, from 1.
        index: u32,
    },
    /// A CSV file whose header row names no phone column.
    #[error(
        "no phone number column: the first row must name the columns, with one of {} (the header row is: {})",
        PHONE_HEADER_EXAMPLES,
        .headers.join(", ")
    )]
    NoPhoneColumn {
        /// The headers found.
        headers: Vec<String>,
    },
    /// A CSV file the CSV reader refused.
    #[error("the CSV could not be read at line {line}: {reason}")]
    Csv {
        /// Where.
        line: u64,
        /// Why.
        reason: String,
    },
    /// Nothing to import.
    #[error("the file has no contacts")]
    NoContacts,
    /// More than [`MAX_CONTACTS`].
    #[error("the file has more than {MAX_CONTACTS} contacts; split it into smaller files")]
    TooManyContacts,
}

const PHONE_HEADER_EXAMPLES: &str =
    "phone, tel, mobile, number, 電話番号, 電話, 携帯 (e.g. \"name,phone\" or \"名前,電話番号\")";

/// A contact file's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContactFormat {
    /// vCard (`.vcf`).
    Vcard,
    /// Comma- (or tab-, semicolon-) separated values with a header row.
    Csv,
}

/// What a CSV column was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnRole {
    /// The whole name.
    Name,
    /// Given (first) name, joined with the family name when there is no whole name.
    GivenName,
    /// Middle name.
    MiddleName,
    /// Family (last) name.
    FamilyName,
    /// Company: the name when the row has no person's name.
    Company,
    /// Phone numbers (several in one cell are split on `,` `;` `/` `:::` or line breaks).
    Phone,
}

/// A CSV column that was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ColumnUse {
    /// Its header, as in the file.
    pub header: String,
    /// Its place, from 1.
    pub column: u32,
    /// What it was read as.
    pub role: ColumnRole,
}

/// A number as a contact file has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardNumber {
    /// As written.
    pub value: String,
    /// `Some(true)` when the file marks it as a mobile number (vCard `TYPE=CELL`, a
    /// "mobile" column); otherwise the numbering plan decides.
    pub mobile: Option<bool>,
}

/// One contact of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactCard {
    /// Where it is: the card's number (vCard, from 1) or the line it starts on (CSV; the
    /// header is line 1).
    pub index: u32,
    /// The name (whitespace collapsed; may be empty).
    pub name: String,
    /// Its numbers, in file order.
    pub numbers: Vec<CardNumber>,
}

/// A contact file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactFile {
    /// vCard or CSV.
    pub format: ContactFormat,
    /// The text encoding it was read in: `utf-8`, `utf-16` or `shift_jis`.
    pub encoding: &'static str,
    /// CSV: the columns used.
    pub columns: Vec<ColumnUse>,
    /// CSV: the headers of the columns not used.
    pub ignored_columns: Vec<String>,
    /// The contacts, in file order.
    pub cards: Vec<ContactCard>,
}

/// Reads a contact file. `content_type` is the upload's media type; the content decides
/// when the type says nothing useful (a vCard starts with `BEGIN:VCARD`, anything else is
/// read as CSV).
pub fn read_contact_file(
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<ContactFile, ContactFileError> {
    let (text, encoding) = decode_text(bytes)?;
    // The first line may itself be folded (RFC 6350 §3.2).
    let head: String = text.trim_start().chars().take(200).collect();
    let head = head
        .replace("\r\n ", "")
        .replace("\r\n\t", "")
        .replace("\n ", "")
        .replace("\n\t", "");
    let looks_vcard = starts_with_ignore_case(&head, "BEGIN:VCARD");
    let essence = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let declared_vcard = matches!(
        essence.as_str(),
        "text/vcard" | "text/x-vcard" | "text/directory" | "text/x-vcalendar"
    );
    let format = if looks_vcard {
        ContactFormat::Vcard
    } else if declared_vcard {
        return Err(ContactFileError::NotVcard);
    } else {
        ContactFormat::Csv
    };
    let mut file = match format {
        ContactFormat::Vcard => ContactFile {
            format,
            encoding,
            columns: Vec::new(),
            ignored_columns: Vec::new(),
            cards: read_vcards(&text)?,
        },
        ContactFormat::Csv => {
            let (columns, ignored_columns, cards) = read_csv(&text)?;
            ContactFile {
                format,
                encoding,
                columns,
                ignored_columns,
                cards,
            }
        }
    };
    if file.cards.is_empty() {
        return Err(ContactFileError::NoContacts);
    }
    if file.cards.len() > MAX_CONTACTS {
        return Err(ContactFileError::TooManyContacts);
    }
    file.cards.shrink_to_fit();
    Ok(file)
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// UTF-8 (with or without BOM), UTF-16 with a BOM, or Shift_JIS (Japanese Excel and
/// feature-phone exports); text with NUL characters is refused as binary.
fn decode_text(bytes: &[u8]) -> Result<(String, &'static str), ContactFileError> {
    let (text, encoding) = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        (
            String::from_utf8(rest.to_vec()).map_err(|_| ContactFileError::NotText)?,
            "utf-8",
        )
    } else if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        let (text, _, malformed) = encoding_rs::UTF_16LE.decode(bytes);
        if malformed {
            return Err(ContactFileError::NotText);
        }
        (text.into_owned(), "utf-16")
    } else if let Ok(s) = std::str::from_utf8(bytes) {
        (s.to_owned(), "utf-8")
    } else {
        let text = encoding_rs::SHIFT_JIS
            .decode_without_bom_handling_and_without_replacement(bytes)
            .ok_or(ContactFileError::NotText)?;
        (text.into_owned(), "shift_jis")
    };
    if text.contains('\0') {
        return Err(ContactFileError::NotText);
    }
    Ok((text, encoding))
}

/// Collapses whitespace and control characters to single spaces and cuts the name to
/// [`MAX_NAME_CHARS`].
fn clean_name(s: &str) -> String {
    let joined = s
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match joined.char_indices().nth(MAX_NAME_CHARS) {
        Some((cut, _)) => joined[..cut].trim_end().to_owned(),
        None => joined,
    }
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| {
        matches!(c as u32,
            0x3040..=0x30FF   // kana
            | 0x3400..=0x4DBF // CJK extension A
            | 0x4E00..=0x9FFF // CJK unified
            | 0xAC00..=0xD7AF // Hangul
            | 0xF900..=0xFAFF)
    })
}

/// A person's name from its parts: family name first when it is written in CJK
/// (山田 太郎), given name first otherwise (Emily Clark).
fn join_name(given: &str, middle: &str, family: &str) -> String {
    let parts: Vec<&str> = if has_cjk(family) || has_cjk(given) {
        vec![family, given, middle]
    } else {
        vec![given, middle, family]
    };
    clean_name(&parts.join(" "))
}

// ---- vCard

/// One content line: `[group.]NAME;PARAMS:VALUE` (RFC 6350 §3.3).
struct ContentLine<'a> {
    name: String,
    params: Vec<(String, String)>,
    value: &'a str,
}

/// Joins folded lines (RFC 6350 §3.2: a line starting with a space or tab continues the
/// previous one) and quoted-printable soft line breaks (vCard 2.1: `=` at the end).
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut qp_open = false;
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let folded = raw.starts_with(' ') || raw.starts_with('\t');
        match lines.last_mut() {
            Some(last) if qp_open => {
                last.pop(); // the soft break's '='
                last.push_str(raw.trim_start_matches([' ', '\t']));
            }
            Some(last) if folded => last.push_str(&raw[1..]),
            _ => lines.push(raw.to_owned()),
        }
        let last = lines.last().map(String::as_str).unwrap_or("");
        qp_open = last.ends_with('=') && is_quoted_printable(last);
    }
    lines
}

fn is_quoted_printable(line: &str) -> bool {
    let head = match split_at_colon(line) {
        Some((head, _)) => head,
        None => return false,
    };
    head.to_ascii_uppercase().contains("QUOTED-PRINTABLE")
}

/// Splits at the first `:` outside double quotes.
fn split_at_colon(line: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some((&line[..i], &line[i + 1..])),
            _ => {}
        }
    }
    None
}

/// Splits at `sep` outside double quotes.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

fn content_line(line: &str) -> Option<ContentLine<'_>> {
    let (head, value) = split_at_colon(line)?;
    let mut parts = split_outside_quotes(head, ';').into_iter();
    let name = parts.next()?.trim();
    let name = name.rsplit('.').next().unwrap_or(name).to_ascii_uppercase();
    let params = parts
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_uppercase(), v.trim().to_owned()),
            // vCard 2.1 writes bare types: TEL;CELL:…
            None => ("TYPE".to_owned(), p.trim().to_owned()),
        })
        .collect();
    Some(ContentLine {
        name,
        params,
        value,
    })
}

impl ContentLine<'_> {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every `TYPE` value, lower case (`TYPE=CELL`, `TYPE="voice,cell"`, 2.1's `;CELL`).
    fn types(&self) -> Vec<String> {
        self.params
            .iter()
            .filter(|(k, _)| k == "TYPE")
            .flat_map(|(_, v)| v.trim_matches('"').split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect()
    }

    /// The value as text: quoted-printable decoded (in its `CHARSET`) when so encoded.
    fn text(&self) -> String {
        let qp = self
            .param("ENCODING")
            .is_some_and(|e| e.eq_ignore_ascii_case("QUOTED-PRINTABLE"))
            || self
                .types()
                .iter()
                .any(|t| t.eq_ignore_ascii_case("quoted-printable"));
        if !qp {
            return self.value.to_owned();
        }
        let bytes = decode_quoted_printable(self.value);
        let charset = self
            .param("CHARSET")
            .and_then(|c| encoding_rs::Encoding::for_label(c.trim_matches('"').as_bytes()))
            .unwrap_or(encoding_rs::UTF_8);
        charset.decode_without_bom_handling(&bytes).0.into_owned()
    }
}

/// Quoted-printable (RFC 2045 §6.7); a malformed `=` sequence is kept as written.
fn decode_quoted_printable(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            let hex = |c: u8| (c as char).to_digit(16);
            match (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    // Two hex digits: at most 0xFF, so the cast is lossless.
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ if i + 1 == b.len() => break, // a soft break at the very end
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Undoes vCard text escapes (RFC 6350 §3.4): `\\`, `\,`, `\;`, `\n`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits a structured value (N, ORG) at unescaped `;`.
fn split_components(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push('\\');
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ';' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.iter().map(|c| unescape(c)).collect()
}

/// A TEL value: a `tel:` URI (vCard 4.0) or text; parameters such as `;ext=` dropped.
fn tel_value(text: &str) -> String {
    let t = text.trim();
    match t.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("tel:") => {
            let uri = &t[4..];
            uri.split(';').next().unwrap_or(uri).to_owned()
        }
        _ => unescape(t),
    }
}

#[derive(Default)]
struct CardDraft {
    fn_name: Option<String>,
    n_name: Option<String>,
    org: Option<String>,
    numbers: Vec<CardNumber>,
}

impl CardDraft {
    fn finish(self, index: u32) -> ContactCard {
        let name = [self.fn_name, self.n_name, self.org]
            .into_iter()
            .flatten()
            .map(|n| clean_name(&n))
            .find(|n| !n.is_empty())
            .unwrap_or_default();
        ContactCard {
            index,
            name,
            numbers: self.numbers,
        }
    }
}

fn read_vcards(text: &str) -> Result<Vec<ContactCard>, ContactFileError> {
    let mut cards = Vec::new();
    let mut draft: Option<CardDraft> = None;
    let mut depth = 0u32; // nested cards (vCard 2.1 AGENT) are not contacts of the file
    for line in unfold(text) {
        let Some(cl) = content_line(&line) else {
            continue;
        };
        let value_is = |v: &str| cl.value.trim().eq_ignore_ascii_case(v);
        if cl.name == "BEGIN" && value_is("VCARD") {
            depth += 1;
            if depth == 1 {
                if cards.len() >= MAX_CONTACTS {
                    return Err(ContactFileError::TooManyContacts);
                }
                draft = Some(CardDraft::default());
            }
            continue;
        }
        if cl.name == "END" && value_is("VCARD") {
            if depth == 1
                && let Some(d) = draft.take()
            {
                let index = u32::try_from(cards.len() + 1).unwrap_or(u32::MAX);
                cards.push(d.finish(index));
            }
            depth = depth.saturating_sub(1);
            continue;
        }
        let Some(d) = draft.as_mut().filter(|_| depth == 1) else {
            continue;
        };
        match cl.name.as_str() {
            "FN" => d.fn_name = Some(unescape(&cl.text())),
            "N" => {
                let c = split_components(&cl.text());
                let part = |i: usize| c.get(i).map(String::as_str).unwrap_or("");
                d.n_name = Some(join_name(part(1), part(2), part(0)));
            }
            "ORG" => d.org = split_components(&cl.text()).into_iter().next(),
            "TEL" => {
                let value = tel_value(&cl.text());
                let mobile = cl
                    .types()
                    .iter()
                    .any(|t| matches!(t.as_str(), "cell" | "mobile" | "iphone" | "x-mobile"))
                    .then_some(true);
                if !value.trim().is_empty() {
                    d.numbers.push(CardNumber { value, mobile });
                }
            }
            _ => {}
        }
    }
    if draft.is_some() {
        let index = u32::try_from(cards.len() + 1).unwrap_or(u32::MAX);
        return Err(ContactFileError::UnterminatedCard { index });
    }
    Ok(cards)
}

// ---- CSV

fn normalise_header(h: &str) -> String {
    h.trim_start_matches('\u{feff}')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn header_role(h: &str) -> Option<ColumnRole> {
    const NAME: &[&str] = &[
        "name",
        "full name",
        "fullname",
        "display name",
        "contact name",
        "customer name",
        "名前",
        "氏名",
        "お名前",
        "表示名",
        "フルネーム",
        "顧客名",
        "連絡先名",
    ];
    const GIVEN: &[&str] = &[
        "first name",
        "firstname",
        "given name",
        "givenname",
        "名",
        "下の名前",
    ];
    const MIDDLE: &[&str] = &["middle name", "additional name", "ミドルネーム"];
    const FAMILY: &[&str] = &[
        "last name",
        "lastname",
        "family name",
        "familyname",
        "surname",
        "姓",
        "苗字",
        "名字",
    ];
    const COMPANY: &[&str] = &[
        "company",
        "organization",
        "organisation",
        "organization name",
        "organization 1 - name",
        "会社",
        "会社名",
        "組織",
        "勤務先",
    ];
    const PHONE: &[&str] = &["number", "番号", "phone number", "電話番号"];
    const PHONE_WORDS: &[&str] = &["phone", "tel", "mobile", "cell", "電話", "携帯"];
    const NOT_PHONE: &[&str] = &["type", "label", "種別", "種類", "ラベル", "fax"];
    let h = normalise_header(h);
    let is = |list: &[&str]| list.contains(&h.as_str());
    if is(NAME) {
        Some(ColumnRole::Name)
    } else if is(GIVEN) {
        Some(ColumnRole::GivenName)
    } else if is(MIDDLE) {
        Some(ColumnRole::MiddleName)
    } else if is(FAMILY) {
        Some(ColumnRole::FamilyName)
    } else if is(COMPANY) {
        Some(ColumnRole::Company)
    } else if is(PHONE)
        || (PHONE_WORDS.iter().any(|w| h.contains(w)) && !NOT_PHONE.iter().any(|w| h.contains(w)))
    {
        Some(ColumnRole::Phone)
    } else {
        None
    }
}

fn mobile_word(s: &str) -> bool {
    let s = s.to_lowercase();
    ["mobile", "cell", "iphone", "携帯"]
        .iter()
        .any(|w| s.contains(w))
}

/// `phone 2 - value` → the column `phone 2 - type` (or `- label`) that says what it is
/// (Google Contacts' export).
fn type_column_of(header: &str, headers: &[String]) -> Option<usize> {
    let h = normalise_header(header);
    let stem = h.strip_suffix(" - value")?;
    headers.iter().position(|o| {
        let o = normalise_header(o);
        o == format!("{stem} - type") || o == format!("{stem} - label")
    })
}

/// The delimiter the header line uses most: `,`, tab or `;`.
fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut quoted = false;
    let mut counts = [0usize; 3];
    for c in first.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => counts[0] += 1,
            '\t' if !quoted => counts[1] += 1,
            ';' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b'\t', b';'];
    let mut best = 0;
    for i in 1..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    candidates[best]
}

/// Splits a phone cell holding several numbers.
fn split_numbers(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(":::")
        .flat_map(|p| p.split([',', ';', '/', '\n', '\r', '、', '，', '；']))
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

type CsvRead = (Vec<ColumnUse>, Vec<String>, Vec<ContactCard>);

fn read_csv(text: &str) -> Result<CsvRead, ContactFileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(text))
        .from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| ContactFileError::Csv {
        line: e.position().map(|p| p.line()).unwrap_or(0),
        reason: e.to_string(),
    };
    let mut records = reader.records();
    let headers: Vec<String> = loop {
        match records.next() {
            None => return Err(ContactFileError::NoContacts),
            Some(r) => {
                let r = r.map_err(csv_error)?;
                if r.iter().any(|c| !c.trim().is_empty()) {
                    break r.iter().map(|h| h.trim().to_owned()).collect();
                }
            }
        }
    };
    let mut columns = Vec::new();
    let mut ignored = Vec::new();
    let mut type_columns = HashSet::new();
    for (i, h) in headers.iter().enumerate() {
        if let Some(role) = header_role(h) {
            columns.push(ColumnUse {
                header: h.clone(),
                column: u32::try_from(i + 1).unwrap_or(u32::MAX),
                role,
            });
            if role == ColumnRole::Phone {
                type_columns.extend(type_column_of(h, &headers));
            }
        }
    }
    for (i, h) in headers.iter().enumerate() {
        let used = columns.iter().any(|c| c.column as usize == i + 1) || type_columns.contains(&i);
        if !used && !h.is_empty() {
            ignored.push(h.clone());
        }
    }
    if !columns.iter().any(|c| c.role == ColumnRole::Phone) {
        return Err(ContactFileError::NoPhoneColumn { headers });
    }
    let mut cards = Vec::new();
    // The reader's own line count skips blank lines; count from byte offsets instead.
    let (mut counted_to, mut line) = (0usize, 1u64);
    for record in records {
        let record = record.map_err(csv_error)?;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if cards.len() >= MAX_CONTACTS {
            return Err(ContactFileError::TooManyContacts);
        }
        let cell = |col: &ColumnUse| record.get(col.column as usize - 1).unwrap_or("").trim();
        let first = |role: ColumnRole| {
            columns
                .iter()
                .filter(|c| c.role == role)
                .map(cell)
                .find(|v| !v.is_empty())
                .unwrap_or("")
        };
        let mut name = clean_name(first(ColumnRole::Name));
        if name.is_empty() {
            name = join_name(
                first(ColumnRole::GivenName),
                first(ColumnRole::MiddleName),
                first(ColumnRole::FamilyName),
            );
        }
        if name.is_empty() {
            name = clean_name(first(ColumnRole::Company));
        }
        let mut numbers = Vec::new();
        for col in columns.iter().filter(|c| c.role == ColumnRole::Phone) {
            let typed = type_column_of(&col.header, &headers)
                .and_then(|i| record.get(i))
                .is_some_and(mobile_word);
            let mobile = (typed || mobile_word(&col.header)).then_some(true);
            for n in split_numbers(cell(col)) {
                numbers.push(CardNumber {
                    value: n.to_owned(),
                    mobile,
                });
            }
        }
        let mut start = record
            .position()
            .map_or(counted_to, |p| {
                usize::try_from(p.byte()).unwrap_or(usize::MAX)
            })
            .clamp(counted_to, text.len());
        // The position may be that of blank lines the reader skipped before the record.
        while matches!(text.as_bytes().get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        line += text.as_bytes()[counted_to..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        counted_to = start;
        cards.push(ContactCard {
            index: u32::try_from(line).unwrap_or(u32::MAX),
            name,
            numbers,
        });
    }
    Ok((columns, ignored, cards))
}

// ---- planning

/// A customer of the channel that owns some of the file's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownCustomer {
    /// Id.
    pub id: CustomerId,
    /// Name (empty for a lead known only by number).
    pub name: String,
    /// Blocked (SPEC OUT-4).
    pub blocked: bool,
    /// How many numbers they have now.
    pub phones: usize,
}

/// What the channel already has of the file's numbers (the store fills it).
#[derive(Debug, Clone, Default)]
pub struct KnownNumbers {
    /// E.164 → the customer who owns it.
    pub owners: HashMap<String, CustomerId>,
    /// Those customers.
    pub customers: HashMap<CustomerId, KnownCustomer>,
}

/// What importing one contact does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportAction {
    /// One of its numbers belongs to an existing customer: it joins that customer's
    /// history (new numbers are added to them, an empty name is filled).
    Join,
    /// None of its numbers is known: a new lead is created with them.
    Create,
    /// Nothing is imported (see the reason).
    Skip,
}

/// Why a contact is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// It has no phone number.
    NoNumber,
    /// None of its numbers can be read in the channel's region.
    InvalidNumber,
    /// Its numbers all belong to a contact earlier in the file.
    DuplicateInFile,
}

/// Why one number of a contact is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NumberIssue {
    /// It cannot be read as a number in the channel's region.
    Invalid,
    /// A contact earlier in the file has it.
    DuplicateInFile,
    /// It belongs to another customer than the one this contact joins; it stays theirs.
    OtherCustomer,
    /// The customer would have more than [`MAX_PHONES`] numbers.
    TooMany,
}

/// A number of a contact that is not used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NumberProblem {
    /// As written in the file.
    pub input: String,
    /// E.164, when it could be read.
    pub number: Option<String>,
    /// Why it is not used.
    pub issue: NumberIssue,
    /// For people: the reading error, or which contact or customer has it.
    pub detail: String,
}

/// A number a contact brings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportNumber {
    /// E.164.
    pub number: String,
    /// As written in the channel's region.
    pub display: String,
    /// Already the customer's (a join); otherwise it is saved.
    pub known: bool,
    /// Marked as mobile in the file; `null`: the numbering plan decides.
    pub mobile: Option<bool>,
}

/// The customer a contact joins (or, once applied, the lead it created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportCustomer {
    /// Id.
    pub id: CustomerId,
    /// Name before the import.
    pub name: String,
    /// Blocked (SPEC OUT-4).
    pub blocked: bool,
}

/// One contact of the file and what importing it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlannedContact {
    /// Its place in the file: card number (vCard) or line (CSV).
    pub index: u32,
    /// Its name.
    pub name: String,
    /// The numbers it brings, as E.164, in file order (known ones and the ones saved).
    pub numbers: Vec<ImportNumber>,
    /// Join, create or skip.
    pub action: ImportAction,
    /// Join: the customer it joins. Create: the new lead, once applied.
    pub customer: Option<ImportCustomer>,
    /// Join: the customer has no name and gets this contact's.
    pub sets_name: bool,
    /// Skip: why.
    pub skip_reason: Option<SkipReason>,
    /// Numbers of the contact that are not used, and why.
    pub problems: Vec<NumberProblem>,
}

impl PlannedContact {
    /// Whether applying changes the customer it joins (new numbers or its name).
    pub fn changes_customer(&self) -> bool {
        self.action == ImportAction::Join
            && (self.sets_name || self.numbers.iter().any(|n| !n.known))
    }
}

/// How many contacts do what.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportCounts {
    /// Contacts in the file.
    pub contacts: u32,
    /// Contacts joining an existing customer.
    pub join: u32,
    /// Of those, the customers that get a new number or their name.
    pub updated: u32,
    /// New leads.
    pub create: u32,
    /// Contacts skipped.
    pub skip: u32,
}

/// The plan of an import: per contact what happens (and, once applied, what happened).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportPlan {
    /// `vcard` or `csv`.
    pub format: ContactFormat,
    /// The text encoding the file was read in.
    pub encoding: String,
    /// CSV: the columns used (by header) and what for.
    pub columns: Vec<ColumnUse>,
    /// CSV: headers of columns that were not used.
    pub ignored_columns: Vec<String>,
    /// Every contact of the file, in file order.
    pub contacts: Vec<PlannedContact>,
    /// Totals.
    pub counts: ImportCounts,
    /// Whether the plan was carried out (false: a preview).
    pub applied: bool,
    /// A digest of what the plan does ([`ImportPlan::digest`]): pass a preview's to the
    /// apply, which then refuses to do anything else.
    pub digest: String,
}

/// Every number of the file that reads as E.164 in `region`: what the store looks up.
pub fn readable_numbers(file: &ContactFile, region: Region) -> Vec<E164> {
    let mut seen = HashSet::new();
    file.cards
        .iter()
        .flat_map(|c| &c.numbers)
        .filter_map(|n| E164::parse(&n.value, region).ok())
        .filter(|n| seen.insert(n.clone()))
        .collect()
}

/// Decides what importing each contact does, given the customers that own some of the
/// file's numbers (see the module documentation). Contacts are taken in file order: a
/// number is used by the first contact that has it.
pub fn plan_import(file: &ContactFile, region: Region, known: &KnownNumbers) -> ImportPlan {
    // Number → the index of the contact that first had it.
    let mut first_seen: HashMap<E164, u32> = HashMap::new();
    let mut phone_counts: HashMap<CustomerId, usize> = known
        .customers
        .iter()
        .map(|(id, c)| (*id, c.phones))
        .collect();
    let mut named: HashSet<CustomerId> = HashSet::new();
    let mut contacts = Vec::with_capacity(file.cards.len());
    let mut counts = ImportCounts::default();
    for card in &file.cards {
        let mut problems = Vec::new();
        let mut readable: Vec<(E164, Option<bool>, &str)> = Vec::new();
        for n in &card.numbers {
            match E164::parse(&n.value, region) {
                Err(e) => problems.push(NumberProblem {
                    input: n.value.clone(),
                    number: None,
                    issue: NumberIssue::Invalid,
                    detail: match e {
                        crate::CoreError::InvalidPhoneNumber { reason, .. } => reason,
                        other => other.to_string(),
                    },
                }),
                Ok(e164) => {
                    if let Some(r) = readable.iter_mut().find(|(x, _, _)| *x == e164) {
                        // The same number twice in one contact: once, mobile if either says so.
                        r.1 = r.1.or(n.mobile);
                    } else if let Some(first) = first_seen.get(&e164) {
                        problems.push(NumberProblem {
                            input: n.value.clone(),
                            number: Some(e164.as_str().to_owned()),
                            issue: NumberIssue::DuplicateInFile,
                            detail: format!("contact {first} of the file has it"),
                        });
                    } else {
                        readable.push((e164, n.mobile, &n.value));
                    }
                }
            }
        }
        let mut planned = PlannedContact {
            index: card.index,
            name: card.name.clone(),
            numbers: Vec::new(),
            action: ImportAction::Skip,
            customer: None,
            sets_name: false,
            skip_reason: None,
            problems,
        };
        if readable.is_empty() {
            planned.skip_reason = Some(if card.numbers.is_empty() {
                SkipReason::NoNumber
            } else if planned
                .problems
                .iter()
                .any(|p| p.issue == NumberIssue::DuplicateInFile)
            {
                SkipReason::DuplicateInFile
            } else {
                SkipReason::InvalidNumber
            });
            counts.skip += 1;
            contacts.push(planned);
            continue;
        }
        for (n, _, _) in &readable {
            first_seen.insert(n.clone(), card.index);
        }
        let owner = readable
            .iter()
            .find_map(|(n, _, _)| known.owners.get(n.as_str()))
            .and_then(|id| known.customers.get(id));
        let target = owner.map(|c| c.id);
        let mut count = target
            .and_then(|id| phone_counts.get(&id).copied())
            .unwrap_or(0);
        for (n, mobile, input) in readable {
            let owned_by = known.owners.get(n.as_str()).copied();
            let number = |known: bool| ImportNumber {
                number: n.as_str().to_owned(),
                display: n.display(region),
                known,
                mobile,
            };
            match owned_by {
                Some(id) if Some(id) == target => planned.numbers.push(number(true)),
                Some(id) => {
                    let who = known
                        .customers
                        .get(&id)
                        .map(|c| c.name.as_str())
                        .unwrap_or("");
                    planned.problems.push(NumberProblem {
                        input: input.to_owned(),
                        number: Some(n.as_str().to_owned()),
                        issue: NumberIssue::OtherCustomer,
                        detail: format!("it belongs to customer {id} {who}")
                            .trim_end()
                            .to_owned(),
                    });
                }
                None if count >= MAX_PHONES => planned.problems.push(NumberProblem {
                    input: input.to_owned(),
                    number: Some(n.as_str().to_owned()),
                    issue: NumberIssue::TooMany,
                    detail: format!("a customer has at most {MAX_PHONES} numbers"),
                }),
                None => {
                    count += 1;
                    planned.numbers.push(number(false));
                }
            }
        }
        match owner {
            Some(c) => {
                phone_counts.insert(c.id, count);
                planned.action = ImportAction::Join;
                planned.sets_name =
                    !card.name.is_empty() && c.name.trim().is_empty() && named.insert(c.id);
                planned.customer = Some(ImportCustomer {
                    id: c.id,
                    name: c.name.clone(),
                    blocked: c.blocked,
                });
                counts.join += 1;
                if planned.changes_customer() {
                    counts.updated += 1;
                }
            }
            None => {
                planned.action = ImportAction::Create;
                counts.create += 1;
            }
        }
        contacts.push(planned);
    }
    counts.contacts = u32::try_from(file.cards.len()).unwrap_or(u32::MAX);
    let mut plan = ImportPlan {
        format: file.format,
        encoding: file.encoding.to_owned(),
        columns: file.columns.clone(),
        ignored_columns: file.ignored_columns.clone(),
        contacts,
        counts,
        applied: false,
        digest: String::new(),
    };
    plan.digest = plan.digest();
    plan
}

impl ImportPlan {
    /// A digest of what the plan does (per contact: action, customer, name, numbers), so
    /// that an apply can insist on doing exactly what a preview showed: the same file
    /// against the same contact list gives the same digest.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for c in &self.contacts {
            let customer = match (c.action, &c.customer) {
                (ImportAction::Join, Some(cu)) => cu.id,
                _ => 0,
            };
            h.update(format!(
                "{}\u{1}{:?}\u{1}{customer}\u{1}{}\u{1}{}\u{1}",
                c.index, c.action, c.name, c.sets_name
            ));
            for n in &c.numbers {
                h.update(format!("{}:{}:{:?},", n.number, n.known, n.mobile));
            }
            h.update("\u{2}");
        }
        h.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

//! Phone numbers: every number Denwa stores is E.164, normalised with the channel's
//! region (ITU-T E.164; Japanese national formats per the MIC numbering plan, through
//! the `phonenumber` crate's libphonenumber metadata).

use std::fmt;
use std::str::FromStr;

use phonenumber::{Mode, PhoneNumber, Type, country};
use serde::{Deserialize, Serialize};

use crate::CoreError;

/// A region (ISO 3166-1 alpha-2) whose national dialling rules read local numbers,
/// e.g. `JP` reads `03-1234-5678` as `+81312345678`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(country::Id);

impl Region {
    /// Japan, the default region of a new channel.
    pub const JP: Region = Region(country::Id::JP);

    /// The ISO code, e.g. `"JP"`.
    pub fn code(&self) -> String {
        format!("{:?}", self.0)
    }
}

impl FromStr for Region {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        country::Id::from_str(&s.trim().to_ascii_uppercase())
            .map(Region)
            .map_err(|_| CoreError::UnknownRegion(s.to_owned()))
    }
}

/// A valid phone number in E.164 form (`+` and digits), the only form Denwa stores.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(example = "+81312345678")]
pub struct E164(String);

impl E164 {
    /// Reads a number as a person would type or paste it: national (`03-1234-5678`,
    /// `090 1234 5678`, `0120-123-456`), international (`+81 3 1234 5678`,
    /// `+81-(0)3-…`), full-width digits (`０３…`), with spaces, dashes, dots or
    /// parentheses. Invalid numbers for the region are refused with the reason.
    pub fn parse(input: &str, region: Region) -> Result<E164, CoreError> {
        let parsed = parse_number(input, region)?;
        Ok(E164(parsed.format().mode(Mode::E164).to_string()))
    }

    /// Wraps a string already known to be E.164 (read back from the store).
    /// Returns `None` unless it is `+` followed by 2 to 15 digits.
    pub fn from_stored(s: &str) -> Option<E164> {
        let digits = s.strip_prefix('+')?;
        let ok = (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| E164(s.to_owned()))
    }

    /// The E.164 string, e.g. `+81312345678`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as people of `region` write it: national format for a number of
    /// that region (`03-1234-5678`), international format otherwise.
    pub fn display(&self, region: Region) -> String {
        match phonenumber::parse(None, &self.0) {
            Ok(n) if n.country().id() == Some(region.0) => {
                n.format().mode(Mode::National).to_string()
            }
            Ok(n) => n.format().mode(Mode::International).to_string(),
            Err(_) => self.0.clone(),
        }
    }

    /// Whether the numbering plan says this is a mobile number (in Japan 070, 080, 090).
    pub fn is_mobile(&self) -> bool {
        match phonenumber::parse(None, &self.0) {
            Ok(n) => matches!(
                n.number_type(&phonenumber::metadata::DATABASE),
                Type::Mobile | Type::FixedLineOrMobile
            ),
            Err(_) => false,
        }
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn parse_number(input: &str, region: Region) -> Result<PhoneNumber, CoreError> {
    let invalid = |reason: &str| CoreError::InvalidPhoneNumber {
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    let cleaned = clean(input);
    if cleaned.is_empty() {
        return Err(invalid("no digits"));
    }
    if cleaned.len() > 20 {
        return Err(invalid("too long"));
    }
    let number = phonenumber::parse(Some(region.0), &cleaned)
        .map_err(|e| invalid(&format!("not a phone number ({e})")))?;
    if !number.is_valid() {
        return Err(invalid("not a valid number in the numbering plan"));
    }
    Ok(number)
}

/// Folds full-width digits and `＋` to ASCII, drops separators people type, and the
/// trunk prefix written as `(0)` after a country code (`+81 (0)3 …`).
fn clean(input: &str) -> String {
    let folded: String = input
        .trim()
        .chars()
        .filter_map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
            '＋' => Some('+'),
            '0'..='9' | '+' | '(' | ')' => Some(c),
            _ => None,
        })
        .collect();
    let without_trunk = if folded.starts_with('+') {
        folded.replacen("(0)", "", 1)
    } else {
        folded
    };
    without_trunk
        .chars()
        .filter(|c| *c != '(' && *c != ')')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jp(s: &str) -> Result<String, CoreError> {
        E164::parse(s, Region::JP).map(|n| n.as_str().to_owned())
    }

    #[test]
    fn japanese_spellings_normalise_to_one_e164() {
        for s in [
            "03-1234-5678",
            "0312345678",
            "03 1234 5678",
            "(03) 1234-5678",
            "+81 3 1234 5678",
            "+81-(0)3-1234-5678",
            "+81312345678",
            "０３－１２３４－５６７８",
        ] {
            assert_eq!(jp(s).unwrap(), "+81312345678", "{s}");
        }
    }

    #[test]
    fn japanese_number_kinds() {
        assert_eq!(jp("090-1234-5678").unwrap(), "+819012345678");
        assert_eq!(jp("050-1234-5678").unwrap(), "+815012345678");
        assert_eq!(jp("0120-123-456").unwrap(), "+81120123456");
        assert!(
            E164::parse("090-1234-5678", Region::JP)
                .unwrap()
                .is_mobile()
        );
        assert!(!E164::parse("03-1234-5678", Region::JP).unwrap().is_mobile());
    }

    #[test]
    fn foreign_number_with_plus_is_kept() {
        assert_eq!(jp("+1 415 555 2671").unwrap(), "+14155552671");
    }

    #[test]
    fn national_display() {
        let n = E164::parse("0312345678", Region::JP).unwrap();
        assert_eq!(n.display(Region::JP), "03-1234-5678");
        let us = E164::parse("+14155552671", Region::JP).unwrap();
        assert_eq!(us.display(Region::JP), "+1 415-555-2671");
    }

    #[test]
    fn bad_numbers_are_refused_with_a_reason() {
        for s in [
            "",
            "abc",
            "12",
            "03-1234",
            "+",
            "99999999999999999999999",
            "0000",
        ] {
            let err = jp(s).unwrap_err();
            assert!(matches!(err, CoreError::InvalidPhoneNumber { .. }), "{s}");
        }
    }

    #[test]
    fn regions() {
        assert_eq!("jp".parse::<Region>().unwrap(), Region::JP);
        assert_eq!(Region::JP.code(), "JP");
        assert!("XX".parse::<Region>().is_err());
    }

    #[test]
    fn stored_form_is_checked() {
        assert!(E164::from_stored("+81312345678").is_some());
        assert!(E164::from_stored("0312345678").is_none());
        assert!(E164::from_stored("+81a").is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_input_never_panics(s in "\\PC{0,40}") {
            let _ = E164::parse(&s, Region::JP);
        }

        #[test]
        fn normalisation_is_idempotent(digits in "0[1-9][0-9]{8,9}") {
            if let Ok(n) = E164::parse(&digits, Region::JP) {
                let again = E164::parse(n.as_str(), Region::JP).unwrap();
                proptest::prop_assert_eq!(n, again);
            }
        }
    }
}

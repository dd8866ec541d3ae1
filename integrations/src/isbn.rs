//! ISBN: extraction from the forms catalogues and librarians type, validation, and the
//! ISBN-10 / ISBN-13 pair (servers match only the form as catalogued, so lookups need both).

use std::fmt;

/// A valid ISBN, held in its 13-digit form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Isbn([u8; 13]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IsbnError {
    #[error("no ISBN found in {0:?}")]
    NotFound(String),
    #[error("{0} has a wrong check digit")]
    CheckDigit(String),
    #[error("{0} is not an ISBN prefix (978 or 979)")]
    Prefix(String),
}

impl Isbn {
    /// Reads the first ISBN in `raw`, tolerating hyphens, spaces, an `ISBN` label, full-width
    /// digits and trailing qualifiers such as `(pbk.)` or `CNY29.00`.
    pub fn parse(raw: &str) -> Result<Self, IsbnError> {
        let digits = Self::digits(raw).ok_or_else(|| IsbnError::NotFound(raw.to_string()))?;
        match digits.len() {
            10 => Self::from_isbn10(&digits),
            _ => Self::from_isbn13(&digits),
        }
    }

    /// The 10 or 13 characters of the first ISBN-shaped run in `raw`, whether or not its
    /// check digit holds: catalogues keep wrong ISBNs, and servers match them as stored.
    pub fn digits(raw: &str) -> Option<String> {
        let normalized: String = raw.chars().map(fold_width).collect();
        let upper = normalized.to_ascii_uppercase();
        let body = upper
            .trim()
            .trim_start_matches("ISBN")
            .trim_start_matches([':', ' ']);
        let mut digits = String::new();
        for c in body.chars() {
            match c {
                '0'..='9' => digits.push(c),
                'X' if digits.len() == 9 => {
                    digits.push('X');
                    break;
                }
                '-' | ' ' => continue,
                _ => break,
            }
            if digits.len() == 13 {
                break;
            }
        }
        match digits.len() {
            10 => Some(digits),
            13 if !digits.contains('X') => Some(digits),
            _ => None,
        }
    }

    fn from_isbn10(d: &str) -> Result<Self, IsbnError> {
        let values: Vec<u32> = d
            .chars()
            .map(|c| {
                if c == 'X' {
                    10
                } else {
                    c.to_digit(10).unwrap_or(0)
                }
            })
            .collect();
        let sum: u32 = values.iter().zip((1..=10).rev()).map(|(v, w)| v * w).sum();
        if !sum.is_multiple_of(11) {
            return Err(IsbnError::CheckDigit(d.to_string()));
        }
        let mut out = [0u8; 13];
        out[..3].copy_from_slice(&[9, 7, 8]);
        for (i, v) in values.iter().take(9).enumerate() {
            out[3 + i] = *v as u8;
        }
        out[12] = check13(&out[..12]);
        Ok(Self(out))
    }

    fn from_isbn13(d: &str) -> Result<Self, IsbnError> {
        let mut out = [0u8; 13];
        for (i, c) in d.chars().enumerate() {
            out[i] = c.to_digit(10).unwrap_or(0) as u8;
        }
        if !(out[..3] == [9, 7, 8] || out[..3] == [9, 7, 9]) {
            return Err(IsbnError::Prefix(d.to_string()));
        }
        if check13(&out[..12]) != out[12] {
            return Err(IsbnError::CheckDigit(d.to_string()));
        }
        Ok(Self(out))
    }

    /// The ISBN whose first twelve digits are `first12` (978 or 979…), its check digit
    /// computed: for numbering and for test data.
    pub fn complete(first12: &str) -> Result<Self, IsbnError> {
        let digits: Vec<u8> = first12
            .chars()
            .filter_map(|c| c.to_digit(10))
            .map(|d| d as u8)
            .collect();
        if digits.len() != 12 || first12.len() != 12 {
            return Err(IsbnError::NotFound(first12.to_string()));
        }
        let check = char::from(b'0' + check13(&digits));
        Self::from_isbn13(&format!("{first12}{check}"))
    }

    pub fn isbn13(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// The forms a catalogue may hold `raw` in, to ask for all of them (servers match only the
    /// form as catalogued): ISBN-13 and ISBN-10 for a valid ISBN, the digits as they are for
    /// one with a wrong check digit, nothing for text that is no ISBN.
    pub fn lookup_forms(raw: &str) -> Vec<String> {
        match Self::parse(raw) {
            Ok(i) => i.forms(),
            Err(_) => Self::digits(raw).into_iter().collect(),
        }
    }

    /// This ISBN's forms: ISBN-13, and ISBN-10 where it has one.
    pub fn forms(&self) -> Vec<String> {
        std::iter::once(self.isbn13())
            .chain(self.isbn10())
            .collect()
    }

    /// The ISBN-10 form, which exists only for the 978 prefix.
    pub fn isbn10(&self) -> Option<String> {
        if self.0[..3] != [9, 7, 8] {
            return None;
        }
        let body = &self.0[3..12];
        let sum: u32 = body
            .iter()
            .zip((2..=10).rev())
            .map(|(v, w)| *v as u32 * w)
            .sum();
        let check = (11 - sum % 11) % 11;
        let mut s: String = body.iter().map(|d| char::from(b'0' + d)).collect();
        s.push(if check == 10 {
            'X'
        } else {
            char::from(b'0' + check as u8)
        });
        Some(s)
    }
}

impl fmt::Display for Isbn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.isbn13())
    }
}

fn check13(first12: &[u8]) -> u8 {
    let sum: u32 = first12
        .iter()
        .enumerate()
        .map(|(i, d)| *d as u32 * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Full-width forms (common in Chinese catalogues) to ASCII.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        '\u{2010}'..='\u{2015}' => '-',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        let i = Isbn::parse("0-8044-2957-x").unwrap();
        assert_eq!(i.isbn13(), "9780804429573");
        assert_eq!(i.isbn10().as_deref(), Some("080442957X"));
        assert_eq!(Isbn::parse("978-0-8044-2957-3").unwrap(), i);
        let c = Isbn::parse("7-302-12260-1").unwrap();
        assert_eq!(c.isbn13(), "9787302122609");
        assert_eq!(c.isbn10().as_deref(), Some("7302122601"));
    }

    #[test]
    fn messy_catalogue_forms() {
        for raw in [
            "ISBN 978-7-111-54742-6",
            "9787111547426 (pbk.)",
            "978-7-111-54742-6 : CNY29.00(含光盘)",
            "９７８－７－１１１－５４７４２－６",
            "isbn:9787111547426",
        ] {
            assert_eq!(Isbn::parse(raw).unwrap().isbn13(), "9787111547426", "{raw}");
        }
    }

    #[test]
    fn completed_from_twelve_digits() {
        assert_eq!(
            Isbn::complete("978711154742").unwrap().isbn13(),
            "9787111547426"
        );
        assert_eq!(
            Isbn::complete("978730212260").unwrap().isbn13(),
            "9787302122609"
        );
        assert!(matches!(
            Isbn::complete("97871115474"),
            Err(IsbnError::NotFound(_))
        ));
        assert!(matches!(
            Isbn::complete("12345678901a"),
            Err(IsbnError::NotFound(_))
        ));
        assert!(matches!(
            Isbn::complete("123456789012"),
            Err(IsbnError::Prefix(_))
        ));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            Isbn::parse("9787111547427"),
            Err(IsbnError::CheckDigit(_))
        ));
        assert!(matches!(
            Isbn::parse("730212260X"),
            Err(IsbnError::CheckDigit(_))
        ));
        assert!(matches!(
            Isbn::parse("1234567890123"),
            Err(IsbnError::Prefix(_))
        ));
        assert!(matches!(Isbn::parse("hello"), Err(IsbnError::NotFound(_))));
        assert!(matches!(Isbn::parse("12345"), Err(IsbnError::NotFound(_))));
        assert!(Isbn::parse("9791032305690").unwrap().isbn10().is_none());
    }
}

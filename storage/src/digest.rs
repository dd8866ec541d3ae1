//! A SHA-256 digest and the object key layout derived from it.

use std::fmt;
use std::str::FromStr;

use object_store::path::Path;

/// A SHA-256 digest: the identity of every blob Spindle stores.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestParseError {
    #[error("a SHA-256 digest is 64 hexadecimal characters, got {0} characters")]
    Length(usize),
    #[error("a SHA-256 digest contains only the characters 0-9 and a-f")]
    NotHex,
}

impl Digest {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest of `bytes`, computed in one go (small data; streams use `StreamingHasher`).
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(bytes).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The object key: `[prefix/]sha256/ab/cd/<hex>`. Two levels of fan-out keep any one
    /// directory of a local store small even at millions of blobs.
    pub fn object_path(&self, prefix: &str) -> Path {
        let hex = self.to_hex();
        let key = format!("sha256/{}/{}/{}", &hex[0..2], &hex[2..4], hex);
        if prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{}", prefix.trim_matches('/'), key))
        }
    }
}

impl FromStr for Digest {
    type Err = DigestParseError;

    /// Accepts lower- or upper-case hex; the canonical form is lower case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(DigestParseError::Length(s.chars().count()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.to_ascii_lowercase(), &mut out)
            .map_err(|_| DigestParseError::NotHex)?;
        Ok(Self(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_lays_out_keys() {
        let d: Digest = EMPTY.to_uppercase().parse().unwrap();
        assert_eq!(d.to_hex(), EMPTY);
        assert_eq!(d.object_path("").as_ref(), format!("sha256/e3/b0/{EMPTY}"));
        assert_eq!(
            d.object_path("/tenant/").as_ref(),
            format!("tenant/sha256/e3/b0/{EMPTY}")
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!("abc".parse::<Digest>(), Err(DigestParseError::Length(3)));
        let bad = "g".repeat(64);
        assert_eq!(bad.parse::<Digest>(), Err(DigestParseError::NotHex));
        let multibyte = "é".repeat(32);
        assert!(multibyte.parse::<Digest>().is_err());
    }
}

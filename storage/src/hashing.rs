//! SHA-256 that can be paused and resumed across requests and processes: the state of a
//! half-finished upload is serialised into the database after every part.

use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use sha2::{Digest as _, Sha256};

use crate::Digest;

/// A running SHA-256 with a byte count.
#[derive(Clone)]
pub struct StreamingHasher {
    inner: Sha256,
    len: u64,
}

/// The serialised form of a [`StreamingHasher`]: 104 bytes of SHA-256 state plus the length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashState(pub Vec<u8>);

#[derive(Debug, thiserror::Error)]
#[error("stored hash state is corrupt ({0})")]
pub struct HashStateError(&'static str);

impl Default for StreamingHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamingHasher {
    pub fn new() -> Self {
        Self {
            inner: Sha256::new(),
            len: 0,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> (Digest, u64) {
        (Digest::from_bytes(self.inner.finalize().into()), self.len)
    }

    pub fn save(&self) -> HashState {
        let mut out = self.len.to_be_bytes().to_vec();
        out.extend_from_slice(self.inner.serialize().as_slice());
        HashState(out)
    }

    pub fn restore(state: &HashState) -> Result<Self, HashStateError> {
        let bytes = &state.0;
        if bytes.len() < 8 {
            return Err(HashStateError("too short"));
        }
        let (len, rest) = bytes.split_at(8);
        let len = u64::from_be_bytes(len.try_into().map_err(|_| HashStateError("length"))?);
        let serialized =
            SerializedState::<Sha256>::try_from(rest).map_err(|_| HashStateError("wrong size"))?;
        let inner = Sha256::deserialize(&serialized).map_err(|_| HashStateError("invalid"))?;
        Ok(Self { inner, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_restore_midway_gives_the_same_digest() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut whole = StreamingHasher::new();
        whole.update(&data);

        for cut in [0, 1, 63, 64, 65, 4097, 99_999] {
            let mut first = StreamingHasher::new();
            first.update(&data[..cut]);
            let saved = first.save();
            let mut resumed = StreamingHasher::restore(&saved).unwrap();
            assert_eq!(resumed.len(), cut as u64);
            resumed.update(&data[cut..]);
            assert_eq!(resumed.finish(), whole.clone().finish(), "cut at {cut}");
        }
    }

    #[test]
    fn known_vector() {
        let mut h = StreamingHasher::new();
        h.update(b"abc");
        let (d, n) = h.finish();
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(n, 3);
    }

    #[test]
    fn corrupt_state_is_an_error_not_a_panic() {
        assert!(StreamingHasher::restore(&HashState(vec![])).is_err());
        assert!(StreamingHasher::restore(&HashState(vec![0; 20])).is_err());
        let mut state = StreamingHasher::new().save();
        state.0.push(1);
        assert!(StreamingHasher::restore(&state).is_err());
    }
}

//! Spindle's storage crate: content-addressed blobs on object_store, resumable writes and
//! their SHA-256. It knows nothing of HTTP or SQL.

mod digest;
mod hashing;
mod store;

pub use digest::{Digest, DigestParseError};
pub use hashing::{HashState, HashStateError, StreamingHasher};
pub use store::{
    BlobStore, ByteStream, LocalConfig, PartReceipt, ResumableTarget, S3Config, StorageError,
};

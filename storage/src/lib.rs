//! Spindle's storage crate: content-addressed blobs on object_store, resumable writes,
//! RFC 9110 Range and precondition arithmetic. It knows nothing of HTTP frameworks or SQL.

mod digest;
mod hashing;
pub mod range;
mod store;

pub use digest::{Digest, DigestParseError};
pub use hashing::{HashState, HashStateError, StreamingHasher};
pub use store::{
    BlobStore, ByteStream, LocalConfig, PartReceipt, ResumableTarget, S3Config, StorageError,
};

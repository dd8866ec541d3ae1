//! Spindle's storage crate: content-addressed blobs on object_store, resumable writes and
//! their SHA-256. It knows nothing of SQL, nor of HTTP beyond its client for S3 reads.

mod digest;

/// Makes ring rustls's crypto for this process (reqwest and object_store are built without a
/// provider of their own, which spares a fresh build compiling aws-lc's C). Call it before a
/// TLS client is built; calling it again does nothing.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

mod hashing;
mod read_client;
mod store;

pub use digest::{Digest, DigestParseError};
pub use hashing::{HashState, HashStateError, StreamingHasher};
pub use store::{
    BlobStore, ByteStream, LocalConfig, PartReceipt, ResumableTarget, S3Config, StorageError,
    part_buffer, reclaim_part,
};

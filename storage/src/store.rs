//! The blob store: content-addressed objects on any object_store backend, with a resumable
//! write path (S3-style multipart parts at the final key, or a staging file on a local disk).

use std::io::ErrorKind;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::signer::{Method, SignedUrlOptions, Signer};
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, GetResultPayload, ObjectStore,
    ObjectStoreExt, PutPayload, RetryConfig,
};

use crate::Digest;

/// A stream of bytes read from the store.
pub type ByteStream = BoxStream<'static, Result<Bytes, StorageError>>;

/// Reads from local files are done in blocks of this size: large enough to keep syscalls
/// per byte low, small enough that a thousand concurrent downloads stay within memory.
const FILE_READ_BLOCK: usize = 256 * 1024;
/// An S3 body is relayed in blocks of this size (see `rechunk`): big enough for few writes,
/// small enough that a reader on a slow line holds little (the read client's buffer is 64 KiB).
const RELAY_BLOCK: usize = 128 * 1024;
/// How much of an object one GET asks for when a read is long (see `read_range`).
const READ_AHEAD_PIECE: u64 = 16 * 1024 * 1024;
/// How far past a local block that had to wait for the disk the kernel is asked to start
/// reading at once (`read_block`): the rest of the range, up to this much.
const DISK_READ_AHEAD: u64 = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object not found: {0}")]
    NotFound(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("object store: {0}")]
    Store(#[source] object_store::Error),
    #[error("storage configuration: {0}")]
    Config(String),
    #[error("the stored state of a resumable upload does not fit this store: {0}")]
    TargetMismatch(&'static str),
}

impl From<object_store::Error> for StorageError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => StorageError::NotFound(path),
            other => StorageError::Store(other),
        }
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StorageError {
    let context = context.into();
    move |source| StorageError::Io { context, source }
}

/// A local directory store.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// Where blobs live.
    pub root: PathBuf,
    /// Where unfinished uploads are written; on the same filesystem as `root` so that
    /// completing one is an atomic rename.
    pub staging: PathBuf,
}

/// An S3-compatible store (AWS, Garage, MinIO, Ceph RGW). Also the `[storage.s3]` section
/// of Spindle's configuration.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub virtual_hosted_style: bool,
    pub unsigned_payload: bool,
    /// A key prefix, so that one bucket can hold several deployments (or test runs).
    pub prefix: String,
    /// Time allowed to connect to the store.
    pub connect_timeout_secs: u64,
    /// Time a read may wait for the store's next bytes. There is no limit on a whole
    /// request: a reader on a slow line may take minutes over one piece of an image.
    pub read_timeout_secs: u64,
    /// A failed request is retried this many times, for at most `retry_timeout_secs` in all,
    /// before the reader is told the storage is unavailable.
    pub retries: usize,
    pub retry_timeout_secs: u64,
    /// Whole images and CUE parts are downloaded from the store itself: after the access
    /// decision and the count, Spindle answers a redirect (307) to a presigned GET of the
    /// object, valid for `redirect_secs`. Files inside images are still relayed.
    pub redirect_downloads: bool,
    /// How long a presigned download address is good for; a reader who resumes later goes
    /// through Spindle again and gets a fresh one.
    pub redirect_secs: u64,
    /// The address readers reach the store at, which presigned addresses name (they are
    /// signed for it); unset: `endpoint`.
    pub public_endpoint: Option<String>,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            bucket: String::new(),
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
            virtual_hosted_style: false,
            unsigned_payload: false,
            prefix: String::new(),
            connect_timeout_secs: 5,
            read_timeout_secs: 30,
            retries: 3,
            retry_timeout_secs: 15,
            redirect_downloads: false,
            redirect_secs: 600,
            public_endpoint: None,
        }
    }
}

/// Where a resumable upload's bytes are accumulating. Stored with the upload so that any
/// node, or this one after a restart, can continue it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResumableTarget {
    /// An S3-style multipart upload at the final content key.
    Multipart { upload_id: String },
    /// A staging file (local store), renamed into place on completion.
    Staging { file: String },
}

impl ResumableTarget {
    pub fn id(&self) -> &str {
        match self {
            ResumableTarget::Multipart { upload_id } => upload_id,
            ResumableTarget::Staging { file } => file,
        }
    }
}

/// What the store returned for one written part; kept (in order) until completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartReceipt(pub String);

#[derive(Clone)]
enum Resumable {
    Multipart(Arc<dyn MultipartStore>),
    Staging {
        local: Arc<LocalFileSystem>,
        staging: PathBuf,
        /// The store's root as `local` resolved it (canonical): where a blob's file is found
        /// without `local`'s URL-based path mapping on every read.
        root: Arc<PathBuf>,
    },
}

/// Content-addressed blobs. Cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// Where ranges of blobs are read: `store` itself, except on S3, where it is the same
    /// bucket through a client with small read buffers (see `read_client`).
    reader: Arc<dyn ObjectStore>,
    resumable: Resumable,
    /// Signs addresses readers fetch objects at themselves (S3 only).
    signer: Option<Arc<dyn Signer>>,
    prefix: String,
    description: String,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

impl BlobStore {
    pub fn local(config: &LocalConfig) -> Result<Self, StorageError> {
        for dir in [&config.root, &config.staging] {
            std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        let local =
            Arc::new(LocalFileSystem::new_with_prefix(&config.root)?.with_automatic_cleanup(true));
        let root = std::fs::canonicalize(&config.root)
            .map_err(io_err(format!("resolving {}", config.root.display())))?;
        Ok(Self {
            store: local.clone(),
            reader: local.clone(),
            signer: None,
            resumable: Resumable::Staging {
                local,
                staging: config.staging.clone(),
                root: Arc::new(root),
            },
            prefix: String::new(),
            description: format!("local directory {}", config.root.display()),
        })
    }

    pub fn s3(config: &S3Config) -> Result<Self, StorageError> {
        if config.bucket.is_empty() {
            return Err(StorageError::Config("storage.s3.bucket is required".into()));
        }
        crate::install_tls_provider();
        let builder = Self::s3_builder(config, config.endpoint.as_deref());
        let s3 = Arc::new(builder.clone().build()?);
        let reader = builder
            .with_http_connector(crate::read_client::ReadConnector {
                connect_timeout: Duration::from_secs(config.connect_timeout_secs),
                read_timeout: Duration::from_secs(config.read_timeout_secs),
            })
            .build()?;
        let signer: Arc<dyn Signer> = match &config.public_endpoint {
            Some(public) => Arc::new(Self::s3_builder(config, Some(public)).build()?),
            None => s3.clone(),
        };
        Ok(Self {
            store: s3.clone(),
            reader: Arc::new(reader),
            signer: Some(signer),
            resumable: Resumable::Multipart(s3),
            prefix: config.prefix.trim_matches('/').to_string(),
            description: format!(
                "s3 bucket {} at {}",
                config.bucket,
                config.endpoint.as_deref().unwrap_or("AWS")
            ),
        })
    }

    fn s3_builder(config: &S3Config, endpoint: Option<&str>) -> AmazonS3Builder {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(config.virtual_hosted_style)
            .with_unsigned_payload(config.unsigned_payload)
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(config.connect_timeout_secs))
                    .with_timeout_disabled()
                    .with_read_timeout(Duration::from_secs(config.read_timeout_secs)),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: config.retries,
                retry_timeout: Duration::from_secs(config.retry_timeout_secs),
            });
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        builder
    }

    /// An address at which whoever holds it may `method` (GET or HEAD) a blob from the store
    /// itself for `expires_in`, the response naming `content_type` and `disposition`; None when
    /// the store cannot sign one (a local directory).
    pub async fn presigned(
        &self,
        method: Method,
        digest: &Digest,
        expires_in: Duration,
        content_type: &str,
        disposition: &str,
    ) -> Result<Option<object_store::signer::Url>, StorageError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let options = SignedUrlOptions::default().with_query([
            ("response-content-type", content_type),
            ("response-content-disposition", disposition),
        ]);
        let url = signer
            .signed_url_opts(method, &self.path(digest), expires_in, &options)
            .await?;
        Ok(Some(url))
    }

    /// An in-memory store for unit tests.
    pub fn in_memory() -> Self {
        let mem = Arc::new(InMemory::new());
        Self {
            store: mem.clone(),
            reader: mem.clone(),
            signer: None,
            resumable: Resumable::Multipart(mem),
            prefix: String::new(),
            description: "in-memory".into(),
        }
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    fn path(&self, digest: &Digest) -> Path {
        digest.object_path(&self.prefix)
    }

    /// The stored size of a blob, or None when the store does not have it.
    pub async fn size(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        match self.store.head(&self.path(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams `range` of a blob; memory stays bounded by one read block whatever the size.
    pub async fn read_range(
        &self,
        digest: &Digest,
        range: Range<u64>,
    ) -> Result<ByteStream, StorageError> {
        if let Resumable::Staging { root, .. } = &self.resumable {
            return local_stream(local_file(root, digest), range).await;
        }
        // A long read is several GETs of READ_AHEAD_PIECE, the next one asked for while the
        // current one is read: the store prepares it meanwhile (its bytes wait in the socket,
        // not in this process). The first GET is made here, so a missing object is an error
        // before any response starts.
        let path = self.path(digest);
        let first_end = range.end.min(range.start + READ_AHEAD_PIECE);
        let first = self.get_piece(path.clone(), range.start..first_end).await?;
        let rest: Vec<Range<u64>> = (first_end..range.end)
            .step_by(READ_AHEAD_PIECE as usize)
            .map(|s| s..range.end.min(s + READ_AHEAD_PIECE))
            .collect();
        let store = self.clone();
        let later = stream::iter(rest)
            .map(move |r| {
                let (store, path) = (store.clone(), path.clone());
                async move { store.get_piece(path, r).await }
            })
            .buffered(2);
        Ok(rechunk(
            stream::once(futures::future::ready(Ok(first)))
                .chain(later)
                .try_flatten()
                .boxed(),
        ))
    }

    async fn get_piece(&self, path: Path, range: Range<u64>) -> Result<ByteStream, StorageError> {
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..Default::default()
        };
        let result = self.reader.get_opts(&path, options).await?;
        Ok(match result.payload {
            GetResultPayload::File(file, path) => file_stream(file, path, result.range),
            GetResultPayload::Stream(s) => s.map_err(StorageError::from).boxed(),
        })
    }

    /// Reads a whole blob into memory. For tests and small objects only.
    pub async fn read_all(&self, digest: &Digest) -> Result<Bytes, StorageError> {
        Ok(self.store.get(&self.path(digest)).await?.bytes().await?)
    }

    /// Stores small bytes in one put at their content address (tests and tools; uploads go
    /// through the resumable, hash-verified path).
    pub async fn put_small(&self, bytes: &[u8]) -> Result<Digest, StorageError> {
        let digest = Digest::of(bytes);
        self.store
            .put(&self.path(&digest), PutPayload::from(bytes.to_vec()))
            .await?;
        Ok(digest)
    }

    /// Proves at start-up (and in /readyz) that the store answers and accepts writes.
    pub async fn check_writable(&self) -> Result<(), StorageError> {
        let probe = self.probe_path();
        self.store
            .put(&probe, PutPayload::from_static(b"ok"))
            .await?;
        let back = self.store.get(&probe).await?.bytes().await?;
        if back.as_ref() != b"ok" {
            return Err(StorageError::Config(
                "the store returned other bytes than it was given".into(),
            ));
        }
        Ok(())
    }

    /// A cheap read-only probe for readiness checks.
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self.store.head(&self.probe_path()).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn probe_path(&self) -> Path {
        if self.prefix.is_empty() {
            Path::from("_spindle/health-probe")
        } else {
            Path::from(format!("{}/_spindle/health-probe", self.prefix))
        }
    }

    /// Starts a resumable write of the blob `digest`; `upload_id` names the staging file.
    pub async fn begin_resumable(
        &self,
        digest: &Digest,
        upload_id: &str,
    ) -> Result<ResumableTarget, StorageError> {
        match &self.resumable {
            Resumable::Multipart(m) => {
                let upload_id = m.create_multipart(&self.path(digest)).await?;
                Ok(ResumableTarget::Multipart { upload_id })
            }
            Resumable::Staging { staging, .. } => {
                let file = format!("{upload_id}.part");
                let path = staging.join(&file);
                tokio::task::spawn_blocking(move || {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)
                        .map(drop)
                        .map_err(io_err(format!("creating {}", path.display())))
                })
                .await
                .map_err(join_err)??;
                Ok(ResumableTarget::Staging { file })
            }
        }
    }

    /// Whether written parts must be synced ([`Self::sync_parts`]) before they are recorded as
    /// received: a local staging file's must; an S3 part is durable when its PUT returns.
    pub fn parts_need_sync(&self) -> bool {
        matches!(self.resumable, Resumable::Staging { .. })
    }

    /// Makes every part written so far durable (one `fdatasync` of the staging file for any
    /// number of parts; nothing to do on S3).
    pub async fn sync_parts(&self, target: &ResumableTarget) -> Result<(), StorageError> {
        match (&self.resumable, target) {
            (Resumable::Multipart(_), ResumableTarget::Multipart { .. }) => Ok(()),
            (Resumable::Staging { staging, .. }, ResumableTarget::Staging { file }) => {
                let path = staging.join(file);
                tokio::task::spawn_blocking(move || {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .and_then(|f| f.sync_data())
                        .map_err(io_err(format!("syncing {}", path.display())))
                })
                .await
                .map_err(join_err)?
            }
            _ => Err(StorageError::TargetMismatch("part sync")),
        }
    }

    /// Writes part `index` (0-based), which starts at byte `offset` of the blob. Writing the
    /// same part again replaces it, so a retried request is harmless. A local part is durable
    /// only after [`Self::sync_parts`].
    pub async fn put_part(
        &self,
        target: &ResumableTarget,
        digest: &Digest,
        index: usize,
        offset: u64,
        data: Bytes,
    ) -> Result<PartReceipt, StorageError> {
        match (&self.resumable, target) {
            (Resumable::Multipart(m), ResumableTarget::Multipart { upload_id }) => {
                let part = m
                    .put_part(&self.path(digest), upload_id, index, PutPayload::from(data))
                    .await?;
                Ok(PartReceipt(part.content_id))
            }
            (Resumable::Staging { staging, .. }, ResumableTarget::Staging { file }) => {
                let path = staging.join(file);
                tokio::task::spawn_blocking(move || write_at(&path, offset, &data))
                    .await
                    .map_err(join_err)??;
                Ok(PartReceipt(String::new()))
            }
            _ => Err(StorageError::TargetMismatch("part write")),
        }
    }

    /// Makes the blob visible at its content key. Only called once the hash has been checked.
    pub async fn complete_resumable(
        &self,
        target: &ResumableTarget,
        digest: &Digest,
        parts: Vec<PartReceipt>,
    ) -> Result<(), StorageError> {
        match (&self.resumable, target) {
            (Resumable::Multipart(m), ResumableTarget::Multipart { upload_id }) => {
                let parts = parts
                    .into_iter()
                    .map(|p| PartId { content_id: p.0 })
                    .collect();
                m.complete_multipart(&self.path(digest), upload_id, parts)
                    .await?;
                Ok(())
            }
            (Resumable::Staging { local, staging, .. }, ResumableTarget::Staging { file }) => {
                let from = staging.join(file);
                let to = local.path_to_filesystem(&self.path(digest))?;
                tokio::task::spawn_blocking(move || promote(&from, &to))
                    .await
                    .map_err(join_err)?
            }
            _ => Err(StorageError::TargetMismatch("completion")),
        }
    }

    /// Deletes a blob (garbage collection, once nothing refers to it). A blob already gone is
    /// not an error.
    pub async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        match self.store.delete(&self.path(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Throws away an unfinished upload; nothing of it stays visible or billed.
    pub async fn abort_resumable(
        &self,
        target: &ResumableTarget,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        match (&self.resumable, target) {
            (Resumable::Multipart(m), ResumableTarget::Multipart { upload_id }) => {
                match m.abort_multipart(&self.path(digest), upload_id).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            (Resumable::Staging { staging, .. }, ResumableTarget::Staging { file }) => {
                match std::fs::remove_file(staging.join(file)) {
                    Err(e) if e.kind() != ErrorKind::NotFound => {
                        Err(io_err(format!("removing staging file {file}"))(e))
                    }
                    _ => Ok(()),
                }
            }
            _ => Err(StorageError::TargetMismatch("abort")),
        }
    }
}

fn join_err(e: tokio::task::JoinError) -> StorageError {
    StorageError::Io {
        context: "blocking storage task".into(),
        source: std::io::Error::other(e),
    }
}

/// The alignment of memory, offset and length a write must have to bypass the page cache
/// (`O_DIRECT`): a page, a multiple of every disk's logical block size met in practice.
pub const DIRECT_ALIGN: usize = 4096;

/// An empty buffer for one part of `len` bytes whose first byte is [`DIRECT_ALIGN`]ed, so
/// that a part received into it can be written to a staging file without passing through
/// the page cache. Filling it up to `len` never moves it.
pub fn part_buffer(len: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(len + DIRECT_ALIGN);
    let skip = buf.as_ptr().align_offset(DIRECT_ALIGN).min(DIRECT_ALIGN);
    buf.resize(skip, 0);
    buf.advance(skip);
    buf
}

/// The buffer of a written part back, emptied, to receive the next one: None while another
/// holder (a store's client still sending it) keeps a reference.
pub fn reclaim_part(part: Bytes) -> Option<BytesMut> {
    let mut buf = part.try_into_mut().ok()?;
    buf.clear();
    Some(buf)
}

/// Whether `data` written at `offset` may bypass the page cache.
fn direct_ok(offset: u64, data: &[u8]) -> bool {
    cfg!(target_os = "linux")
        && !data.is_empty()
        && offset.is_multiple_of(DIRECT_ALIGN as u64)
        && data.len().is_multiple_of(DIRECT_ALIGN)
        && data.as_ptr().align_offset(DIRECT_ALIGN) == 0
}

/// Writes a part into a staging file. A part that is aligned ([`part_buffer`]; every part
/// but a short last one) goes straight to the disk (`O_DIRECT`): nothing reads an upload's
/// bytes while it is written (the hash is taken from the part in memory), so copying
/// gigabytes of uploads into the page cache would cost CPU (the copy was half the server's
/// time, `perf`) and evict the blobs readers are reading. A file system that refuses direct writes (tmpfs,
/// some network mounts) gets the same bytes buffered. Either way the part is durable only
/// once synced ([`BlobStore::sync_parts`]): a direct write leaves the file's block map and
/// the disk's own cache to the `fdatasync`.
fn write_at(path: &FsPath, offset: u64, data: &[u8]) -> Result<(), StorageError> {
    use std::os::unix::fs::FileExt;
    if direct_ok(offset, data) {
        match open_direct(path).and_then(|f| f.write_all_at(data, offset)) {
            Ok(()) => return Ok(()),
            // Not supported here: the buffered path below writes the whole part again.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {}
            Err(e) => return Err(io_err(format!("writing {}", path.display()))(e)),
        }
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(format!("opening {}", path.display())))?;
    file.write_all_at(data, offset)
        .map_err(io_err(format!("writing {}", path.display())))
}

#[cfg(target_os = "linux")]
fn open_direct(path: &FsPath) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(path)
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &FsPath) -> std::io::Result<std::fs::File> {
    Err(std::io::Error::from_raw_os_error(
        rustix::io::Errno::INVAL.raw_os_error(),
    ))
}

/// Renames a finished staging file into its content key, durably.
fn promote(from: &FsPath, to: &FsPath) -> Result<(), StorageError> {
    let parent = to
        .parent()
        .ok_or_else(|| StorageError::Config(format!("no parent for {}", to.display())))?;
    std::fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    // Its parts were synced as they were recorded; this costs nothing then, and keeps the
    // blob whole across a power cut whoever calls this.
    std::fs::File::open(from)
        .and_then(|f| f.sync_data())
        .map_err(io_err(format!("syncing {}", from.display())))?;
    match std::fs::rename(from, to) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(18) => {
            // EXDEV: staging is on another filesystem. Copy beside the target, then rename.
            let tmp = to.with_extension("incoming");
            std::fs::copy(from, &tmp).map_err(io_err("copying across filesystems"))?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(io_err("syncing copied blob"))?;
            std::fs::rename(&tmp, to).map_err(io_err("renaming copied blob"))?;
            std::fs::remove_file(from).map_err(io_err("removing staging file"))?;
        }
        Err(e) => return Err(io_err(format!("renaming into {}", to.display()))(e)),
    }
    std::fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io_err(format!("syncing {}", parent.display())))
}

/// An S3 body regrouped into blocks of [`RELAY_BLOCK`]: the HTTP client hands over
/// whatever each socket read gave (often a few KiB, each pinning the client's read buffer),
/// so a reader's response is written in big blocks (fewer writes) and a slow reader holds
/// its one block, not many slices of bigger buffers.
fn rechunk(body: ByteStream) -> ByteStream {
    stream::try_unfold((body, false), |(mut body, ended)| async move {
        if ended {
            return Ok(None);
        }
        let mut block = bytes::BytesMut::new();
        while block.len() < RELAY_BLOCK {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    if block.is_empty() && chunk.len() >= RELAY_BLOCK {
                        return Ok(Some((chunk, (body, false))));
                    }
                    if block.is_empty() {
                        block.reserve(RELAY_BLOCK);
                    }
                    block.extend_from_slice(&chunk);
                }
                None if block.is_empty() => return Ok(None),
                None => return Ok(Some((block.freeze(), (body, true)))),
            }
        }
        Ok(Some((block.freeze(), (body, false))))
    })
    .boxed()
}

/// Reads `len` bytes at `offset` only if the page cache holds them all, without blocking
/// (`preadv2` with `RWF_NOWAIT`): a read that would wait for the disk returns None and is
/// done on the blocking pool instead. A cached read then costs no hand-over between
/// threads, the way nginx reads in its event loop, but a cold one never stalls the runtime.
fn read_if_cached(file: &std::fs::File, offset: u64, len: usize) -> Option<Vec<u8>> {
    #[cfg(target_os = "linux")]
    {
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            let mut slices = [std::io::IoSliceMut::new(&mut buf[done..])];
            match rustix::io::preadv2(
                file,
                &mut slices,
                offset + done as u64,
                rustix::io::ReadWriteFlags::NOWAIT,
            ) {
                Ok(0) | Err(_) => return None,
                Ok(n) => done += n,
            }
        }
        Some(buf)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, len);
        None
    }
}

/// Reads `len` bytes at `offset`: from the page cache at once, else on the blocking pool.
/// A block that had to wait for the disk asks the kernel to start reading what follows it,
/// up to `DISK_READ_AHEAD` but never past `end` (the range being streamed), so that the next
/// blocks of a long read are in the page cache when asked for and a short range reads
/// nothing it was not asked for.
async fn read_block(
    file: &Arc<std::fs::File>,
    path: &Arc<PathBuf>,
    offset: u64,
    len: usize,
    end: u64,
) -> Result<Vec<u8>, StorageError> {
    if let Some(buf) = read_if_cached(file, offset, len) {
        return Ok(buf);
    }
    let file = file.clone();
    let path = path.clone();
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)
            .map_err(io_err(format!("reading {}", path.display())))?;
        let next = offset + len as u64;
        advise_will_need(&file, next, end.saturating_sub(next).min(DISK_READ_AHEAD));
        Ok::<_, StorageError>(buf)
    })
    .await
    .map_err(join_err)?
}

/// Asks the kernel to read `len` bytes at `offset` into the page cache in the background
/// (`POSIX_FADV_WILLNEED`). Only advice: a refusal changes nothing but speed.
fn advise_will_need(file: &std::fs::File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    if let Some(len) = std::num::NonZeroU64::new(len) {
        let _ = rustix::fs::fadvise(file, offset, Some(len), rustix::fs::Advice::WillNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// The file of a blob in a local store's (canonical) root: the store's own key
/// ([`Digest::object_path`]; a local store has no prefix) under it, without the store's
/// URL-based mapping.
fn local_file(root: &std::path::Path, digest: &Digest) -> PathBuf {
    root.join(digest.object_path("").as_ref())
}

/// A range of a local blob, streamed block by block.
async fn local_stream(path: PathBuf, range: Range<u64>) -> Result<ByteStream, StorageError> {
    // Opening a blob's path is a metadata lookup the kernel caches: done here, not on the
    // blocking pool.
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StorageError::NotFound(path.display().to_string()));
        }
        Err(e) => return Err(io_err(format!("opening {}", path.display()))(e)),
    };
    Ok(file_stream(file, path, range))
}

fn file_stream(file: std::fs::File, path: PathBuf, range: Range<u64>) -> ByteStream {
    let file = Arc::new(file);
    let path = Arc::new(path);
    stream::try_unfold(range.start, move |pos| {
        let file = file.clone();
        let path = path.clone();
        let end = range.end;
        async move {
            if pos >= end {
                return Ok(None);
            }
            let want = (end - pos).min(FILE_READ_BLOCK as u64) as usize;
            let buf = read_block(&file, &path, pos, want, end).await?;
            Ok(Some((Bytes::from(buf), pos + want as u64)))
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamingHasher;

    async fn round_trip(store: &BlobStore) {
        let part = 5 * 1024 * 1024;
        let data: Vec<u8> = (0..(2 * part + 1234)).map(|i| (i % 253) as u8).collect();
        let mut h = StreamingHasher::new();
        h.update(&data);
        let (digest, _) = h.finish();
        assert_eq!(store.size(&digest).await.unwrap(), None);

        let target = store.begin_resumable(&digest, "u1").await.unwrap();
        let mut receipts = Vec::new();
        for (i, chunk) in data.chunks(part).enumerate() {
            let r = store
                .put_part(
                    &target,
                    &digest,
                    i,
                    (i * part) as u64,
                    Bytes::copy_from_slice(chunk),
                )
                .await
                .unwrap();
            receipts.push(r);
        }
        // Nothing is visible before completion.
        assert_eq!(store.size(&digest).await.unwrap(), None);
        store
            .complete_resumable(&target, &digest, receipts)
            .await
            .unwrap();
        assert_eq!(store.size(&digest).await.unwrap(), Some(data.len() as u64));

        let got: Vec<Bytes> = store
            .read_range(&digest, 10..(part as u64 + 20))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(got.concat(), &data[10..part + 20]);
    }

    /// A long read of an object store is several GETs with one asked ahead; the bytes come
    /// back whole and in order across every piece boundary.
    #[tokio::test]
    async fn long_reads_cross_pieces_in_order() {
        let store = BlobStore::in_memory();
        let piece = READ_AHEAD_PIECE as usize;
        let data: Vec<u8> = (0..(2 * piece + 12_345)).map(|i| (i % 251) as u8).collect();
        let digest = store.put_small(&data).await.unwrap();
        for (lo, hi) in [
            (0, data.len()),
            (5, piece),
            (piece - 1, piece + 1),
            (7, 2 * piece + 1),
            (3, 4),
        ] {
            let mut got = Vec::new();
            let mut s = store
                .read_range(&digest, lo as u64..hi as u64)
                .await
                .unwrap();
            while let Some(chunk) = s.next().await {
                got.extend_from_slice(&chunk.unwrap());
            }
            assert_eq!(got.len(), hi - lo, "{lo}..{hi}");
            assert!(got == data[lo..hi], "{lo}..{hi}");
        }
    }

    #[tokio::test]
    async fn in_memory_round_trip() {
        round_trip(&BlobStore::in_memory()).await;
    }

    #[tokio::test]
    async fn local_round_trip_and_abort() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(&LocalConfig {
            root: dir.path().join("objects"),
            staging: dir.path().join("staging"),
        })
        .unwrap();
        store.check_writable().await.unwrap();
        round_trip(&store).await;
        // Reads find a blob where the store's own mapping puts it.
        let Resumable::Staging { local, root, .. } = &store.resumable else {
            panic!("a local store stages its uploads")
        };
        let some: Digest = "ab".repeat(32).parse().unwrap();
        assert_eq!(
            local_file(root, &some),
            local.path_to_filesystem(&store.path(&some)).unwrap()
        );

        let digest: Digest = "00".repeat(32).parse().unwrap();
        let target = store.begin_resumable(&digest, "u2").await.unwrap();
        store
            .put_part(&target, &digest, 0, 0, Bytes::from_static(b"abc"))
            .await
            .unwrap();
        store.abort_resumable(&target, &digest).await.unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("staging"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(store.size(&digest).await.unwrap(), None);
    }

    /// A part received into a part buffer is aligned for a direct write, lands whole, and
    /// its buffer comes back to receive the next part without moving; anything unaligned is
    /// written through the page cache instead, just as whole.
    #[test]
    fn aligned_parts_bypass_the_cache_and_their_buffers_go_round() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.part");
        std::fs::File::create(&path).unwrap();
        let len = 16 * DIRECT_ALIGN;
        let mut buf = part_buffer(len);
        let at = buf.as_ptr();
        assert_eq!(at.align_offset(DIRECT_ALIGN), 0);
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        buf.extend_from_slice(&data);
        assert_eq!(buf.as_ptr(), at, "filling a part buffer must not move it");
        let part = buf.freeze();
        assert!(direct_ok(len as u64, &part));
        write_at(&path, len as u64, &part).unwrap();

        // Unaligned offset, length or memory: not direct, still written.
        assert!(!direct_ok(100, &part));
        assert!(!direct_ok(0, &part[..1000]));
        assert!(!direct_ok(0, &part[1..DIRECT_ALIGN + 1]));
        assert!(!direct_ok(0, &[]));
        write_at(&path, 0, &part[1..DIRECT_ALIGN + 1]).unwrap();
        write_at(&path, DIRECT_ALIGN as u64, &part[..100]).unwrap();

        let file = std::fs::read(&path).unwrap();
        assert_eq!(file.len(), 2 * len);
        assert_eq!(&file[..DIRECT_ALIGN], &data[1..DIRECT_ALIGN + 1]);
        assert_eq!(&file[DIRECT_ALIGN..DIRECT_ALIGN + 100], &data[..100]);
        assert_eq!(&file[len..], &data[..]);

        // A buffer someone else still holds is not taken back; once it is ours alone, it
        // is, empty, at the same aligned address, with room for a whole part.
        let held = part.clone();
        assert!(reclaim_part(part).is_none());
        let back = reclaim_part(held).expect("the last holder gets the buffer back");
        assert_eq!(back.as_ptr(), at);
        assert!(back.is_empty() && back.capacity() >= len);
    }

    #[tokio::test]
    async fn missing_blob_is_not_found() {
        let store = BlobStore::in_memory();
        let digest: Digest = "11".repeat(32).parse().unwrap();
        assert!(matches!(
            store.read_range(&digest, 0..1).await,
            Err(StorageError::NotFound(_))
        ));
    }
}

//! The application: configuration, database, blob store and metrics, and each feature's own
//! runtime (uploads, indexers, linkers, usage, limits), composed here and shared by every
//! request through `AppState`. Only the HTTP wing and the entry points (`cli`, `backup`) see
//! it: domain modules take the parts they use, so none imports this module
//! (`grep -rln "crate::app" src | grep -v "^src/http/\|^src/app.rs\|^src/cli.rs"` names
//! only `backup.rs`).

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use spindle_storage::{BlobStore, LocalConfig, StorageError};

use crate::config::{Config, StorageBackend};
use crate::db::{Db, DbError};
use crate::images::Indexer;
use crate::linking::Linking;
use crate::metrics::Metrics;
use crate::uploads::Uploads;

pub struct App {
    pub config: Config,
    pub db: Db,
    pub blobs: BlobStore,
    pub metrics: Arc<Metrics>,
    /// Resumable uploads: who is writing which upload now.
    pub uploads: Uploads,
    /// The indexers: their bell and the images this node is reading now.
    pub indexer: Arc<Indexer>,
    /// The linkers: their SRU clients and the bell that wakes them.
    pub linking: Arc<Linking>,
    /// Usage statistics: the event queue, the day keys, the members' networks.
    pub usage: crate::usage::Usage,
    /// Signs readers' access links (shared by every node through the database).
    pub link_secret: Vec<u8>,
    /// Discs and indexed images as the content paths (downloads, ranges, files) read them.
    pub content_rows: crate::discs::ContentRows,
    /// Rate limits per client address.
    pub limits: crate::limits::Limits,
    /// Playing titles: the transcodes running and queued, read from a loopback listener.
    pub media: Arc<crate::media::Media>,
    /// Validates campus sign-on tickets.
    pub sign_on: crate::identity::SignOn,
    /// This process's name in the leases it holds on shared work (see `crate::queue::node_name`).
    pub node: String,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database at {url}: {source}")]
    Database { url: String, source: DbError },
    #[error("cannot migrate the database: {0}")]
    Migrate(DbError),
    #[error("{0}")]
    Schema(DbError),
    #[error("storage ({what}) is not usable: {source}")]
    Storage { what: String, source: StorageError },
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
}

impl App {
    /// Connects to the database and storage, migrates (unless told not to) and proves both
    /// work: start-up fails here, with a clear message, rather than on the first request.
    pub async fn start(config: Config) -> Result<Self, StartupError> {
        let db = connect_db(&config).await?;
        if config.database.auto_migrate {
            db.migrate().await.map_err(StartupError::Migrate)?;
        } else {
            db.ensure_migrated().await.map_err(StartupError::Schema)?;
        }
        let blobs = open_storage(&config)?;
        blobs
            .check_writable()
            .await
            .map_err(|source| StartupError::Storage {
                what: blobs.description().to_string(),
                source,
            })?;
        let link_secret = hex::decode(
            crate::db::members::secret(&db, "link_secret", &crate::auth::random_hex(32))
                .await
                .map_err(StartupError::Schema)?,
        )
        .unwrap_or_default();
        let metrics = Arc::new(Metrics::default());
        let usage = crate::usage::Usage::start(&db, &config, &metrics);
        let limits = crate::limits::Limits::new(&config.limits);
        let uploads = Uploads::new(
            db.clone(),
            blobs.clone(),
            config.upload.clone(),
            metrics.clone(),
        );
        let linking = Arc::new(Linking::new(
            db.clone(),
            config.linking.egress()?,
            metrics.work("link"),
        ));
        let indexer = Arc::new(Indexer::new(
            db.clone(),
            blobs.clone(),
            config.index.clone(),
            metrics.work("index"),
        ));
        let loopback =
            crate::http::loopback::Loopback::new(blobs.clone(), metrics.bytes_out.clone());
        let media = Arc::new(crate::media::Media::new(
            config.media.clone(),
            config.data_dir.join("media-work"),
            Arc::new(loopback),
            metrics.transcodes_started.clone(),
            metrics.transcodes_running.clone(),
        ));
        Ok(Self {
            media,
            indexer,
            uploads,
            linking,
            config,
            db,
            blobs,
            metrics,
            usage,
            link_secret,
            content_rows: crate::discs::ContentRows::default(),
            limits,
            sign_on: crate::identity::SignOn::new(),
            node: crate::queue::node_name(),
        })
    }

    pub fn into_state(self) -> AppState {
        AppState(Arc::new(self))
    }
}

pub async fn connect_db(config: &Config) -> Result<Db, StartupError> {
    let url = config.database_url();
    Db::connect(
        &url,
        config.database.max_connections,
        Duration::from_secs(config.database.connect_timeout_secs),
    )
    .await
    .map_err(|source| StartupError::Database {
        url: crate::config::redact_url(&url),
        source,
    })
}

pub fn open_storage(config: &Config) -> Result<BlobStore, StartupError> {
    let result = match config.storage.backend {
        StorageBackend::Local => BlobStore::local(&LocalConfig {
            root: config.local_storage_path(),
            staging: config.local_staging_path(),
        }),
        StorageBackend::S3 => BlobStore::s3(&config.storage.s3),
    };
    result.map_err(|source| StartupError::Storage {
        what: format!("{:?}", config.storage.backend).to_lowercase(),
        source,
    })
}

//! Configuration: one serde tree, layered defaults → TOML file → `SPINDLE_…` environment →
//! command-line flags. Every key is documented once, in `spindle.example.toml`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use spindle_storage::S3Config;

pub const MIB: u64 = 1024 * 1024;
/// S3 parts must be at least 5 MiB (except the last) and at most 5 GiB.
pub const MIN_PART_SIZE: u64 = 5 * MIB;
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub storage: StorageConfig,
    pub upload: UploadConfig,
    pub index: IndexConfig,
    pub catalogue: CatalogueConfig,
    pub linking: LinkingConfig,
    pub search: SearchConfig,
    pub stats: StatsConfig,
    pub fixity: FixityConfig,
    pub media: MediaConfig,
    pub launch: LaunchConfig,
    pub limits: LimitsConfig,
    pub auth: AuthConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub shutdown_grace_secs: u64,
    /// The address readers and OPACs reach Spindle at (resolver links in 856 fields, the
    /// widget), with `base_path` as its path when that is set. Unset: `http://<listen>` and
    /// `base_path`.
    pub public_url: Option<String>,
    /// The path of the library's site Spindle is mounted under (`/spindle`), with the proxy
    /// passing the path on unchanged; "" at the root. Every page, script, redirect, API
    /// address and the widget carry it.
    pub base_path: String,
    /// Peers (CIDRs, e.g. the campus proxy or load balancer) whose `client_ip_header` is
    /// believed; from anyone else the header is ignored and the socket address is the client.
    pub trusted_proxies: Vec<String>,
    /// The header a trusted proxy puts the client's address in (the last address in it that
    /// is not itself a trusted proxy is taken).
    pub client_ip_header: String,
    /// Who may read `/metrics` (CIDRs, matched against the client address worked out as
    /// above): loopback by default, so a scraper on the same host reads it and readers do not.
    pub metrics_from: Vec<String>,
    /// A connection must send each request's head (request line and headers) within this
    /// many seconds, also while idle between requests; slower clients are disconnected.
    pub header_read_timeout_secs: u64,
    /// Origins (e.g. `https://emulators.example.edu`) whose pages may read discs' bytes by
    /// range from the browser (CORS, without credentials). Empty: only Spindle's own pages.
    pub player_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: Option<String>,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
    pub auto_migrate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    Local,
    S3,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    pub local: LocalStorageConfig,
    pub s3: S3Config,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalStorageConfig {
    pub path: Option<PathBuf>,
    pub staging_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    pub part_size: u64,
    pub max_size: u64,
    pub expiry_secs: u64,
    pub sweep_interval_secs: u64,
    /// A PATCH whose body brings no bytes for this long is ended (408); its whole parts are
    /// kept and the client resumes from Upload-Offset.
    pub body_idle_timeout_secs: u64,
    /// Uploads a member (or, for tokens of no member, a token) may have open at once; 0: no
    /// cap. Beyond it a new upload answers 429 `too-many-uploads`.
    pub max_open_per_member: u64,
    /// Bytes announced by a member's open uploads and not received yet; 0: no cap. Beyond it
    /// a new upload answers 429 `too-many-bytes-pending`.
    pub max_pending_bytes_per_member: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("spindle-data"),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            storage: StorageConfig::default(),
            upload: UploadConfig::default(),
            index: IndexConfig::default(),
            catalogue: CatalogueConfig::default(),
            linking: LinkingConfig::default(),
            search: SearchConfig::default(),
            stats: StatsConfig::default(),
            fixity: FixityConfig::default(),
            media: MediaConfig::default(),
            launch: LaunchConfig::default(),
            limits: LimitsConfig::default(),
            auth: AuthConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            shutdown_grace_secs: 30,
            public_url: None,
            base_path: String::new(),
            trusted_proxies: Vec::new(),
            client_ip_header: "x-forwarded-for".into(),
            metrics_from: vec!["127.0.0.0/8".into(), "::1/128".into()],
            header_read_timeout_secs: 30,
            player_origins: Vec::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
            connect_timeout_secs: 5,
            auto_migrate: true,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Local,
            local: LocalStorageConfig::default(),
            s3: S3Config::default(),
        }
    }
}

/// Reading stored images into file tables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexConfig {
    /// Images read at once on this node.
    pub workers: usize,
    /// How long a node holds an image it is reading before another node may take it over.
    pub lease_secs: u64,
    /// Most files and directories one image may have.
    pub max_entries: usize,
}

/// Where linking may connect: members' catalogues (SRU, OAI-PMH) are reached only at public
/// addresses, and at the private networks listed here (campus systems often sit on one).
/// Loopback and link-local are refused unless listed; cloud metadata addresses always are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkingConfig {
    /// CIDRs, e.g. `["10.20.0.0/16"]`.
    pub allow_networks: Vec<String>,
}

impl LinkingConfig {
    /// The rule the catalogue clients connect by.
    pub fn egress(&self) -> Result<spindle_integrations::egress::Egress, ConfigError> {
        let networks = self
            .allow_networks
            .iter()
            .map(|n| spindle_integrations::egress::Network::parse(n))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::Invalid(format!("linking.allow_networks: {e}")))?;
        Ok(spindle_integrations::egress::Egress::new(networks))
    }
}

/// Readers' search.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Matches one query considers (its count, facets and order are of these); past it the
    /// page asks the reader to narrow the search. Each match is a row of text and a row of
    /// facts read, one page each on a cold cache.
    pub max_matches: u32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { max_matches: 1000 }
    }
}

/// Links to members' catalogues.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogueConfig {
    /// How often linked records are fetched again (deletions, changes); 0 turns it off.
    pub resync_hours: u64,
}

/// Playing discs' video and audio in the browser: titles a browser cannot decode are
/// transcoded by ffmpeg into HLS segments, on demand, and the segments kept in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// The ffmpeg and ffprobe programs (Debian's packages).
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    /// Transcodes running at once on this node, and requests that may wait for one beyond
    /// that (more are answered 503 with Retry-After).
    pub max_jobs: usize,
    pub queue: usize,
    /// Threads each ffmpeg may use.
    pub threads: usize,
    /// The x264 preset (`ultrafast` … `veryslow`): faster presets cost fewer CPU seconds and
    /// more bytes.
    pub preset: String,
    /// Each HLS segment's length in seconds.
    pub segment_secs: u32,
    /// Transcoded segments kept in the store, at most this many MiB (least recently used
    /// go first).
    pub cache_mib: u64,
    /// A transcode no reader has asked anything of for this long is stopped.
    pub idle_secs: u64,
    /// How long a request for a segment waits for the transcode making it.
    pub wait_secs: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
            max_jobs: 2,
            queue: 16,
            threads: 1,
            preset: "veryfast".into(),
            segment_secs: 4,
            cache_mib: 10_240,
            idle_secs: 60,
            wait_secs: 60,
        }
    }
}

/// Running discs: in the browser (v86, an x86 PC in WebAssembly) and as a drive (WebDAV).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LaunchConfig {
    /// The largest disc (and environment hard disk) the page loads whole into the emulator;
    /// larger discs are offered as a drive only (v86's streaming CD-ROM is marked unstable by
    /// its maintainer).
    pub emulation_max_bytes: u64,
}

impl Default for LaunchConfig {
    fn default() -> Self {
        Self {
            emulation_max_bytes: 700 << 20,
        }
    }
}

/// x264's presets, fastest first.
pub const X264_PRESETS: [&str; 9] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
];

/// Fixity: re-hashing stored blobs to prove their bytes still match their keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FixityConfig {
    /// How fast blobs are re-read, in MB/s (0: as fast as the store gives them), so that
    /// checking never crowds out readers.
    pub rate_mb_per_s: u64,
    /// A blob is checked again this many days after its last check.
    pub reverify_days: u64,
    /// How often the server looks for blobs due (0: only `spindle fsck` checks).
    pub interval_secs: u64,
    /// A node claims each blob it checks for this long, renewing the claim while it reads, so
    /// two nodes never read the same blob in one pass; a dead node's claim lapses after it.
    pub lease_secs: u64,
}

impl Default for FixityConfig {
    fn default() -> Self {
        Self {
            rate_mb_per_s: 50,
            reverify_days: 90,
            interval_secs: 3600,
            lease_secs: 60,
        }
    }
}

/// Rate limits per client address (see `crate::limits`); 0 turns one off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Refused credentials (wrong staff token, sign-in or SUSHI key) per minute before the
    /// address may not try any for the rest of the minute.
    pub auth_failures_per_minute: u32,
    /// Searches, zips, SUSHI reports, exports and statistics tables per minute, per address
    /// (or per proven credential).
    pub expensive_per_minute: u32,
    /// The same for an address in a member's network ranges: a campus behind a few NAT
    /// addresses.
    pub expensive_per_minute_member_network: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            auth_failures_per_minute: 20,
            expensive_per_minute: 120,
            expensive_per_minute_member_network: 1200,
        }
    }
}

/// Browser sessions: staff (signed in with a token or the campus sign-on) and readers
/// (signed in with their library's sign-on). A session ends at whichever limit comes first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The longest a staff session lasts, however active.
    pub staff_session_hours: u64,
    /// A staff session ends after this long without a request.
    pub staff_idle_minutes: u64,
    /// The longest a reader's sign-on session lasts.
    pub reader_session_hours: u64,
    /// A reader's session ends after this long without a request.
    pub reader_idle_minutes: u64,
    /// Sign-on by a proxy in front that has already authenticated the person (a Shibboleth SP
    /// for SAML/CARSI, `mod_auth_cas`, oauth2-proxy) and says who they are in headers.
    pub proxy: ProxyAuthConfig,
}

/// The headers a signing-in proxy sets. They are believed only from `http.trusted_proxies`
/// and removed from every other request before any handler sees it; the proxy must set
/// (or clear) them on every request it passes on, so a client cannot send its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyAuthConfig {
    /// The header with the person's user name (`REMOTE_USER`'s header, e.g. `X-Remote-User`;
    /// with CARSI, a header carrying `eduPersonPrincipalName` or `eduPersonTargetedID`).
    /// Empty: no member can use proxy sign-on.
    pub user_header: String,
    /// Headers with the person's attributes, each an attribute of the same name for the
    /// staff rules (e.g. `eduPersonScopedAffiliation`); several values are separated by `;`,
    /// as a Shibboleth SP sends them.
    pub attribute_headers: Vec<String>,
    /// The attribute that names the person's institution: a value `affiliation@scope` or
    /// `scope` is matched against the `scope` each member's proxy sign-on names (e.g.
    /// `pku.edu.cn`). A person is a member's only when it holds that member's scope.
    pub member_attribute: String,
}

impl ProxyAuthConfig {
    /// Every header the proxy sets, lower-cased (the ones stripped from untrusted requests).
    pub fn headers(&self) -> Vec<String> {
        std::iter::once(&self.user_header)
            .chain(&self.attribute_headers)
            .filter(|h| !h.is_empty())
            .map(|h| h.to_ascii_lowercase())
            .collect()
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            staff_session_hours: 12,
            staff_idle_minutes: 120,
            reader_session_hours: 24,
            reader_idle_minutes: 240,
            proxy: ProxyAuthConfig::default(),
        }
    }
}

impl AuthConfig {
    pub fn staff_secs(&self) -> i64 {
        i64::try_from(self.staff_session_hours.saturating_mul(3600)).unwrap_or(i64::MAX)
    }
    pub fn staff_idle_secs(&self) -> i64 {
        i64::try_from(self.staff_idle_minutes.saturating_mul(60)).unwrap_or(i64::MAX)
    }
    pub fn reader_secs(&self) -> i64 {
        i64::try_from(self.reader_session_hours.saturating_mul(3600)).unwrap_or(i64::MAX)
    }
    pub fn reader_idle_secs(&self) -> i64 {
        i64::try_from(self.reader_idle_minutes.saturating_mul(60)).unwrap_or(i64::MAX)
    }
}

/// Usage statistics (COUNTER R5.1) and the SUSHI API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsConfig {
    /// Events waiting to be written; beyond this they are dropped (and counted in /metrics)
    /// rather than slowing a request.
    pub queue: usize,
    /// Events are written at least this often (and at shutdown): at a crash, at most this
    /// much usage is lost.
    pub flush_ms: u64,
    /// How often closed days are rolled up into the daily figures.
    pub rollup_interval_secs: u64,
    /// Raw (pseudonymous) events are deleted this many days after their month closed.
    pub raw_retention_days: u64,
    /// The platform's name in reports, and its id (the prefix of Proprietary identifiers).
    pub platform: String,
    pub platform_id: String,
    /// Who made the reports (`Created_By`).
    pub created_by: String,
    /// The consortium's SUSHI customer_id and name (its reports sum its members' usage).
    pub consortium_customer_id: String,
    pub consortium_name: String,
    /// Where the consortium's days and months begin: the daily and monthly figures, COUNTER
    /// reports, "today" on the dashboard and every date staff and readers see.
    pub time_zone: crate::calendar::Zone,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            queue: 65_536,
            flush_ms: 1000,
            rollup_interval_secs: 600,
            raw_retention_days: 92,
            platform: "Spindle".into(),
            platform_id: "spindle".into(),
            created_by: "Spindle".into(),
            consortium_customer_id: "consortium".into(),
            consortium_name: "The consortium".into(),
            time_zone: crate::calendar::Zone::default(),
        }
    }
}

impl Default for CatalogueConfig {
    fn default() -> Self {
        Self { resync_hours: 24 }
    }
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            lease_secs: 900,
            max_entries: 2_000_000,
        }
    }
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            part_size: 8 * MIB,
            max_size: 20 * 1024 * MIB,
            expiry_secs: 24 * 3600,
            sweep_interval_secs: 300,
            body_idle_timeout_secs: 60,
            max_open_per_member: 64,
            max_pending_bytes_per_member: 1 << 40,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Values given on the command line; they override every other layer.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
}

impl Config {
    /// Loads the layers. `file` is the `--config` path; without it `./spindle.toml` is read
    /// when present.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let file = match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.into())),
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from("spindle.toml")).filter(|p| p.exists()),
        };
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(
            Env::prefixed("SPINDLE_")
                .split("__")
                // SPINDLE_CONFIG names the file; SPINDLE_TEST_* belong to the test suite.
                .filter(|key| {
                    let key = key.as_str().to_ascii_lowercase();
                    key != "config" && !key.starts_with("test_")
                }),
        );
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("data_dir", dir));
        }
        if let Some(listen) = &overrides.listen {
            figment = figment.merge(Serialized::default("http.listen", listen));
        }
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.linking.egress()?;
        if !(1..=100_000).contains(&self.search.max_matches) {
            return Err(ConfigError::Invalid(format!(
                "search.max_matches must be between 1 and 100000, got {}",
                self.search.max_matches
            )));
        }
        let a = &self.auth;
        if [
            a.staff_session_hours,
            a.staff_idle_minutes,
            a.reader_session_hours,
            a.reader_idle_minutes,
        ]
        .contains(&0)
        {
            return Err(ConfigError::Invalid(
                "auth: session hours and idle minutes must be at least 1".into(),
            ));
        }
        let proxy = &a.proxy;
        for h in proxy.headers() {
            if axum::http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(ConfigError::Invalid(format!(
                    "auth.proxy: {h:?} is not a header name"
                )));
            }
        }
        if !proxy.user_header.is_empty()
            && !proxy
                .attribute_headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&proxy.member_attribute))
        {
            return Err(ConfigError::Invalid(format!(
                "auth.proxy.member_attribute {:?} must name one of auth.proxy.attribute_headers (the attribute whose scope names the member)",
                proxy.member_attribute
            )));
        }
        if !proxy.user_header.is_empty() && self.http.trusted_proxies.is_empty() {
            return Err(ConfigError::Invalid(
                "auth.proxy.user_header needs http.trusted_proxies (the proxy whose headers are believed)".into(),
            ));
        }
        let base = &self.http.base_path;
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        };
        let base_ok = base.is_empty()
            || base
                .strip_prefix('/')
                .is_some_and(|rest| rest.split('/').all(segment_ok));
        if !base_ok {
            return Err(ConfigError::Invalid(format!(
                "http.base_path must be empty or a path like /spindle (letters, digits, -._~; no trailing /), got {base:?}"
            )));
        }
        if let Some(public) = &self.http.public_url {
            let path = public
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                .unwrap_or("")
                .trim_end_matches('/');
            if !path.is_empty() && path != base {
                return Err(ConfigError::Invalid(format!(
                    "http.public_url's path {path:?} must be http.base_path ({base:?})"
                )));
            }
        }
        let part = self.upload.part_size;
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part) {
            return Err(ConfigError::Invalid(format!(
                "upload.part_size must be between {MIN_PART_SIZE} (5 MiB) and {MAX_PART_SIZE} (5 GiB) bytes, got {part}"
            )));
        }
        // S3 allows at most 10,000 parts per upload.
        if self.upload.max_size > part * 10_000 {
            return Err(ConfigError::Invalid(format!(
                "upload.max_size {} needs more than 10,000 parts of upload.part_size {part}",
                self.upload.max_size
            )));
        }
        if self.upload.expiry_secs == 0
            || self.upload.sweep_interval_secs == 0
            || self.upload.body_idle_timeout_secs == 0
        {
            return Err(ConfigError::Invalid(
                "upload.expiry_secs, upload.sweep_interval_secs and upload.body_idle_timeout_secs must be positive".into(),
            ));
        }
        if self.fixity.lease_secs == 0 {
            return Err(ConfigError::Invalid(
                "fixity.lease_secs must be positive".into(),
            ));
        }
        if self.index.workers == 0 || self.index.lease_secs == 0 || self.index.max_entries == 0 {
            return Err(ConfigError::Invalid(
                "index.workers, index.lease_secs and index.max_entries must be positive".into(),
            ));
        }
        let m = &self.media;
        if m.max_jobs == 0
            || m.threads == 0
            || !(1..=60).contains(&m.segment_secs)
            || m.idle_secs == 0
            || m.wait_secs == 0
        {
            return Err(ConfigError::Invalid(
                "media.max_jobs, media.threads, media.idle_secs and media.wait_secs must be positive, media.segment_secs between 1 and 60".into(),
            ));
        }
        if m.cache_mib < 16 {
            return Err(ConfigError::Invalid(format!(
                "media.cache_mib must be at least 16 (a few titles' segments), got {}",
                m.cache_mib
            )));
        }
        if self.launch.emulation_max_bytes < 1_474_560 {
            return Err(ConfigError::Invalid(format!(
                "launch.emulation_max_bytes must be at least 1474560 (a floppy), got {}",
                self.launch.emulation_max_bytes
            )));
        }
        if !X264_PRESETS.contains(&m.preset.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "media.preset must be one of {}, got {:?}",
                X264_PRESETS.join(", "),
                m.preset
            )));
        }
        if self.http.header_read_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "http.header_read_timeout_secs must be positive".into(),
            ));
        }
        for (key, cidrs) in [
            ("http.trusted_proxies", &self.http.trusted_proxies),
            ("http.metrics_from", &self.http.metrics_from),
        ] {
            parse_cidrs(cidrs).map_err(|e| ConfigError::Invalid(format!("{key}: {e}")))?;
        }
        let s3 = &self.storage.s3;
        if s3.redirect_downloads && self.storage.backend != StorageBackend::S3 {
            return Err(ConfigError::Invalid(
                "storage.s3.redirect_downloads needs storage.backend = \"s3\" (a local directory has no addresses to redirect to)".into(),
            ));
        }
        if !(1..=604_800).contains(&s3.redirect_secs) {
            return Err(ConfigError::Invalid(format!(
                "storage.s3.redirect_secs must be between 1 and 604800 (S3's longest presigned address, 7 days), got {}",
                s3.redirect_secs
            )));
        }
        if let Some(public) = &s3.public_endpoint
            && !(public.starts_with("http://") || public.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(format!(
                "storage.s3.public_endpoint must be an http(s) address, got {public:?}"
            )));
        }
        if self.storage.backend == StorageBackend::S3 && self.storage.s3.bucket.is_empty() {
            return Err(ConfigError::Invalid(
                "storage.backend = \"s3\" needs storage.s3.bucket".into(),
            ));
        }
        if let Some(url) = &self.database.url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid(
                "database.url must start with sqlite:, postgres:// or postgresql://".into(),
            ));
        }
        Ok(())
    }

    /// The public base URL (with `http.base_path`), without a trailing slash.
    pub fn public_url(&self) -> String {
        let base = &self.http.base_path;
        let url = match &self.http.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.http.listen),
        };
        if base.is_empty() || url.ends_with(base.as_str()) {
            url
        } else {
            format!("{url}{base}")
        }
    }

    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("spindle.db").display()),
        }
    }

    pub fn local_storage_path(&self) -> PathBuf {
        self.storage
            .local
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("objects"))
    }

    pub fn local_staging_path(&self) -> PathBuf {
        self.storage
            .local
            .staging_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("staging"))
    }

    /// The configuration as TOML with secrets replaced, for `print-config`.
    pub fn redacted_toml(&self) -> Result<String, ConfigError> {
        let mut shown = self.clone();
        shown.database.url = Some(redact_url(&self.database_url()));
        if shown.storage.s3.secret_access_key.is_some() {
            shown.storage.s3.secret_access_key = Some("<redacted>".into());
        }
        toml::to_string_pretty(&shown).map_err(|e| ConfigError::Invalid(e.to_string()))
    }
}

/// Replaces the password of a `scheme://user:password@host/...` URL.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:<redacted>@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// Parses CIDRs (a bare address is a /32 or /128): the address lists of the settings and of
/// members' networks.
pub fn parse_cidrs(list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| {
                    format!(
                        "{s:?} is not an address range (CIDR such as 192.0.2.0/24 or 2001:db8::/32)"
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://spindle:s3cret@db:5432/spindle?sslmode=require"),
            "postgres://spindle:<redacted>@db:5432/spindle?sslmode=require"
        );
        assert_eq!(
            redact_url("sqlite://data/spindle.db"),
            "sqlite://data/spindle.db"
        );
    }

    #[test]
    fn proxy_sign_on_needs_a_trusted_proxy_and_its_member_attribute() {
        let mut c = Config::default();
        c.auth.proxy.user_header = "X-Remote-User".into();
        c.auth.proxy.attribute_headers = vec!["eduPersonScopedAffiliation".into()];
        c.auth.proxy.member_attribute = "eduPersonScopedAffiliation".into();
        let said = |c: &Config| c.validate().err().map(|e| e.to_string());
        assert!(said(&c).is_some_and(|e| e.contains("http.trusted_proxies")));
        c.http.trusted_proxies = vec!["10.0.0.5/32".into()];
        assert_eq!(said(&c), None);
        c.auth.proxy.member_attribute = "affiliation".into();
        assert!(said(&c).is_some_and(|e| e.contains("member_attribute")));
        c.auth.proxy.member_attribute = "eduPersonScopedAffiliation".into();
        c.auth.proxy.attribute_headers.push("bad header".into());
        assert!(said(&c).is_some_and(|e| e.contains("not a header name")));
    }

    #[test]
    fn redirected_downloads_need_s3() {
        let mut c = Config::default();
        c.storage.s3.redirect_downloads = true;
        let said = |c: &Config| c.validate().err().map(|e| e.to_string());
        assert!(said(&c).is_some_and(|e| e.contains("storage.backend")));
        c.storage.backend = StorageBackend::S3;
        c.storage.s3.bucket = "b".into();
        assert_eq!(said(&c), None);
        c.storage.s3.redirect_secs = 0;
        assert!(said(&c).is_some_and(|e| e.contains("redirect_secs")));
        c.storage.s3.redirect_secs = 60;
        c.storage.s3.public_endpoint = Some("s3.example.edu".into());
        assert!(said(&c).is_some_and(|e| e.contains("public_endpoint")));
    }

    #[test]
    fn a_search_considers_at_least_one_match() {
        let mut c = Config::default();
        assert!(c.validate().is_ok());
        for bad in [0, 100_001] {
            c.search.max_matches = bad;
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("search.max_matches"), "{e}");
        }
    }

    #[test]
    fn rejects_small_parts() {
        let mut c = Config::default();
        c.upload.part_size = MIB;
        assert!(c.validate().is_err());
        c.upload.part_size = 8 * MIB;
        assert!(c.validate().is_ok());
    }

    #[test]
    fn base_paths() {
        let mut c = Config::default();
        for bad in ["spindle", "/spindle/", "/a//b", "/..", "/a b", "/a?b"] {
            c.http.base_path = bad.into();
            assert!(c.validate().is_err(), "{bad}");
        }
        c.http.base_path = "/library/spindle".into();
        assert!(c.validate().is_ok());
        assert!(c.public_url().ends_with("/library/spindle"));
        c.http.public_url = Some("https://lib.example.edu/library/spindle/".into());
        assert!(c.validate().is_ok());
        assert_eq!(c.public_url(), "https://lib.example.edu/library/spindle");
        c.http.public_url = Some("https://lib.example.edu/other".into());
        assert!(c.validate().is_err());
        c.http.public_url = Some("https://lib.example.edu".into());
        assert_eq!(c.public_url(), "https://lib.example.edu/library/spindle");
    }
}

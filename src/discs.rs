//! Discs: registering a member's copy of a stored image with the identifiers the library
//! knows it by, reading them back with the facts of their image, deciding who may take the
//! image, and a disc's addresses (its files and folder pages).

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;
use spindle_image::{AudioTrack, Boot};
use spindle_integrations::isbn::Isbn;
use spindle_storage::{BlobStore, Digest};

use crate::access::Viewer;
use crate::auth::{Role, Staff};
use crate::db::{
    self, Db,
    discs::{DiscRow, NewDisc},
};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::images::{self, Layout};
use crate::state::{ImageStatus, LinkStatus};

pub use spindle_client::api::RegisterDisc;

#[derive(Debug, Serialize)]
pub struct DiscView {
    pub id: i64,
    pub member: String,
    pub sha256: String,
    pub size: i64,
    pub filename: String,
    pub label: Option<String>,
    pub isbn: Option<String>,
    pub isbn10: Option<String>,
    pub barcode: Option<String>,
    pub record_id: Option<String>,
    pub disc_number: i64,
    pub open: bool,
    pub created_at: i64,
    pub image_url: String,
    /// Linking to the member's catalogue (`failed` with `link_error`).
    pub link_status: LinkStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_error: Option<String>,
    /// The records this disc is linked to or may be (the single-disc view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<crate::linking::LinkView>>,
    /// What is on the image, once read (the single-disc view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageView>,
    /// Every way to launch the disc (the single-disc view only): its start page, the player,
    /// a drive on the reader's computer, the emulator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launches: Option<Vec<crate::environments::Launch>>,
}

impl From<DiscRow> for DiscView {
    fn from(d: DiscRow) -> Self {
        let isbn10 = d
            .isbn
            .as_deref()
            .and_then(|i| Isbn::parse(i).ok())
            .and_then(|i| i.isbn10());
        Self {
            image_url: crate::site::here(format!("/api/v1/discs/{}/image", d.id)),
            id: d.id,
            member: d.member_code,
            sha256: d.sha256,
            size: d.size,
            filename: d.filename,
            label: d.label,
            isbn: d.isbn,
            isbn10,
            barcode: d.barcode,
            record_id: d.record_id,
            disc_number: d.disc_number,
            open: d.is_open,
            created_at: d.created_at,
            link_status: d.link_status,
            link_error: d.link_error,
            links: None,
            image: None,
            launches: None,
        }
    }
}

pub enum Registered {
    Created(DiscView),
    /// The same disc (member, barcode, disc number and image) was registered before.
    Existing(DiscView),
}

fn text_field<'a>(name: &str, value: &'a Option<String>, max: usize) -> AppResult<Option<&'a str>> {
    let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.len() > max {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidField,
            detail!("err_field_too_long", name = name, max = max),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidField,
            detail!("err_field_control", name = name),
        ));
    }
    Ok(Some(v))
}

/// The member a staff request acts for: the one it names, else a librarian's own (admins
/// must name one); refused when the caller may not act for it.
pub async fn member_for(
    db: &Db,
    staff: &Staff,
    named: Option<&str>,
) -> AppResult<db::members::Member> {
    let member = match (named, staff.role) {
        (Some(code), _) => db::members::by_code(db, code).await?.ok_or_else(|| {
            AppError::unprocessable(
                ErrorCode::UnknownMember,
                detail!("err_no_member", code = code),
            )
        })?,
        (None, Role::Librarian) => {
            let code = staff.member_code.as_deref().unwrap_or_default();
            db::members::by_code(db, code)
                .await?
                .ok_or_else(|| AppError::internal("token member", &code))?
        }
        (None, Role::Admin) => {
            return Err(AppError::unprocessable(
                ErrorCode::MemberRequired,
                detail!("err_admin_names_member"),
            ));
        }
    };
    if !staff.may_act_for(member.id) {
        return Err(AppError::forbidden(detail!("err_register_own")));
    }
    Ok(member)
}

pub async fn register(
    db: &Db,
    blobs: &BlobStore,
    indexer: &crate::images::Indexer,
    linking: &crate::linking::Linking,
    staff: &Staff,
    req: RegisterDisc,
) -> AppResult<Registered> {
    let member = member_for(db, staff, req.member.as_deref()).await?;
    let digest: Digest = req.sha256.parse().map_err(|e| {
        AppError::unprocessable(
            ErrorCode::InvalidSha256,
            detail!("err_sha256", field = "sha256", reason = e),
        )
    })?;
    let sha256 = digest.to_hex();
    // A wrong check digit is kept as it is: books and catalogues carry misprinted ISBNs, and
    // catalogues match them as stored.
    let isbn = match text_field("isbn", &req.isbn, 64)? {
        Some(raw) => Some(match Isbn::parse(raw) {
            Ok(i) => i.isbn13(),
            Err(spindle_integrations::isbn::IsbnError::CheckDigit(_)) => {
                Isbn::digits(raw).unwrap_or_else(|| raw.to_string())
            }
            Err(e) => {
                return Err(AppError::unprocessable(
                    ErrorCode::InvalidIsbn,
                    detail!("err_isbn", reason = e),
                ));
            }
        }),
        None => None,
    };
    let disc_number = req.disc_number.unwrap_or(1);
    if !(1..=999).contains(&disc_number) {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidField,
            detail!("err_disc_number"),
        ));
    }
    let default_name = format!("{}.iso", &sha256[..12]);
    let filename = text_field("filename", &req.filename, 255)?.unwrap_or(&default_name);
    if filename.contains(['/', '\\']) {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidField,
            detail!("err_filename_separators"),
        ));
    }
    let new = NewDisc {
        member_id: member.id,
        sha256: &sha256,
        filename,
        label: text_field("label", &req.label, 1024)?,
        isbn: isbn.as_deref(),
        barcode: text_field("barcode", &req.barcode, 64)?,
        record_id: text_field("record_id", &req.record_id, 256)?,
        disc_number,
        is_open: req.open.unwrap_or(false),
        title_hint: text_field("title", &req.title, 1024)?,
        year_hint: match req.year {
            Some(y) if !(1000..=2999).contains(&y) => {
                return Err(AppError::unprocessable(
                    ErrorCode::InvalidField,
                    detail!("err_year"),
                ));
            }
            y => y,
        },
        link_status: if db::catalogue::get(db, member.id).await?.is_some() {
            LinkStatus::Pending
        } else {
            LinkStatus::NoCatalogue
        },
    };
    let Some(blob) = db::blobs::get(db, &sha256).await? else {
        return Err(AppError::unprocessable(
            ErrorCode::BlobNotFound,
            detail!("err_no_image_blob", sha256 = sha256),
        ));
    };
    // The first registration of an image decides its format and parts; later ones reuse it.
    let new_parts = match db::images::get(db, &sha256).await? {
        None => Some(images::check_new(db, blobs, digest, blob.size as u64, &req.parts).await?),
        Some(_) => None,
    };
    // The member must hold the image and every part of it, not merely know their hashes.
    let mut needed = vec![sha256.clone()];
    match &new_parts {
        Some(parts) => needed.extend(parts.iter().map(|(_, sha)| sha.clone())),
        None => needed.extend(
            db::images::parts(db, &sha256)
                .await?
                .into_iter()
                .map(|p| p.part_sha256),
        ),
    }
    crate::possession::require(db, staff, &member, &needed).await?;
    if let Some(parts) = new_parts {
        db::images::enqueue(db, &sha256, &parts).await?;
        indexer.wake();
    }
    if new.barcode.is_none()
        && let Some(existing) = db::discs::same_unbarcoded(db, &new).await?
    {
        return Ok(Registered::Existing(existing.into()));
    }
    match db::discs::insert(db, &new).await? {
        Ok(id) => {
            if new.link_status == LinkStatus::Pending {
                linking.wake();
            }
            Ok(Registered::Created(get_row(db, id).await?.into()))
        }
        Err(db::discs::BarcodeTaken) => {
            let barcode = new.barcode.unwrap_or_default();
            let existing = db::discs::by_barcode(db, member.id, barcode, disc_number)
                .await?
                .ok_or_else(|| AppError::internal("barcode conflict without a row", &barcode))?;
            if existing.sha256 == sha256 {
                Ok(Registered::Existing(existing.into()))
            } else {
                Err(AppError::conflict(
                    ErrorCode::DiscConflict,
                    detail!(
                        "err_disc_conflict",
                        member = &member.code,
                        number = disc_number,
                        barcode = barcode,
                        disc = existing.id
                    ),
                ))
            }
        }
    }
}

async fn get_row(db: &Db, id: i64) -> AppResult<DiscRow> {
    db::discs::get(db, id).await?.ok_or_else(|| {
        AppError::not_found(ErrorCode::DiscNotFound, detail!("err_no_disc", id = id))
    })
}

/// The disc, if the caller may read its content (the image, its files, its tracks). The row
/// may be up to two seconds old: what decides access and names the content (member, open,
/// image) never changes once a disc is registered; the catalogue fields, which do, are not
/// read on these paths.
pub async fn content_readable(
    db: &Db,
    rows: &ContentRows,
    viewer: &Viewer,
    id: i64,
) -> AppResult<DiscRow> {
    let disc = match rows.discs.get(&id) {
        Some(d) => d,
        None => {
            let d = get_row(db, id).await?;
            rows.discs.put(id, d.clone());
            d
        }
    };
    let disc = admit(viewer, disc)?;
    if disc.fixity_failed_at.is_some() {
        // Its bytes are known not to be the image (nor to match its ETag): none are served
        // until the operators restore them from a backup and `spindle fsck` clears the flag.
        return Err(AppError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ImageFailedFixity,
            detail!("err_failed_fixity"),
        ));
    }
    Ok(disc)
}

/// Parses a disc id from a path segment; anything else is simply not a disc.
pub fn parse_id(raw: &str) -> AppResult<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        AppError::not_found(ErrorCode::DiscNotFound, detail!("err_no_disc", id = raw))
    })
}

/// The disc, if the caller may read it (and so take its image).
pub async fn readable(db: &Db, viewer: &Viewer, id: i64) -> AppResult<DiscRow> {
    admit(viewer, get_row(db, id).await?)
}

/// The disc, noted by the viewer (for counting), if the viewer may read it.
fn admit(viewer: &Viewer, disc: DiscRow) -> AppResult<DiscRow> {
    viewer.read.note(disc.id, disc.is_open);
    viewer.may_read(&disc)?;
    Ok(disc)
}

pub async fn list(
    db: &Db,
    staff: &Staff,
    member: Option<&str>,
    after: i64,
    limit: i64,
) -> AppResult<Vec<DiscView>> {
    let code = member.or(staff.member_code.as_deref()).ok_or_else(|| {
        AppError::unprocessable(ErrorCode::MemberRequired, detail!("err_list_names_member"))
    })?;
    let member = db::members::by_code(db, code).await?.ok_or_else(|| {
        AppError::not_found(
            ErrorCode::MemberNotFound,
            detail!("err_no_member", code = code),
        )
    })?;
    if !staff.may_act_for(member.id) {
        return Err(AppError::forbidden(detail!("err_list_own")));
    }
    let rows = db::discs::list_for_member(db, member.id, after, limit.clamp(1, 1000)).await?;
    Ok(rows.into_iter().map(DiscView::from).collect())
}

pub use crate::db::discs::StaffFilter;

/// The other discs of the same book or image (its set, other members' copies), for its page.
pub async fn related(db: &Db, disc: &DiscRow) -> AppResult<Vec<DiscRow>> {
    Ok(db::discs::related(db, disc).await?)
}

/// What a disc is called on its pages: its label, or else its file name ("" for none).
pub async fn title(db: &Db, id: i64) -> AppResult<String> {
    Ok(db::discs::get(db, id)
        .await?
        .map(|d| title_of(&d))
        .unwrap_or_default())
}

/// [`title`] of a disc already read.
pub fn title_of(d: &DiscRow) -> String {
    d.label.clone().unwrap_or_else(|| d.filename.clone())
}

/// A member's discs as its librarians' list shows them: one page of discs, the count of all,
/// how many are in each linking and reading state, and the last week's uploads.
pub struct StaffOverview {
    pub discs: Vec<db::discs::StaffDiscRow>,
    pub total: i64,
    /// (link status, image status, discs).
    pub counts: Vec<(LinkStatus, Option<ImageStatus>, i64)>,
    pub uploads: Vec<db::uploads::MemberUpload>,
}

pub async fn staff_overview(
    db: &Db,
    member_id: i64,
    filter: db::discs::StaffFilter,
    offset: i64,
    limit: i64,
) -> AppResult<StaffOverview> {
    let listed = db::discs::staff_list(db, member_id, filter, offset, limit);
    let counted = db::discs::staff_counts(db, member_id);
    let uploaded = db::uploads::for_member(db, member_id, db::now() - 7 * 86_400, 100);
    let ((discs, total), counts, uploads) = tokio::try_join!(listed, counted, uploaded)?;
    Ok(StaffOverview {
        discs,
        total,
        counts,
        uploads,
    })
}

/// How many of a member's discs are linked to a catalogue record (what an 856 export holds).
pub async fn linked_count(db: &Db, member_id: i64) -> AppResult<i64> {
    Ok(db::discs::staff_counts(db, member_id)
        .await?
        .iter()
        .filter(|(link, _, _)| *link == LinkStatus::Linked)
        .map(|(_, _, n)| n)
        .sum())
}

/// Characters escaped in a path segment of a URL (RFC 3986 pchar, plus `%`).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// A folder's page for readers.
pub fn browse_url(disc: i64, path: &str) -> String {
    crate::site::here(format!("/discs/{disc}/browse/{}", encode_path(path)))
}

/// A folder as one ZIP file (the whole disc for "").
pub fn zip_url(disc: i64, path: &str) -> String {
    if path.is_empty() {
        crate::site::here(format!("/api/v1/discs/{disc}/zip"))
    } else {
        crate::site::here(format!("/api/v1/discs/{disc}/zip/{}", encode_path(path)))
    }
}

/// A file's address in the API.
pub fn file_url(disc: i64, path: &str) -> String {
    crate::site::here(file_path(disc, path))
}

/// [`file_url`] at the root (`http.base_path` not put on): for addresses built on it.
pub fn file_path(disc: i64, path: &str) -> String {
    format!("/api/v1/discs/{disc}/files/{}", encode_path(path))
}

#[derive(Debug, Serialize)]
pub struct TrackView {
    pub number: u32,
    pub seconds: f64,
    pub pregap_frames: u32,
    pub url: String,
}

#[derive(Debug, Serialize)]
pub struct ImageView {
    pub status: crate::state::ImageStatus,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub formats: Vec<String>,
    pub view: Option<String>,
    pub volume_label: Option<String>,
    pub bootable: bool,
    pub boot: Vec<Boot>,
    pub file_count: Option<i64>,
    pub dir_count: Option<i64>,
    pub files_size: Option<i64>,
    pub content_class: Option<String>,
    pub launch_url: Option<String>,
    /// The program the disc's `autorun.inf` starts, as its file URL.
    pub program_url: Option<String>,
    pub files_url: String,
    pub tree_url: String,
    pub zip_url: String,
    pub tracks: Vec<TrackView>,
    pub media: Vec<MediaView>,
    pub warnings: Vec<String>,
    pub index_millis: Option<i64>,
    pub ranged_reads: Option<i64>,
}

/// A title a reader can play: a VCD's sequence, a DVD's title, an audio or video file.
#[derive(Debug, Serialize)]
pub struct MediaView {
    pub kind: spindle_image::media::MediaKind,
    pub standard: spindle_image::media::Standard,
    pub name: String,
    pub container: String,
    pub seconds: Option<f64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub video_codec: Option<String>,
    pub bytes: u64,
    /// The disc files it is made of, as file URLs, in order.
    pub files: Vec<String>,
    /// The title as one file.
    pub url: String,
    /// The player page.
    pub play: String,
    /// The title as HLS (transcoded for browsers: H.264 and AAC).
    pub hls: String,
}

fn media_view(disc: i64, number: usize, t: &spindle_image::media::Title) -> MediaView {
    let mut files: Vec<String> = Vec::new();
    for p in &t.pieces {
        let url = file_url(disc, &p.path);
        if files.last() != Some(&url) {
            files.push(url);
        }
    }
    MediaView {
        kind: t.kind,
        standard: t.standard,
        name: t.name.clone(),
        container: t.container.clone(),
        seconds: t.duration_ms.map(|ms| ms as f64 / 1000.0),
        width: t.width,
        height: t.height,
        video_codec: t.video_codec.clone(),
        bytes: t.len(),
        files,
        url: crate::site::here(format!("/api/v1/discs/{disc}/titles/{number}")),
        play: crate::site::here(format!("/discs/{disc}/play/{number}")),
        hls: crate::site::here(format!("/api/v1/discs/{disc}/titles/{number}/hls.m3u8")),
    }
}

fn track_view(disc: i64, t: &AudioTrack) -> TrackView {
    TrackView {
        number: t.number,
        seconds: t.len as f64 / 176_400.0,
        pregap_frames: t.pregap_frames,
        url: crate::site::here(format!("/api/v1/discs/{disc}/tracks/{}.wav", t.number)),
    }
}

/// The image facts shown with a disc; None before the image is queued.
pub async fn image_view(db: &Db, disc: &DiscRow) -> AppResult<Option<ImageView>> {
    let Some(image) = db::images::get(db, &disc.sha256).await? else {
        return Ok(None);
    };
    let layout: Layout = images::layout(&image);
    let id = disc.id;
    Ok(Some(ImageView {
        formats: image
            .formats
            .as_deref()
            .map(|f| f.split(' ').map(str::to_string).collect())
            .unwrap_or_default(),
        launch_url: image.launch_path.as_deref().map(|p| file_url(id, p)),
        program_url: layout.program.as_deref().map(|p| file_url(id, p)),
        files_url: crate::site::here(format!("/api/v1/discs/{id}/files/")),
        tree_url: crate::site::here(format!("/api/v1/discs/{id}/tree")),
        zip_url: crate::site::here(format!("/api/v1/discs/{id}/zip")),
        tracks: layout.tracks.iter().map(|t| track_view(id, t)).collect(),
        media: (1..)
            .zip(&layout.media)
            .map(|(n, t)| media_view(id, n, t))
            .collect(),
        boot: layout.boot,
        warnings: layout.warnings,
        status: image.status,
        error_code: image.error_code,
        error: image.error,
        view: image.view,
        volume_label: image.volume_label,
        bootable: image.bootable,
        file_count: image.file_count,
        dir_count: image.dir_count,
        files_size: image.files_size,
        content_class: image.content_class,
        index_millis: image.index_millis,
        ranged_reads: image.ranged_reads,
    }))
}

/// The rows every content request needs, kept for a couple of seconds (see [`crate::cache`]).
pub struct ContentRows {
    pub discs: crate::cache::TtlCache<i64, crate::db::discs::DiscRow>,
    pub images: crate::cache::TtlCache<String, crate::db::images::ImageRow>,
}

impl Default for ContentRows {
    fn default() -> Self {
        let ttl = std::time::Duration::from_secs(2);
        Self {
            discs: crate::cache::TtlCache::new(ttl, 10_000),
            images: crate::cache::TtlCache::new(ttl, 10_000),
        }
    }
}

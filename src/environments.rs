//! Running discs in the browser (v86): environments, and what each disc can be launched as.
//!
//! An environment is an operating system's boot disk (a floppy or hard disk image an admin
//! uploaded; a blob like any other, kept while an environment names it), its licence note
//! (the licence is the consortium's, not Spindle's) and the members whose discs may run in
//! it. The browser loads the disk into memory and runs it there: whatever a reader's
//! programs write stays in that page (copy-on-write), and the stored disk is only ever read.

use serde::{Deserialize, Serialize};

use crate::auth::{Role, Staff};
use crate::db::environments::{EnvironmentRow, NewEnvironment};
use crate::db::{self, Db, discs::DiscRow};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};

/// Floppy image sizes v86's controller knows (160 KiB to 2.88 MiB).
pub const FLOPPY_SIZES: [i64; 8] = [
    163_840, 184_320, 327_680, 368_640, 737_280, 1_228_800, 1_474_560, 2_949_120,
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentInput {
    pub name: String,
    pub licence: String,
    pub sha256: String,
    pub disk: DiskKind,
    #[serde(default = "default_memory")]
    pub memory_mib: i64,
    pub members: Vec<String>,
}

fn default_memory() -> i64 {
    64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskKind {
    Floppy,
    Harddisk,
}

impl DiskKind {
    fn as_str(self) -> &'static str {
        match self {
            DiskKind::Floppy => "floppy",
            DiskKind::Harddisk => "harddisk",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EnvironmentView {
    pub code: String,
    pub name: String,
    pub licence: String,
    pub sha256: String,
    pub disk: String,
    pub size: i64,
    pub memory_mib: i64,
    pub members: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn invalid(field: &str, why: &str) -> AppError {
    AppError::unprocessable(
        ErrorCode::InvalidEnvironment,
        detail!("err_environment_field", field = field, why = why),
    )
}

fn not_found(code: &str) -> AppError {
    AppError::not_found(
        ErrorCode::EnvironmentNotFound,
        detail!("err_no_environment", code = code),
    )
}

fn check_code(code: &str) -> AppResult<()> {
    let ok = (1..=40).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_request(
            ErrorCode::InvalidEnvironment,
            detail!("err_environment_code", code = code),
        ))
    }
}

async fn view(db: &Db, row: EnvironmentRow) -> AppResult<EnvironmentView> {
    let members = db::environments::members(db, &row.code).await?;
    let size = db::blobs::get(db, &row.sha256)
        .await?
        .map(|b| b.size)
        .unwrap_or(0);
    Ok(EnvironmentView {
        code: row.code,
        name: row.name,
        licence: row.licence,
        sha256: row.sha256,
        disk: row.disk,
        size,
        memory_mib: row.memory_mib,
        members,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Creates or replaces an environment (consortium admins only).
pub async fn put(
    db: &Db,
    staff: &Staff,
    max_bytes: u64,
    code: &str,
    input: &EnvironmentInput,
) -> AppResult<EnvironmentView> {
    if staff.role != Role::Admin {
        return Err(AppError::forbidden(detail!("err_environment_admin")));
    }
    check_code(code)?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name", "is 1 to 200 characters"));
    }
    let licence = input.licence.trim();
    if licence.is_empty() || licence.chars().count() > 4000 {
        return Err(invalid(
            "licence",
            "is 1 to 4000 characters: whose licence the system is under, and for whom",
        ));
    }
    if !(8..=1024).contains(&input.memory_mib) {
        return Err(invalid("memory_mib", "is between 8 and 1024"));
    }
    let digest: spindle_storage::Digest = input
        .sha256
        .parse()
        .map_err(|e: spindle_storage::DigestParseError| invalid("sha256", &e.to_string()))?;
    let blob = db::blobs::get(db, &digest.to_hex()).await?.ok_or_else(|| {
        AppError::unprocessable(
            ErrorCode::BlobNotFound,
            detail!("err_no_blob", sha256 = digest),
        )
    })?;
    let fits = match input.disk {
        DiskKind::Floppy => FLOPPY_SIZES.contains(&blob.size),
        DiskKind::Harddisk => {
            blob.size % 512 == 0 && blob.size > 0 && blob.size as u64 <= max_bytes
        }
    };
    if !fits {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidEnvironment,
            match input.disk {
                DiskKind::Floppy => detail!("err_floppy_size", size = blob.size),
                DiskKind::Harddisk => detail!("err_disk_size", size = blob.size, max = max_bytes),
            },
        ));
    }
    let mut ids = Vec::new();
    for m in &input.members {
        let member = db::members::by_code(db, m).await?.ok_or_else(|| {
            AppError::unprocessable(
                ErrorCode::MemberNotFound,
                detail!("err_no_member", code = m),
            )
        })?;
        if !ids.contains(&member.id) {
            ids.push(member.id);
        }
    }
    db::environments::put(
        db,
        &NewEnvironment {
            code,
            name,
            licence,
            sha256: &blob.sha256,
            disk: input.disk.as_str(),
            memory_mib: input.memory_mib,
            members: &ids,
        },
    )
    .await?;
    get(db, staff, code).await
}

/// An environment, for admins and for librarians of a member allowed it.
pub async fn get(db: &Db, staff: &Staff, code: &str) -> AppResult<EnvironmentView> {
    check_code(code)?;
    let row = db::environments::get(db, code)
        .await?
        .ok_or_else(|| not_found(code))?;
    let v = view(db, row).await?;
    let allowed = staff.role == Role::Admin
        || staff
            .member_code
            .as_ref()
            .is_some_and(|m| v.members.contains(m));
    if allowed { Ok(v) } else { Err(not_found(code)) }
}

/// The environments a staff member may see: all for admins, their member's for librarians.
pub async fn list(db: &Db, staff: &Staff) -> AppResult<Vec<EnvironmentView>> {
    let rows = match (staff.role, staff.member_id) {
        (Role::Admin, _) => db::environments::list(db).await?,
        (_, Some(member)) => db::environments::for_member(db, member).await?,
        _ => Vec::new(),
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(view(db, row).await?);
    }
    Ok(out)
}

pub async fn delete(db: &Db, staff: &Staff, code: &str) -> AppResult<()> {
    if staff.role != Role::Admin {
        return Err(AppError::forbidden(detail!("err_environment_admin")));
    }
    check_code(code)?;
    if db::environments::delete(db, code).await? {
        Ok(())
    } else {
        Err(not_found(code))
    }
}

/// The environment `code` if the disc's member may run discs in it.
pub async fn for_disc(db: &Db, disc: &DiscRow, code: &str) -> AppResult<EnvironmentRow> {
    db::environments::for_member(db, disc.member_id)
        .await?
        .into_iter()
        .find(|e| e.code == code)
        .ok_or_else(|| not_found(code))
}

/// One way to launch a disc, as the disc JSON and page list them.
#[derive(Debug, Clone, Serialize)]
pub struct Launch {
    /// `page` (its HTML/PDF start page in the browser), `player` (its first title or track
    /// in the player), `drive` (the disc as a WebDAV drive on the reader's computer) or
    /// `emulator` (in the browser, booting the disc or in an environment).
    pub kind: &'static str,
    pub url: String,
    /// For `emulator` in an environment: its code and name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Whether the browser can run this disc at all: whole-loadable, 2048-byte sectors.
pub fn emulatable(
    disc: &DiscRow,
    image: &crate::discs::ImageView,
    max_bytes: u64,
) -> AppResult<()> {
    if disc.size as u64 > max_bytes {
        return Err(AppError::unprocessable(
            ErrorCode::CannotEmulate,
            detail!(
                "err_emulation_too_big",
                id = disc.id,
                size = disc.size,
                max = max_bytes
            ),
        ));
    }
    // A BIN/CUE or raw image has parts or 2352-byte sectors: v86 reads only 2048.
    let plain = disc.size % 2048 == 0
        && image
            .formats
            .first()
            .is_some_and(|f| f == "iso9660" || f.starts_with("udf-"));
    if !plain {
        return Err(AppError::unprocessable(
            ErrorCode::CannotEmulate,
            detail!("err_emulation_sectors", id = disc.id),
        ));
    }
    Ok(())
}

/// A PC (BIOS) boot image on the disc: it boots by itself.
pub fn boots_by_itself(image: &crate::discs::ImageView) -> bool {
    image.boot.iter().any(|b| b.platform == "x86")
}

/// Every way to launch the disc, the one a reader most likely wants first: its start page in
/// the browser, else the player, else booting it by itself, else the drive on the reader's
/// computer; then the environments its member may run it in.
pub async fn launches(
    db: &Db,
    max_bytes: u64,
    disc: &DiscRow,
    image: &crate::discs::ImageView,
) -> AppResult<Vec<Launch>> {
    let id = disc.id;
    let mut out = Vec::new();
    let plain = |kind, url| Launch {
        kind,
        url,
        environment: None,
        name: None,
    };
    if image.launch_url.is_some() {
        out.push(plain(
            "page",
            crate::site::here(format!("/api/v1/discs/{id}/launch")),
        ));
    }
    if !image.media.is_empty() {
        out.push(plain(
            "player",
            crate::site::here(format!("/discs/{id}/play/1")),
        ));
    } else if !image.tracks.is_empty() {
        out.push(plain(
            "player",
            crate::site::here(format!("/discs/{id}/listen/1")),
        ));
    }
    let emulatable = emulatable(disc, image, max_bytes).is_ok();
    if emulatable && boots_by_itself(image) {
        out.push(plain(
            "emulator",
            crate::site::here(format!("/discs/{id}/run")),
        ));
    }
    if image.status == crate::state::ImageStatus::Indexed && image.file_count.unwrap_or(0) > 0 {
        out.push(plain(
            "drive",
            crate::site::here(format!("/discs/{id}#run-on-your-computer")),
        ));
    }
    if emulatable {
        for env in db::environments::for_member(db, disc.member_id).await? {
            out.push(Launch {
                kind: "emulator",
                url: crate::site::here(format!("/discs/{id}/run/{}", env.code)),
                environment: Some(env.code),
                name: Some(env.name),
            });
        }
    }
    Ok(out)
}

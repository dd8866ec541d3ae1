//! Proof of possession: a member may register discs only of bytes it holds — bytes its staff
//! uploaded, or bytes it showed it has by answering a challenge. Knowing an image's SHA-256
//! is not enough (the hash is on every disc page): without this rule a librarian who learned
//! the hash of another member's closed image could register it as an open disc of their own.
//!
//! A challenge names ranges of the stored blob at random places; the client hashes the same
//! ranges of its own file and answers the SHA-256 of each, sending none of the bytes. The
//! server avoids ranges that are one byte repeated (the zeros of a sparse or padded image,
//! which anyone could hash without the file) when the blob has any other bytes to choose.
//! Consortium admins act for every member and are not asked.

use futures::TryStreamExt as _;
use rand::Rng as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use spindle_storage::{BlobStore, Digest};

use crate::auth::{Role, Staff};
use crate::db::{self, Db, holders::ChallengeRow, members::Member};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};

/// Ranges per challenge and the length of each.
const RANGES: usize = 8;
const RANGE_LEN: u64 = 64 * 1024;
/// Places tried for each range before one of repeated bytes is accepted.
const TRIES: usize = 8;
/// How long a challenge may be answered.
const VALID_SECS: i64 = 600;
/// Open challenges a member may have at once.
const MAX_OPEN: i64 = 32;

#[derive(Debug, Serialize, PartialEq, Eq, Clone, Copy)]
pub struct Span {
    pub offset: u64,
    pub length: u64,
}

/// What a member is asked, or that it need not be.
#[derive(Debug, Serialize)]
pub struct Challenge {
    pub sha256: String,
    pub member: String,
    /// The member holds the bytes already: nothing to answer.
    pub held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Span>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// Refuses a registration of `shas` (an image and its parts) for `member` unless the member
/// holds every one of them; admins are not asked.
pub async fn require(db: &Db, staff: &Staff, member: &Member, shas: &[String]) -> AppResult<()> {
    if staff.role == Role::Admin {
        return Ok(());
    }
    for sha in shas {
        if !db::holders::holds(db, member.id, sha).await? {
            return Err(AppError::new(
                axum::http::StatusCode::FORBIDDEN,
                ErrorCode::PossessionUnproven,
                detail!(
                    "err_possession_unproven",
                    member = &member.code,
                    sha256 = sha
                ),
            ));
        }
    }
    Ok(())
}

/// Issues a challenge on the stored blob `digest` for `member` (or says it is held).
pub async fn challenge(
    db: &Db,
    blobs: &BlobStore,
    member: &Member,
    digest: &Digest,
) -> AppResult<Challenge> {
    let sha256 = digest.to_hex();
    let blob = db::blobs::get(db, &sha256).await?.ok_or_else(|| {
        AppError::not_found(
            ErrorCode::BlobNotFound,
            detail!("err_no_image_blob", sha256 = &sha256),
        )
    })?;
    let mut answer = Challenge {
        sha256: sha256.clone(),
        member: member.code.clone(),
        held: true,
        id: None,
        ranges: Vec::new(),
        expires_at: None,
    };
    if db::holders::holds(db, member.id, &sha256).await? {
        return Ok(answer);
    }
    if db::holders::open_challenges(db, member.id).await? >= MAX_OPEN {
        return Err(AppError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::SlowDown,
            detail!("err_too_many_challenges", max = MAX_OPEN),
        ));
    }
    let size = blob.size as u64;
    let mut ranges = Vec::new();
    let mut expected = Vec::new();
    if size <= RANGES as u64 * RANGE_LEN {
        let span = Span {
            offset: 0,
            length: size,
        };
        expected.push(hash_of(&read(blobs, digest, span).await?));
        ranges.push(span);
    } else {
        for _ in 0..RANGES {
            let mut chosen = None;
            for _ in 0..TRIES {
                let offset = rand::rng().random_range(0..=size - RANGE_LEN);
                let span = Span {
                    offset,
                    length: RANGE_LEN,
                };
                let bytes = read(blobs, digest, span).await?;
                let uniform = bytes.iter().all(|b| Some(b) == bytes.first());
                chosen = Some((span, hash_of(&bytes)));
                if !uniform {
                    break;
                }
            }
            if let Some((span, hash)) = chosen {
                ranges.push(span);
                expected.push(hash);
            }
        }
    }
    let now = db::now();
    let row = ChallengeRow {
        id: crate::auth::random_hex(16),
        sha256,
        member_id: member.id,
        ranges: ranges
            .iter()
            .map(|s| format!("{}+{}", s.offset, s.length))
            .collect::<Vec<_>>()
            .join(","),
        expected: expected.join(","),
        created_at: now,
        expires_at: now + VALID_SECS,
    };
    db::holders::insert_challenge(db, &row).await?;
    answer.held = false;
    answer.id = Some(row.id);
    answer.ranges = ranges;
    answer.expires_at = Some(row.expires_at);
    Ok(answer)
}

/// Checks the answers to challenge `id`; right answers make `member` a holder of the bytes.
/// A challenge is answered once, right or wrong.
pub async fn answer(
    db: &Db,
    member: &Member,
    digest: &Digest,
    id: &str,
    answers: &[String],
) -> AppResult<Challenge> {
    let sha256 = digest.to_hex();
    let row = db::holders::take_challenge(db, id, &sha256, member.id)
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::ChallengeNotFound,
                detail!("err_no_challenge", id = id),
            )
        })?;
    let expected: Vec<&str> = row.expected.split(',').collect();
    if answers.len() != expected.len() {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidField,
            detail!(
                "err_challenge_answers",
                want = expected.len(),
                got = answers.len()
            ),
        ));
    }
    let right = answers
        .iter()
        .zip(&expected)
        .all(|(a, e)| a.trim().eq_ignore_ascii_case(e));
    if !right {
        return Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            ErrorCode::PossessionNotProven,
            detail!("err_possession_wrong", sha256 = &sha256),
        ));
    }
    db::holders::grant(db, member.id, &sha256).await?;
    tracing::info!(member = %member.code, %sha256, "possession proven");
    Ok(Challenge {
        sha256,
        member: member.code.clone(),
        held: true,
        id: None,
        ranges: Vec::new(),
        expires_at: None,
    })
}

fn hash_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn read(blobs: &BlobStore, digest: &Digest, span: Span) -> AppResult<Vec<u8>> {
    let chunks: Vec<bytes::Bytes> = blobs
        .read_range(digest, span.offset..span.offset + span.length)
        .await?
        .try_collect()
        .await?;
    Ok(chunks.concat())
}

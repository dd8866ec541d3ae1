//! A disc's page, the place a reader arrives at from a catalogue, a search or a link: the
//! book's record as the member's catalogue gives it (title and responsibility, publisher,
//! year, edition, series, subjects, call number) with a link back into each library's OPAC,
//! who may open the disc, its first level of files with play buttons, the set's other discs,
//! a permalink and a citation; the technical facts behind a details element.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;
use serde_json::json;
use spindle_integrations::bib::BibRecord;
use spindle_integrations::marc::parse_marcxml;

use super::reader::{duration, lang_url};
use crate::access::Viewer;
use crate::app::AppState;
use crate::browse::{self, EntryView, Found};
use crate::dashboard::bytes_text;
use crate::db::discs::DiscRow;
use crate::discs::{self, ImageView, MediaView, parse_id};
use crate::error::AppError;
use crate::http::web::{Lang, render};
use crate::linking::LinkView;
use crate::state::{FileKind, ImageStatus, LinkState};

/// The first level of a disc shown on its page; the rest is one click away.
const FIRST_LEVEL_SHOWN: usize = 50;

/// What a member's catalogue says of the book (the first linked record).
#[derive(Debug, Serialize)]
struct BookFacts {
    title: String,
    responsibility: Option<String>,
    authors: Vec<String>,
    publisher: Option<String>,
    year: Option<i32>,
    edition: Option<String>,
    series: Vec<String>,
    subjects: Vec<String>,
    call_number: Option<String>,
    /// Who made it, for the citation: the authors, else the statement of responsibility.
    creators: Option<String>,
}

impl BookFacts {
    fn of(bib: &BibRecord) -> Self {
        // The disc's own item first (its shelf mark is where the disc is), then the book's.
        let call_number = bib
            .holdings
            .iter()
            .filter(|h| h.disc)
            .chain(bib.holdings.iter().filter(|h| !h.disc))
            .find_map(|h| h.call_number.clone());
        let creators = if bib.authors.is_empty() {
            bib.responsibility.clone()
        } else {
            Some(bib.authors.join("; "))
        }
        .map(|c| c.trim_end_matches(['.', ' ']).to_string())
        .filter(|c| !c.is_empty());
        Self {
            creators,
            title: bib
                .title_vernacular
                .clone()
                .unwrap_or_else(|| bib.title.clone()),
            responsibility: bib.responsibility.clone(),
            authors: bib.authors.clone(),
            publisher: bib.publisher.clone(),
            year: bib.year,
            edition: bib.edition.clone(),
            series: bib.series.clone(),
            subjects: bib.subjects.clone(),
            call_number,
        }
    }
}

/// A linked record in one library's catalogue, with the library's name.
#[derive(Debug, Serialize)]
struct RecordLine {
    library: String,
    title: String,
    year: Option<i64>,
    opac_url: Option<String>,
}

/// The player of the file at `url`, when the index found it to be a title a reader can play.
pub(super) fn player_of<'a>(media: &'a [MediaView], url: &str) -> Option<&'a str> {
    media
        .iter()
        .find(|m| m.files.len() == 1 && m.files[0] == url)
        .map(|m| m.play.as_str())
}

/// A folder's entry as pages show it: its size, type, date and, for audio and video, where
/// it plays.
pub(super) fn entry_json(
    e: &EntryView,
    folder_url: String,
    media: &[MediaView],
    zone: &crate::calendar::Zone,
) -> serde_json::Value {
    json!({
        "name": e.name,
        "kind": e.kind,
        "url": e.url,
        "browse_url": folder_url,
        "size_text": bytes_text(e.size),
        "type": e.content_type.as_deref().map(|t| t.split(';').next().unwrap_or(t).trim()),
        "date": e.mtime.map(|t| zone.date(t)),
        "play": (e.kind == FileKind::File).then(|| player_of(media, &e.url)).flatten(),
    })
}

pub(super) async fn disc_view(
    state: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    id: &str,
    lang: Lang,
    uri: &Uri,
) -> Result<Response, AppError> {
    let disc = discs::readable(&state.db, viewer, parse_id(id)?).await?;
    let image = discs::image_view(&state.db, &disc).await?;
    let related = discs::related(&state.db, &disc).await?;
    let members = crate::members::list(&state.db).await?;
    let name_of = |code: &str| {
        members
            .iter()
            .find(|m| m.code == code)
            .map_or_else(|| code.to_string(), |m| m.name.clone())
    };
    // The book's records in every catalogue that holds this image, the disc's own first.
    let mut links: Vec<LinkView> = Vec::new();
    for d in related.iter().filter(|d| d.sha256 == disc.sha256) {
        for l in crate::linking::links(&state.linking, d.id).await? {
            if l.state == LinkState::Linked
                && !links
                    .iter()
                    .any(|r| r.member == l.member && r.record_id == l.record_id)
            {
                links.push(l);
            }
        }
    }
    links.sort_by_key(|l| l.member != disc.member_code);
    let book = match links.first() {
        Some(l) => book_facts(state, l.bib_record).await?,
        None => None,
    };
    let records: Vec<RecordLine> = links
        .iter()
        .map(|l| RecordLine {
            library: name_of(&l.member),
            title: l.title.clone(),
            year: l.year,
            opac_url: l.opac_url.clone(),
        })
        .collect();
    // The member's discs of this book (another member's copy of the image is not a set).
    let set: Vec<serde_json::Value> = related
        .iter()
        .filter(|d| d.member_id == disc.member_id && (d.id == disc.id || d.sha256 != disc.sha256))
        .map(|d| json!({"id": d.id, "disc_number": d.disc_number}))
        .collect();
    let title = book
        .as_ref()
        .map(|b| b.title.clone())
        .or_else(|| links.first().map(|r| r.title.clone()))
        .or_else(|| disc.label.clone())
        .or_else(|| disc.title_hint.clone())
        .unwrap_or_else(|| disc.filename.clone());
    let media_list: &[MediaView] = image.as_ref().map_or(&[], |i| i.media.as_slice());
    let tracks: Vec<serde_json::Value> = image
        .as_ref()
        .map(|i| {
            i.tracks
                .iter()
                .map(|t| json!({"number": t.number, "url": t.url, "duration": duration(t.seconds)}))
                .collect()
        })
        .unwrap_or_default();
    let media: Vec<serde_json::Value> = media_list
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "kind": m.kind,
                "duration": m.seconds.map(duration),
                "picture": m.width.zip(m.height).map(|(w, h)| format!("{w}×{h}")),
                "size": bytes_text(i64::try_from(m.bytes).unwrap_or(i64::MAX)),
                "url": m.url,
                "play": m.play,
            })
        })
        .collect();
    let indexed = image
        .as_ref()
        .is_some_and(|i| i.status == ImageStatus::Indexed);
    let browsable = indexed
        && image
            .as_ref()
            .is_some_and(|i| i.file_count.unwrap_or(0) > 0);
    let (files, more_files) = if browsable {
        first_level(state, viewer, disc.id, media_list).await
    } else {
        (Vec::new(), 0)
    };
    let launches = match &image {
        Some(i) => {
            let max = state.config.launch.emulation_max_bytes;
            crate::environments::launches(&state.db, max, &disc, i).await?
        }
        None => Vec::new(),
    };
    let drive = launches
        .iter()
        .any(|l| l.kind == "drive")
        .then(|| drive_view(state, viewer, headers, uri, &disc, image.as_ref()));
    let library = name_of(&disc.member_code);
    // A reader may sign in with the disc's library (when it lets readers), or is signed in.
    let signed_on = viewer.signed_on == Some(disc.member_id);
    let sign_on_url = if viewer.staff.is_none() && viewer.signed_on.is_none() {
        let back = format!("/discs/{}", disc.id);
        crate::identity::reader_sign_on_url(&state.db, disc.member_id, &disc.member_code, &back)
            .await?
    } else {
        None
    };
    let permalink = format!(
        "{}/discs/{}",
        state.config.public_url().trim_end_matches('/'),
        disc.id
    );
    Ok(render(
        StatusCode::OK,
        "disc.html",
        lang,
        json!({
            "title": title,
            "disc": crate::discs::DiscView::from(disc.clone()),
            "book": book,
            "library": library,
            "sign_on_url": sign_on_url,
            "signed_on": signed_on,
            "library_opac": links.iter().find(|l| l.member == disc.member_code).and_then(|l| l.opac_url.clone()),
            "records": records,
            "set": set,
            "tracks": tracks,
            "media": media,
            "launches": launches,
            "drive": drive,
            "browsable": browsable,
            "files": files,
            "more_files": more_files,
            "zip_url": discs::zip_url(disc.id, ""),
            "permalink": permalink,
            "formats": image.as_ref().map(|i| i.formats.join(", ")).unwrap_or_default(),
            "video_lost": image.as_ref().is_some_and(|i| i.formats.iter().any(|f| f == spindle_image::VIDEO_LOST)),
            "size": bytes_text(disc.size),
            "volume_label": image.as_ref().and_then(|i| i.volume_label.clone()),
            "file_count": image.as_ref().and_then(|i| i.file_count),
            "content_class": image.as_ref().and_then(|i| i.content_class.clone()),
            "lang_url": lang_url(uri, lang),
        }),
    ))
}

/// The book's facts from the record's MARC, as the catalogue gave it (none if it no longer
/// parses: the record's title and year still show).
async fn book_facts(state: &AppState, bib_record: i64) -> Result<Option<BookFacts>, AppError> {
    let Some(marc) = crate::db::catalogue::marc_of(&state.db, bib_record).await? else {
        return Ok(None);
    };
    Ok(parse_marcxml(&marc)
        .ok()
        .and_then(|records| records.into_iter().next())
        .map(|r| BookFacts::of(&BibRecord::from_marc(&r))))
}

/// The disc's first level of files and folders, and how many more there are.
async fn first_level(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    media: &[MediaView],
) -> (Vec<serde_json::Value>, usize) {
    // The page stands without its file list: an index being rewritten is not an error here.
    let Ok(Found::Dir(listing)) = browse::at(&state.db, &state.content_rows, viewer, id, "").await
    else {
        return (Vec::new(), 0);
    };
    let zone = &state.config.stats.time_zone;
    let more = listing.entries.len().saturating_sub(FIRST_LEVEL_SHOWN);
    let shown = listing
        .entries
        .iter()
        .take(FIRST_LEVEL_SHOWN)
        .map(|e| entry_json(e, super::reader::folder_url(id, &e.path), media, zone))
        .collect();
    (shown, more)
}

/// The disc as a drive on the reader's computer: its WebDAV address (with the reader's
/// signed link in the path when that is what opens a closed disc: WebDAV clients keep no
/// cookies) and the program its `autorun.inf` starts, as a Windows path on drive Z:.
fn drive_view(
    state: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    uri: &Uri,
    disc: &DiscRow,
    image: Option<&ImageView>,
) -> serde_json::Value {
    let base = state.config.public_url();
    let base = base.trim_end_matches('/');
    let token = super::extract::query_token(uri).or_else(|| {
        crate::http::web::cookie(headers, crate::access::ACCESS_COOKIE).map(str::to_string)
    });
    let granted = !disc.is_open && viewer.grant.is_some() && token.is_some();
    let url = match token.filter(|_| granted) {
        Some(t) => format!("{base}/dav/g/{t}/discs/{}/", disc.id),
        None => format!("{base}/dav/discs/{}/", disc.id),
    };
    let program = image
        .and_then(|i| i.program_url.as_deref())
        .and_then(|u| u.split_once("/files/"))
        .map(|(_, p)| {
            let p = percent_encoding::percent_decode_str(p).decode_utf8_lossy();
            format!("Z:\\{}", p.replace('/', "\\"))
        });
    json!({"url": url, "granted": granted, "program": program})
}

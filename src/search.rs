//! Search for readers: titles (every linked record's, in every script, and the label),
//! authors, ISBN in either form, barcode, and the names of the files on the disc. Substring
//! matching over trigram indexes (SQLite FTS5 trigram, PostgreSQL pg_trgm), so Chinese
//! works without a word splitter. Results are paginated, with facets by member and content
//! class. Each disc's text is rebuilt in the background whenever it is linked or read.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use spindle_integrations::isbn::Isbn;

use crate::db::{self, Db, DbError};

pub const PAGE: usize = 20;

fn push_str(out: &mut Vec<String>, v: &serde_json::Value) {
    if let Some(s) = v.as_str().filter(|s| !s.trim().is_empty()) {
        out.push(s.to_string());
    }
}

/// Rebuilds one disc's searchable text.
pub async fn refresh_disc(db: &Db, id: i64) -> Result<(), DbError> {
    let read_at = db::now();
    let Some(disc) = db::discs::get(db, id).await? else {
        return Ok(());
    };
    let (summaries, files) = db::search::sources(db, id).await?;
    let sources = TextSources {
        label: disc.label.as_deref(),
        title_hint: disc.title_hint.as_deref(),
        isbn: disc.isbn.as_deref(),
        barcode: disc.barcode.as_deref(),
        summaries: &summaries,
        files: &files,
    };
    db::search::replace(db, id, &text_rows(&sources), read_at).await
}

/// What a disc's searchable text is made of: its own label, title hint, ISBN and barcode,
/// its linked records' summaries (JSON) and the names of its files and folders in path order.
pub struct TextSources<'a> {
    pub label: Option<&'a str>,
    pub title_hint: Option<&'a str>,
    pub isbn: Option<&'a str>,
    pub barcode: Option<&'a str>,
    pub summaries: &'a [String],
    pub files: &'a [String],
}

/// A disc's searchable text, one row per field.
pub fn text_rows(disc: &TextSources<'_>) -> Vec<(&'static str, String)> {
    let (summaries, files) = (disc.summaries, disc.files);
    let mut titles = Vec::new();
    let mut authors = Vec::new();
    for s in summaries {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(s) else {
            continue;
        };
        for k in ["title", "title_vernacular", "title_pinyin"] {
            push_str(&mut titles, &v[k]);
        }
        for a in v["authors"].as_array().into_iter().flatten() {
            push_str(&mut authors, a);
        }
        push_str(&mut authors, &v["publisher"]);
    }
    titles.extend(disc.label.map(str::to_string));
    titles.extend(disc.title_hint.map(str::to_string));
    let isbns: Vec<String> = disc.isbn.map(Isbn::lookup_forms).unwrap_or_default();
    let mut rows: Vec<(&'static str, String)> = vec![("title", titles.join("\n"))];
    if !authors.is_empty() {
        rows.push(("author", authors.join("\n")));
    }
    if !isbns.is_empty() {
        rows.push(("isbn", isbns.join("\n")));
    }
    if let Some(b) = disc.barcode {
        rows.push(("barcode", b.to_string()));
    }
    if !files.is_empty() {
        let mut text = files.join("\n");
        if text.len() > 1 << 20 {
            let mut cut = 1 << 20;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        rows.push(("files", text));
    }
    rows
}

/// Brings every stale disc's text up to date; returns how many were rebuilt.
pub async fn catch_up(db: &Db) -> Result<usize, DbError> {
    let mut done = 0;
    loop {
        let stale = db::search::stale(db, 200).await?;
        if stale.is_empty() {
            return Ok(done);
        }
        for id in &stale {
            refresh_disc(db, *id).await?;
        }
        done += stale.len();
    }
}

/// How often a node learns again which words are common in the search text.
const COMMON_WORDS_EVERY: Duration = Duration::from_secs(3600);
/// How soon it tries again when learning them failed.
const COMMON_WORDS_RETRY: Duration = Duration::from_secs(60);

/// Learns the common words once: their count, or None when it failed (said here); and how
/// long until the next time (an hour, or a minute after a failure).
async fn learn_words(db: &Db) -> (Option<usize>, Duration) {
    match db::search::learn_common_words(db).await {
        Ok(n) => (Some(n), COMMON_WORDS_EVERY),
        Err(e) => {
            tracing::warn!(error = %e, "learning the common words; trying again in a minute");
            (None, COMMON_WORDS_RETRY)
        }
    }
}

/// Learns the common words before a node takes requests (see [`run_forever`]): until it has
/// them a query asks the index for its longest words, common or not, and the first searches
/// after a restart were the slowest (loadtests/RESULTS.md). Bounded: a database too slow to
/// answer leaves the learning to [`run_forever`]. Returns when to learn again.
pub async fn learn_before_serving(db: &Db) -> std::time::Instant {
    let started = std::time::Instant::now();
    let wait = match tokio::time::timeout(COMMON_WORDS_AT_START, learn_words(db)).await {
        Ok((learned, wait)) => {
            // SQLite's search does not use them: nothing to say there.
            if let Some(n) = learned.filter(|n| *n > 0) {
                tracing::info!(
                    words = n,
                    ms = started.elapsed().as_millis() as u64,
                    "learned the search text's common words"
                );
            }
            wait
        }
        Err(_) => {
            tracing::warn!(
                "learning the common words took too long; serving without them and trying again in a minute"
            );
            COMMON_WORDS_RETRY
        }
    };
    started + wait
}

/// How long a starting node waits for the common words.
const COMMON_WORDS_AT_START: Duration = Duration::from_secs(30);

/// Keeps the search text current and the common words learned (next at `learn_at`).
pub async fn run_forever(db: Db, mut learn_at: std::time::Instant) {
    loop {
        if let Err(e) = catch_up(&db).await {
            tracing::warn!(error = %e, "search text refresh failed; trying again later");
        }
        if std::time::Instant::now() >= learn_at {
            let (learned, wait) = learn_words(&db).await;
            if let Some(n) = learned {
                tracing::debug!(words = n, "learned the search text's common words");
            }
            learn_at = std::time::Instant::now() + wait;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[derive(Debug, Serialize, Clone)]
pub struct Hit {
    pub id: i64,
    pub title: String,
    pub member: String,
    pub content_class: String,
    pub disc_number: i64,
    /// Where the query was found: title, author, isbn, barcode, files.
    pub fields: Vec<String>,
    /// Open to everyone, or not.
    pub open: bool,
    /// This reader may open it (open, or within their reach).
    pub may_open: bool,
    /// What matched, for the results shown: the field, and its line split around the match.
    pub matched: Vec<Snippet>,
}

/// A line of a disc's text that holds the query, split around it for highlighting.
#[derive(Debug, Serialize, Clone)]
pub struct Snippet {
    pub field: String,
    pub before: String,
    pub hit: String,
    pub after: String,
}

/// At most this many characters either side of a match are shown.
const CONTEXT: usize = 40;

/// The first line of `text` holding `needle` (ASCII letters matched without case, as the
/// search does), split around it.
fn snippet(field: &str, text: &str, needle: &str) -> Option<Snippet> {
    let lower_needle = needle.to_ascii_lowercase();
    text.lines().find_map(|line| {
        let at = line.to_ascii_lowercase().find(&lower_needle)?;
        let end = at + needle.len();
        let before: String = {
            let b = &line[..at];
            let n = b.chars().count();
            let kept: String = b.chars().skip(n.saturating_sub(CONTEXT)).collect();
            if n > CONTEXT {
                format!("…{kept}")
            } else {
                kept
            }
        };
        let after: String = {
            let a = &line[end..];
            let kept: String = a.chars().take(CONTEXT).collect();
            if a.chars().count() > CONTEXT {
                format!("{kept}…")
            } else {
                kept
            }
        };
        Some(Snippet {
            field: field.to_string(),
            before,
            hit: line[at..end].to_string(),
            after,
        })
    })
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub total: usize,
    pub hits: Vec<Hit>,
    pub members: Vec<(String, usize)>,
    pub classes: Vec<(String, usize)>,
    pub page: usize,
    pub pages: usize,
    /// The search found more than it considers: narrow it.
    pub truncated: bool,
    /// Every member's name by code (read once for the hits' codes: the page names them).
    pub member_names: BTreeMap<String, String>,
}

/// Runs a reader's query: an ISBN (either form, hyphens or not) finds that book's discs;
/// anything else is a substring of any field. `member` and `class` narrow the hits (the
/// facets count the unnarrowed ones). What is inside a closed disc is its readers' to know:
/// a disc matched only by the names of its files is left out for a viewer who may not open
/// it (its catalogue facts are public). At most `max_matches` matches are considered
/// (`search.max_matches`); `truncated` says when there were more.
pub async fn search(
    db: &Db,
    max_matches: u32,
    viewer: &crate::access::Viewer,
    query: &str,
    member: Option<&str>,
    class: Option<&str>,
    page: usize,
) -> Result<Results, DbError> {
    let query = query.trim();
    let isbn_forms = Isbn::parse(query).map(|i| i.forms());
    let matching = match &isbn_forms {
        Ok(forms) => db::search::Matching::Isbn(forms),
        Err(_) => db::search::Matching::Contains {
            needle: query,
            field: None,
        },
    };
    let matches = db::search::find_hits(db, matching, i64::from(max_matches)).await?;
    let truncated = matches.len() >= max_matches as usize;
    // The members, read once: their codes name the hits (a member removed since is no hit, as
    // with a join), their names the page.
    let member_rows = db::members::list(db).await?;
    let codes: HashMap<i64, &str> = member_rows
        .iter()
        .map(|m| (m.id, m.code.as_str()))
        .collect();
    // Each disc once, with every field that matched.
    let mut found: BTreeMap<i64, (db::search::MatchRow, Vec<String>)> = BTreeMap::new();
    for m in matches {
        let field = m.field.clone();
        let (_, fields) = found.entry(m.id).or_insert((m, Vec::new()));
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    let mut all = Vec::with_capacity(found.len());
    for (d, mut f) in found.into_values() {
        let Some(member) = codes.get(&d.member_id) else {
            continue;
        };
        let may_open = viewer.may_open(d.member_id, d.id, d.is_open);
        if !may_open {
            f.retain(|field| field != "files");
            if f.is_empty() {
                continue;
            }
        }
        all.push(Hit {
            id: d.id,
            title: d.title,
            member: member.to_string(),
            content_class: d.content_class.unwrap_or_else(|| "Multimedia".into()),
            disc_number: d.disc_number,
            fields: f,
            open: d.is_open,
            may_open,
            matched: Vec::new(),
        });
    }
    let count = |key: &dyn Fn(&Hit) -> String| {
        let mut c: BTreeMap<String, usize> = BTreeMap::new();
        for h in &all {
            *c.entry(key(h)).or_default() += 1;
        }
        c.into_iter().collect::<Vec<_>>()
    };
    let members = count(&|h| h.member.clone());
    let classes = count(&|h| h.content_class.clone());
    let mut hits: Vec<Hit> = all
        .into_iter()
        .filter(|h| {
            member.is_none_or(|m| h.member == m) && class.is_none_or(|c| h.content_class == c)
        })
        .collect();
    // Title matches first, then by title.
    hits.sort_by(|a, b| {
        (
            !a.fields.contains(&"title".to_string()),
            &a.title,
            a.disc_number,
            a.id,
        )
            .cmp(&(
                !b.fields.contains(&"title".to_string()),
                &b.title,
                b.disc_number,
                b.id,
            ))
    });
    let total = hits.len();
    let pages = total.div_ceil(PAGE).max(1);
    let page = page.clamp(1, pages);
    let mut hits: Vec<Hit> = hits
        .into_iter()
        .skip((page - 1) * PAGE)
        .take(PAGE)
        .collect();
    // Where each hit on this page matched (an ISBN query matched its ISBN: nothing to show),
    // the texts read in one query.
    if isbn_forms.is_err() {
        let wanted: Vec<(i64, String)> = hits
            .iter()
            .flat_map(|h| h.fields.iter().map(|f| (h.id, f.clone())))
            .collect();
        let texts = db::search::texts_of(db, &wanted).await?;
        for h in &mut hits {
            for field in &h.fields {
                let shown = texts
                    .iter()
                    .filter(|(id, f, _)| *id == h.id && f == field)
                    .find_map(|(_, _, text)| snippet(field, text, query));
                h.matched.extend(shown);
            }
        }
    }
    let member_names = member_rows
        .iter()
        .map(|m| (m.code.clone(), m.name.clone()))
        .collect();
    Ok(Results {
        member_names,
        total,
        hits,
        members,
        classes,
        page,
        pages,
        truncated,
    })
}

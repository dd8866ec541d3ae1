//! What a bulk upload will do: the rows (from a manifest CSV, or a folder and file-name
//! patterns), each checked before anything moves: the file readable, an image Spindle can
//! read (from its bytes), identifiers well formed, no duplicates. A CUE sheet brings the BIN
//! files it names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use spindle_i18n::{Message, detail};
use spindle_image::{self as image, Detected, FileSource, ReadAt};
use spindle_integrations::isbn::{Isbn, IsbnError};

use crate::words::say;

/// One disc to upload and register.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Row {
    /// 1-based position in the manifest (or in the folder listing).
    pub row: usize,
    pub path: PathBuf,
    pub isbn: Option<String>,
    pub barcode: Option<String>,
    pub record_id: Option<String>,
    pub disc_number: Option<i64>,
    pub label: Option<String>,
    /// The BIN files a CUE sheet names: (name in the sheet, path).
    pub parts: Vec<(String, PathBuf)>,
    pub format: String,
    pub bytes: u64,
    /// Why the row cannot be uploaded; such rows fail without anything moving. Said in the
    /// reader's language where it is shown (the server's plan answer carries it rendered).
    #[serde(skip)]
    pub invalid: Option<Message>,
}

pub const COLUMNS: [&str; 6] = [
    "path",
    "isbn",
    "barcode",
    "record_id",
    "disc_number",
    "label",
];

/// A manifest's text from its bytes: UTF-8 (with or without the BOM Excel writes), else
/// GB18030 (what Excel on Chinese Windows saves a CSV as, GBK being a subset of it).
pub fn decode_manifest(bytes: &[u8]) -> Result<String, Message> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_string());
    }
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|t| t.into_owned())
        .ok_or_else(|| detail!("plan_manifest_encoding"))
}

/// Rows of a manifest CSV; paths are relative to the manifest. An unknown column is an error
/// for the whole manifest (a typo would silently drop data).
pub fn from_manifest(manifest: &Path) -> anyhow::Result<Vec<Row>> {
    let bytes = std::fs::read(manifest).map_err(|e| {
        anyhow::anyhow!(say(detail!(
            "cli_manifest_unreadable",
            path = manifest.display(),
            error = e
        )))
    })?;
    let text = decode_manifest(&bytes).map_err(|m| anyhow::anyhow!(say(m)))?;
    from_manifest_text(&text, manifest.parent().unwrap_or(Path::new(".")))
        .map_err(|m| anyhow::anyhow!(say(m)))
}

/// Rows of a manifest's text, with paths relative to `base`.
pub fn from_manifest_text(text: &str, base: &Path) -> Result<Vec<Row>, Message> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| detail!("plan_manifest_csv", error = e))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(detail!("plan_manifest_empty"));
    }
    let unknown: Vec<&String> = header
        .iter()
        .filter(|h| !COLUMNS.contains(&h.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(detail!(
            "plan_manifest_columns",
            unknown = format!("{unknown:?}"),
            columns = format!("{COLUMNS:?}")
        ));
    }
    if !header.iter().any(|h| h == "path") {
        return Err(detail!("plan_manifest_no_path"));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| detail!("plan_manifest_csv", error = e))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let fields: Vec<String> = record.iter().map(str::to_string).collect();
        let get = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|p| fields.get(p))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut row = Row {
            row: i + 1,
            path: base.join(get("path").unwrap_or_default()),
            isbn: get("isbn"),
            barcode: get("barcode"),
            record_id: get("record_id"),
            label: get("label"),
            ..Row::default()
        };
        if fields.len() != header.len() {
            row.invalid = Some(detail!(
                "plan_row_fields",
                fields = fields.len(),
                header = header.len()
            ));
        }
        match get("disc_number").map(|d| d.parse::<i64>()) {
            Some(Ok(n)) if (1..=999).contains(&n) => row.disc_number = Some(n),
            Some(_) => row.invalid = Some(detail!("plan_disc_number")),
            None => {}
        }
        rows.push(row);
    }
    Ok(rows)
}

/// A file-name pattern such as `{barcode}.iso` or `{isbn}_{disc}.iso`, as a matcher.
pub fn pattern_regex(pattern: &str) -> Result<regex::Regex, Message> {
    let mut re = String::from("^");
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        re.push_str(&regex::escape(&rest[..open]));
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| detail!("plan_pattern_unclosed", pattern = pattern))?;
        let name = &rest[open + 1..open + close];
        let group = match name {
            "barcode" => "(?P<barcode>[^/_]+?)",
            "isbn" => "(?P<isbn>[0-9Xx-]+)",
            "record_id" => "(?P<record_id>[^/_]+?)",
            "disc" => "(?P<disc>[0-9]{1,3})",
            "label" => "(?P<label>.+?)",
            "any" => ".*?",
            other => {
                return Err(detail!(
                    "plan_pattern_field",
                    pattern = pattern,
                    field = other
                ));
            }
        };
        re.push_str(group);
        rest = &rest[open + close + 1..];
    }
    re.push_str(&regex::escape(rest));
    re.push('$');
    regex::Regex::new(&re).map_err(|e| detail!("plan_pattern_bad", pattern = pattern, reason = e))
}

/// Every file below `dir` (sorted), with identifiers from the first pattern its name matches.
pub fn from_folder(dir: &Path, patterns: &[regex::Regex]) -> anyhow::Result<Vec<Row>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| {
            anyhow::anyhow!(say(detail!(
                "cli_cannot_list",
                path = d.display(),
                error = e
            )))
        })? {
            let e = e?;
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue; // the state file, editor droppings
            }
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    Ok(from_paths(files, patterns))
}

/// One row per file (sorted by path), with identifiers from the first pattern its name
/// matches.
pub fn from_paths(mut files: Vec<PathBuf>, patterns: &[regex::Regex]) -> Vec<Row> {
    files.sort();
    let mut rows = Vec::new();
    for (i, path) in files.into_iter().enumerate() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut row = Row {
            row: i + 1,
            path,
            ..Row::default()
        };
        if let Some(c) = patterns.iter().find_map(|p| p.captures(&name)) {
            row.barcode = c.name("barcode").map(|m| m.as_str().to_string());
            row.isbn = c.name("isbn").map(|m| m.as_str().to_string());
            row.record_id = c.name("record_id").map(|m| m.as_str().to_string());
            row.label = c.name("label").map(|m| m.as_str().to_string());
            row.disc_number = c.name("disc").and_then(|m| m.as_str().parse().ok());
        }
        rows.push(row);
    }
    rows
}

/// What the bytes of one file say: the format, and for a CUE sheet the files it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Probed {
    pub format: String,
    #[serde(default)]
    pub cue_files: Vec<String>,
}

/// Names the format of an image from its bytes (the same reading the server does when the
/// disc is registered), or says why it cannot be uploaded.
pub fn probe(source: &dyn ReadAt) -> Result<Probed, image::ImageError> {
    let format = match image::detect(source)? {
        Detected::Cue(text) => {
            let sheet = image::parse_cue(&text)?;
            return Ok(Probed {
                format: "cue".into(),
                cue_files: sheet.files.into_iter().map(|f| f.name).collect(),
            });
        }
        Detected::Iso { udf: true } => "iso9660+udf",
        Detected::Iso { udf: false } => "iso9660",
        Detected::Udf => "udf",
        Detected::Raw { .. } => "raw-2352",
    };
    Ok(Probed {
        format: format.into(),
        cue_files: Vec::new(),
    })
}

/// Where the rows' files are: a local folder for the CLI, or what a browser reported.
pub trait Shelf {
    /// The file's size and what its bytes say.
    fn probe(&self, path: &Path) -> Result<(u64, Probed), Message>;
    /// The file a CUE sheet's FILE line means, and its size.
    fn part(&self, cue: &Path, name: &str) -> Option<(PathBuf, u64)>;
}

/// Files on this machine.
pub struct LocalShelf;

impl Shelf for LocalShelf {
    fn probe(&self, path: &Path) -> Result<(u64, Probed), Message> {
        let source = FileSource::open(path)
            .map_err(|e| detail!("cli_cannot_read", path = path.display(), error = e))?;
        let probed = probe(&source).map_err(|e| e.message())?;
        Ok((ReadAt::size(&source), probed))
    }

    fn part(&self, cue: &Path, name: &str) -> Option<(PathBuf, u64)> {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let p = cue.parent().unwrap_or(Path::new(".")).join(base);
        std::fs::metadata(&p).ok().map(|m| (p, m.len()))
    }
}

/// Checks every row from the bytes and the identifiers; BIN files a CUE sheet names become
/// its parts (and are not rows of their own when they sit in the same upload).
pub fn validate(rows: &mut Vec<Row>, shelf: &dyn Shelf) {
    let mut claimed: Vec<PathBuf> = Vec::new();
    for row in rows.iter_mut() {
        if row.invalid.is_some() {
            continue;
        }
        let probed = match shelf.probe(&row.path) {
            Ok((size, probed)) => {
                row.bytes = size;
                probed
            }
            Err(e) => {
                row.invalid = Some(e);
                continue;
            }
        };
        row.format = probed.format;
        for name in probed.cue_files {
            match shelf.part(&row.path, &name) {
                Some((p, size)) => {
                    row.bytes += size;
                    claimed.push(p.clone());
                    row.parts.push((name, p));
                }
                None => {
                    row.invalid =
                        Some(detail!("plan_cue_part_missing", name = format!("{name:?}")));
                }
            }
        }
        if let Some(isbn) = &row.isbn
            && row.invalid.is_none()
            && let Err(e) = Isbn::parse(isbn)
        {
            row.invalid = Some(match e {
                IsbnError::NotFound(_) => detail!("plan_isbn_none", isbn = isbn),
                IsbnError::CheckDigit(_) => detail!("plan_isbn_check_digit", isbn = isbn),
                IsbnError::Prefix(_) => detail!("plan_isbn_prefix", isbn = isbn),
            });
        }
    }
    // BIN files that belong to a CUE sheet in this upload are its parts, not discs.
    rows.retain(|r| !claimed.contains(&r.path));
    /// What makes two rows the same disc.
    #[derive(PartialEq, Eq, Hash)]
    enum Key {
        Path(PathBuf),
        Barcode(String, i64),
    }
    let mut seen: HashMap<Key, usize> = HashMap::new();
    for row in rows.iter_mut() {
        let disc = row.disc_number.unwrap_or(1);
        let keys = [
            Some(Key::Path(row.path.clone())),
            row.barcode.clone().map(|b| Key::Barcode(b, disc)),
        ];
        for key in keys.into_iter().flatten() {
            match seen.get(&key) {
                Some(&first) if row.invalid.is_none() => {
                    row.invalid = Some(match &key {
                        Key::Barcode(b, disc) => detail!(
                            "plan_duplicate_barcode",
                            first = first,
                            barcode = b,
                            disc = disc
                        ),
                        Key::Path(p) => {
                            detail!("plan_duplicate_path", first = first, path = p.display())
                        }
                    });
                }
                Some(_) => {}
                None => {
                    seen.insert(key, row.row);
                }
            }
        }
    }
}

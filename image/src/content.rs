//! What a disc is for a reader: its launch target (the page or document `autorun.inf` opens,
//! else a root index page) and its content class for the statistics.

use super::{Entry, EntryKind, Index};

/// Extensions a browser shows by itself; anything else is not a launch target.
const BROWSER_VIEWABLE: [&str; 5] = ["htm", "html", "xhtml", "pdf", "txt"];
const AUDIO: [&str; 9] = [
    "mp3", "wav", "wma", "ogg", "oga", "flac", "m4a", "aac", "cda",
];

fn extension(path: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())
}

fn find_ci<'a>(index: &'a Index, path: &str) -> Option<&'a Entry> {
    index
        .entries
        .iter()
        .find(|e| e.kind == EntryKind::File && e.path.eq_ignore_ascii_case(path))
}

/// The root `autorun.inf`, if the disc has one (its bytes are then read by the caller).
pub fn autorun(index: &Index) -> Option<&Entry> {
    find_ci(index, "autorun.inf").filter(|e| e.size <= 64 * 1024)
}

/// The program `open=` names in the `[autorun]` section, as the disc's path for it (found
/// whatever its case); None when there is none or it is not on the disc.
pub fn autorun_program(index: &Index, autorun_inf: &str) -> Option<String> {
    autorun_entries(autorun_inf, &["open"])
        .into_iter()
        .find_map(|t| find_ci(index, &t).map(|e| e.path.clone()))
}

/// The target named by `open=` or `shellexecute=` in the `[autorun]` section, as a disc path.
fn autorun_targets(inf: &str) -> Vec<String> {
    autorun_entries(inf, &["open", "shellexecute"])
}

/// The targets of `keys` in the `[autorun]` section, as disc paths.
fn autorun_entries(inf: &str, keys: &[&str]) -> Vec<String> {
    let mut in_section = false;
    let mut out = Vec::new();
    for line in inf.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line.eq_ignore_ascii_case("[autorun]");
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        if !in_section || !keys.contains(&key.as_str()) {
            continue;
        }
        let value = value.trim();
        let target = match value.strip_prefix('"') {
            Some(rest) => rest.split('"').next().unwrap_or_default(),
            None => value.split_whitespace().next().unwrap_or_default(),
        };
        let target = target.replace('\\', "/");
        let target = target.trim_start_matches("./").trim_start_matches('/');
        if !target.is_empty() {
            out.push(target.to_string());
        }
    }
    out
}

/// The file a "Launch" button opens: what `autorun.inf` names when a browser can show it,
/// else `index.htm(l)` or `default.htm(l)` at the root; None for discs of executables only.
pub fn launch_target(index: &Index, autorun_inf: Option<&str>) -> Option<String> {
    let viewable = |p: &str| extension(p).is_some_and(|e| BROWSER_VIEWABLE.contains(&e.as_str()));
    if let Some(inf) = autorun_inf {
        for target in autorun_targets(inf) {
            if viewable(&target)
                && let Some(e) = find_ci(index, &target)
            {
                return Some(e.path.clone());
            }
        }
    }
    ["index.html", "index.htm", "default.html", "default.htm"]
        .iter()
        .find_map(|name| find_ci(index, name).map(|e| e.path.clone()))
}

/// Sound for audio-only discs (CD-DA tracks, or only audio files), Audiovisual for DVD-Video
/// (a root `VIDEO_TS`), Multimedia otherwise.
pub fn content_class(index: &Index) -> &'static str {
    let files: Vec<&Entry> = index
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .collect();
    let video_ts = index
        .entries
        .iter()
        .any(|e| e.kind == EntryKind::Dir && e.path.eq_ignore_ascii_case("VIDEO_TS"));
    let all_audio = !files.is_empty()
        && files
            .iter()
            .all(|e| extension(&e.path).is_some_and(|x| AUDIO.contains(&x.as_str())));
    if video_ts {
        "Audiovisual"
    } else if (files.is_empty() && !index.tracks.is_empty()) || all_audio {
        "Sound"
    } else {
        "Multimedia"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(paths: &[(&str, EntryKind)]) -> Index {
        Index {
            formats: vec![],
            view: "iso9660".into(),
            volume_label: None,
            boot: vec![],
            sources: vec![],
            entries: paths
                .iter()
                .map(|(p, k)| Entry {
                    path: (*p).into(),
                    kind: *k,
                    size: 1,
                    mtime: None,
                    source: 0,
                    extents: vec![],
                    target: None,
                })
                .collect(),
            tracks: vec![],
            warnings: vec![],
            media: vec![],
        }
    }

    #[test]
    fn autorun_names_the_program() {
        let ix = index(&[("SETUP.EXE", EntryKind::File), ("docs", EntryKind::Dir)]);
        let inf = "[AutoRun]\r\nopen=setup.exe /q\r\nshellexecute=docs\\start.htm\r\n";
        assert_eq!(autorun_program(&ix, inf).as_deref(), Some("SETUP.EXE"));
        assert_eq!(autorun_program(&ix, "[autorun]\nopen=missing.exe\n"), None);
        assert_eq!(autorun_program(&ix, "[other]\nopen=setup.exe\n"), None);
    }

    #[test]
    fn autorun_names_the_launch_target() {
        let ix = index(&[
            ("SETUP.EXE", EntryKind::File),
            ("Docs", EntryKind::Dir),
            ("Docs/Start.HTM", EntryKind::File),
            ("index.html", EntryKind::File),
        ]);
        let inf = "[AutoRun]\r\nopen=setup.exe /q\r\nshellexecute=\"docs\\start.htm\"\r\n";
        assert_eq!(
            launch_target(&ix, Some(inf)).as_deref(),
            Some("Docs/Start.HTM")
        );
        assert_eq!(
            launch_target(&ix, Some("[autorun]\nopen=setup.exe\n")).as_deref(),
            Some("index.html")
        );
        let exe_only = index(&[
            ("SETUP.EXE", EntryKind::File),
            ("AUTORUN.INF", EntryKind::File),
        ]);
        assert_eq!(
            launch_target(&exe_only, Some("[autorun]\nopen=SETUP.EXE\n")),
            None
        );
    }

    #[test]
    fn content_classes() {
        assert_eq!(
            content_class(&index(&[("VIDEO_TS", EntryKind::Dir)])),
            "Audiovisual"
        );
        assert_eq!(
            content_class(&index(&[
                ("a.MP3", EntryKind::File),
                ("b.wav", EntryKind::File)
            ])),
            "Sound"
        );
        assert_eq!(
            content_class(&index(&[
                ("a.mp3", EntryKind::File),
                ("b.pdf", EntryKind::File)
            ])),
            "Multimedia"
        );
    }
}

//! Disc-image fixtures made by real tools (tests/fixtures/make-images.sh) and the reference
//! readers (bsdtar, 7-Zip) whose extraction every listing and byte is compared with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};

/// The small fixture set, made once per test process, under cargo's scratch folder for tests
/// (kept for the process's life, removed with the target folder, never left in /tmp).
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("spindle-images-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("tempdir")
            .keep();
        make_images(&dir, false);
        dir
    })
}

/// Runs make-images.sh into `dir` (the 4.5 GiB pair when `big`).
pub fn make_images(dir: &Path, big: bool) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make-images.sh");
    let mut cmd = Command::new(&script);
    cmd.arg(dir);
    if big {
        cmd.arg("big");
    }
    let out = cmd.output().expect("run make-images.sh");
    assert!(
        out.status.success(),
        "making fixtures failed (are xorriso, genisoimage, udftools, sox and python3-pycdlib installed? scripts/peers.sh installs them):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Ref {
    Dir,
    File { size: u64, sha256: String },
    Symlink(String),
}

pub fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Walks an extracted tree; names are decoded with `decode` (GBK discs come out as raw bytes).
pub fn walk(root: &Path, decode: &dyn Fn(&[u8]) -> String) -> BTreeMap<String, Ref> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let e = e.expect("entry");
            let name = decode(e.file_name().as_bytes());
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let meta = std::fs::symlink_metadata(e.path()).expect("meta");
            if meta.file_type().is_symlink() {
                let t = std::fs::read_link(e.path()).expect("readlink");
                out.insert(path, Ref::Symlink(t.to_string_lossy().into_owned()));
            } else if meta.is_dir() {
                out.insert(path.clone(), Ref::Dir);
                stack.push((e.path(), path));
            } else {
                let bytes = std::fs::read(e.path()).expect("read");
                out.insert(
                    path,
                    Ref::File {
                        size: bytes.len() as u64,
                        sha256: sha(&bytes),
                    },
                );
            }
        }
    }
    out
}

pub enum Tool {
    Bsdtar,
    SevenZip,
}

/// bchunk's reading of a single-BIN CUE sheet: `{stem}01.iso` for a data track (user data
/// only), `{stem}NN.wav` for each audio track (a canonical 44-byte header, then the PCM).
pub fn bchunk(bin: &Path, cue: &Path, stem: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new("bchunk")
        .arg("-w")
        .arg(bin)
        .arg(cue)
        .arg(dir.path().join(stem))
        .output()
        .expect("run bchunk (scripts/peers.sh installs it)");
    assert!(
        out.status.success(),
        "bchunk {}: {}",
        cue.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

pub fn extract(archive: &Path, tool: Tool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let status = match tool {
        Tool::Bsdtar => Command::new("bsdtar")
            .arg("-xf")
            .arg(archive)
            .arg("-C")
            .arg(dir.path())
            .status(),
        Tool::SevenZip => Command::new("7z")
            .arg("x")
            .arg("-y")
            .arg(format!("-o{}", dir.path().display()))
            .arg(archive)
            .stdout(std::process::Stdio::null())
            .status(),
    }
    .expect("run the reference reader");
    assert!(
        status.success(),
        "reference extraction of {} failed",
        archive.display()
    );
    dir
}

/// The reference reader's view of a fixture.
pub fn reference(name: &str, tool: Tool) -> BTreeMap<String, Ref> {
    let dir = extract(&fixtures().join(name), tool);
    walk(dir.path(), &utf8)
}

pub fn assert_same(name: &str, ours: &BTreeMap<String, Ref>, theirs: &BTreeMap<String, Ref>) {
    let only_ours: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    let only_theirs: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{name}: listings differ\n only ours: {only_ours:?}\n only the reference's: {only_theirs:?}"
    );
    for (path, r) in theirs {
        assert_eq!(ours.get(path), Some(r), "{name}: {path} differs");
    }
    assert!(
        !theirs.is_empty(),
        "{name}: the reference extracted nothing"
    );
}

/// ffprobe's duration of a file or URL, in seconds: the reference reader for media.
pub fn ffprobe_seconds(target: &std::ffi::OsStr) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(target)
        .output()
        .expect("run ffprobe (scripts/peers.sh installs ffmpeg)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe gave no duration for {target:?}: {text:?}"))
}

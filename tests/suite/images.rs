//! The disc-image readers against images made by real tools (xorriso, genisoimage, pycdlib,
//! mkudffs, sox, tests/fixtures/mkbincue.py) and checked against real readers: every listing
//! and every file's bytes must equal what bsdtar (libarchive) or 7-Zip extract.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::discs::{Ref, Tool, assert_same, extract, fixtures, make_images, sha, utf8, walk};
use spindle_image::{
    self as image, Detected, EntryKind, FileSource, ImageError, Index, Limits, Parts, ReadAt,
};

struct Opened {
    main: FileSource,
    named: Vec<(String, FileSource)>,
}

impl Opened {
    fn new(image: &Path, named: &[&str]) -> Self {
        let dir = image.parent().expect("parent");
        Self {
            main: FileSource::open(image).expect("open image"),
            named: named
                .iter()
                .map(|n| {
                    (
                        n.to_string(),
                        FileSource::open(&dir.join(n)).expect("open part"),
                    )
                })
                .collect(),
        }
    }

    fn parts(&self) -> Parts<'_> {
        Parts {
            main: &self.main,
            named: self
                .named
                .iter()
                .map(|(n, r)| (n.clone(), r as &dyn ReadAt))
                .collect(),
        }
    }

    fn index(&self) -> Result<Index, ImageError> {
        image::index(&self.parts(), &Limits::default())
    }
}

/// Our listing and bytes, in the reference's terms.
fn ours(opened: &Opened, index: &Index) -> BTreeMap<String, Ref> {
    let parts = opened.parts();
    index
        .entries
        .iter()
        .map(|e| {
            let r = match e.kind {
                EntryKind::Dir => Ref::Dir,
                EntryKind::Symlink => Ref::Symlink(e.target.clone().unwrap_or_default()),
                EntryKind::File => {
                    let mut buf = vec![0u8; e.size as usize];
                    index
                        .read_entry(&parts, e, 0, &mut buf)
                        .expect("read entry");
                    Ref::File {
                        size: e.size,
                        sha256: sha(&buf),
                    }
                }
            };
            (e.path.clone(), r)
        })
        .collect()
}

fn check_against(image: &str, named: &[&str], tool: Tool) -> Index {
    let path = fixtures().join(image);
    let opened = Opened::new(&path, named);
    let index = opened.index().unwrap_or_else(|e| panic!("{image}: {e}"));
    let extracted = extract(&path, tool);
    assert_same(
        image,
        &ours(&opened, &index),
        &walk(extracted.path(), &utf8),
    );
    index
}

#[test]
fn rock_ridge_and_joliet_match_bsdtar() {
    let index = check_against("rr-joliet.iso", &[], Tool::Bsdtar);
    assert_eq!(index.formats, ["iso9660", "joliet", "rock-ridge"]);
    assert_eq!(index.view, "rock-ridge");
    assert_eq!(index.volume_label.as_deref(), Some("RR_JOLIET"));
    assert!(index.boot.is_empty());
    let deep = index
        .entries
        .iter()
        .find(|e| e.path == "a/b/c/d/e/f/g/h/i/j/k/l/deep.txt")
        .expect("twelve levels deep");
    assert_eq!(deep.mtime, Some(1_700_000_000));
}

#[test]
fn relocated_directories_match_bsdtar() {
    let index = check_against("relocated.iso", &[], Tool::Bsdtar);
    assert_eq!(index.view, "rock-ridge");
    assert!(
        index
            .entries
            .iter()
            .any(|e| e.path == "a/b/c/d/e/f/g/h/i/j/k/l/deep.txt"),
        "the relocated folders are back in place"
    );
    assert!(!index.entries.iter().any(|e| e.path.starts_with("rr_moved")));
}

#[test]
fn joliet_matches_7zip() {
    let index = check_against("joliet.iso", &[], Tool::SevenZip);
    assert_eq!(index.view, "joliet");
    assert_eq!(index.volume_label.as_deref(), Some("JOLIET"));
    assert!(index.entries.iter().any(|e| e.path == "中文目录/说明.txt"));
}

#[test]
fn level1_names_match_bsdtar() {
    let index = check_against("level1.iso", &[], Tool::Bsdtar);
    assert_eq!(index.view, "iso9660");
    let paths: Vec<_> = index.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["DOCS", "DOCS/CH1.TXT", "README.TXT"]);
}

#[test]
fn gbk_names_are_decoded() {
    let path = fixtures().join("gbk.iso");
    let opened = Opened::new(&path, &[]);
    let index = opened.index().expect("index");
    assert!(
        index.formats.iter().any(|f| f == "gbk-names"),
        "{:?}",
        index.formats
    );
    let gbk = |b: &[u8]| encoding_rs::GBK.decode(b).0.into_owned();
    let extracted = extract(&path, Tool::Bsdtar);
    let reference = walk(extracted.path(), &gbk);
    assert!(reference.contains_key("中文目录/说明.txt"), "{reference:?}");
    assert_same("gbk.iso", &ours(&opened, &index), &reference);
}

#[test]
fn el_torito_boot_entries_are_recorded() {
    let index = check_against("boot.iso", &[], Tool::Bsdtar);
    assert!(index.formats.iter().any(|f| f == "el-torito"));
    let boots: Vec<_> = index
        .boot
        .iter()
        .map(|b| (b.platform.as_str(), b.emulation.as_str()))
        .collect();
    assert_eq!(boots, [("x86", "no-emulation"), ("efi", "no-emulation")]);
    let boot_img = index
        .entries
        .iter()
        .find(|e| e.path == "boot/boot.img")
        .expect("boot image");
    assert_eq!(Some(index.boot[0].offset), boot_img.extents[0].offset);
}

#[test]
fn udf_bridge_prefers_udf_and_matches_7zip() {
    let index = check_against("bridge.iso", &[], Tool::SevenZip);
    assert_eq!(index.view, "udf");
    assert!(
        index
            .formats
            .starts_with(&["udf-1.02".to_string(), "iso9660".to_string()]),
        "{:?}",
        index.formats
    );
    let index = check_against("dvd.iso", &[], Tool::SevenZip);
    assert!(
        index
            .entries
            .iter()
            .any(|e| e.path == "VIDEO_TS/VTS_01_1.VOB")
    );
}

#[test]
fn udf_from_pycdlib_matches_7zip() {
    // pycdlib 1.12 asked for UDF 2.60 records a 1.02 domain revision; Spindle reports what
    // the disc says. The 2.50+ structures are covered by udf250-metadata.img.
    let index = check_against("udf260.iso", &[], Tool::SevenZip);
    assert_eq!(index.view, "udf");
    assert_eq!(index.formats, ["udf-1.02", "iso9660"]);
    assert!(index.entries.iter().any(|e| e.path == "DOCS/中文/说明.txt"));
}

#[test]
fn udf_symlinks_and_empty_volumes() {
    let opened = Opened::new(&fixtures().join("udf-symlink.iso"), &[]);
    let index = opened.index().expect("index");
    let link = index
        .entries
        .iter()
        .find(|e| e.path == "LINK")
        .expect("link");
    assert_eq!(
        (link.kind, link.target.as_deref()),
        (EntryKind::Symlink, Some("README.TXT"))
    );

    let opened = Opened::new(&fixtures().join("udf201.img"), &[]);
    let index = opened.index().expect("an empty UDF 2.01 volume");
    assert_eq!(index.view, "udf");
    assert!(index.entries.is_empty());
    assert_eq!(index.volume_label.as_deref(), Some("EMPTY201"));

    let opened = Opened::new(&fixtures().join("udf-vat.img"), &[]);
    let err = opened.index().expect_err("VAT volumes are not read");
    assert!(matches!(err, ImageError::Unsupported(_)), "{err}");
    assert!(
        err.to_string().contains("virtual allocation table"),
        "{err}"
    );
}

fn tone(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).expect("tone")
}

fn track_bytes(opened: &Opened, t: &image::AudioTrack) -> Vec<u8> {
    let parts = opened.parts();
    let reader: &dyn ReadAt = if t.part == 0 {
        parts.main
    } else {
        parts.named[t.part as usize - 1].1
    };
    reader.read_vec(t.offset, t.len as usize).expect("track")
}

#[test]
fn bin_cue_data_and_audio_tracks() {
    // Redump layout: one BIN per track, pregaps stored as INDEX 00.
    let named = [
        "disc (Track 1).bin",
        "disc (Track 2).bin",
        "disc (Track 3).bin",
    ];
    let path = fixtures().join("disc.cue");
    let opened = Opened::new(&path, &named);
    let index = opened.index().expect("index");
    assert_eq!(&index.formats[..3], ["cue", "mode1/2352", "audio"]);
    let extracted = extract(&fixtures().join("track1.iso"), Tool::Bsdtar);
    assert_same(
        "disc.cue",
        &ours(&opened, &index),
        &walk(extracted.path(), &utf8),
    );
    let tracks: Vec<_> = index
        .tracks
        .iter()
        .map(|t| (t.number, t.pregap_frames))
        .collect();
    assert_eq!(tracks, [(2, 150), (3, 150)]);
    assert_eq!(track_bytes(&opened, &index.tracks[0]), tone("tone440.raw"));
    assert_eq!(track_bytes(&opened, &index.tracks[1]), tone("tone660.raw"));

    // Everything in one BIN: the same files and the same PCM.
    let single = Opened::new(&fixtures().join("single.cue"), &["single.bin"]);
    let index2 = single.index().expect("index");
    assert_eq!(ours(&single, &index2), ours(&opened, &index));
    assert_eq!(track_bytes(&single, &index2.tracks[0]), tone("tone440.raw"));
    assert_eq!(track_bytes(&single, &index2.tracks[1]), tone("tone660.raw"));

    // MODE1/2048 (a plain ISO named by a sheet), MODE2/2352 (XA form 1), and a raw MODE1 BIN
    // without its sheet.
    let cooked = Opened::new(&fixtures().join("mode1-2048.cue"), &["track1.iso"]);
    assert_eq!(
        ours(&cooked, &cooked.index().expect("mode1/2048")),
        ours(&opened, &index)
    );
    let mode2 = Opened::new(&fixtures().join("mode2.cue"), &["mode2.bin"]);
    assert_eq!(
        ours(&mode2, &mode2.index().expect("mode2")),
        ours(&opened, &index)
    );
    let raw = Opened::new(&fixtures().join("raw-mode1.bin"), &[]);
    let raw_index = raw.index().expect("raw");
    assert_eq!(raw_index.formats[0], "raw-mode1/2352");
    assert_eq!(ours(&raw, &raw_index), ours(&opened, &index));
}

/// The raw-sector fixtures as other programs read them, not only as our own writer made them:
/// bchunk's data track and WAVs, and cd-info's track list.
#[test]
fn raw_sector_images_read_as_bchunk_and_cd_info_read_them() {
    let d = fixtures();
    let single = Opened::new(&d.join("single.cue"), &["single.bin"]);
    let index = single.index().expect("index");
    let theirs = common::discs::bchunk(&d.join("single.bin"), &d.join("single.cue"), "t");
    // The data track: our files are bsdtar's reading of bchunk's ISO.
    assert_same(
        "single.cue against bchunk",
        &ours(&single, &index),
        &walk(
            extract(&theirs.path().join("t01.iso"), Tool::Bsdtar).path(),
            &utf8,
        ),
    );
    // Each audio track: our PCM is the PCM of bchunk's WAV.
    for (i, t) in index.tracks.iter().enumerate() {
        let wav = std::fs::read(theirs.path().join(format!("t{:02}.wav", t.number)))
            .expect("bchunk's WAV");
        assert!(
            track_bytes(&single, &index.tracks[i]) == wav[44..],
            "track {}: PCM differs from bchunk's",
            t.number
        );
    }

    // cd-info's track list (number, start in sectors, kind) is ours.
    let out = std::process::Command::new("cd-info")
        .args([
            "--no-device-info",
            "--no-cddb",
            "--no-analyze",
            "--cue-file",
        ])
        .arg(d.join("single.cue"))
        .output()
        .expect("run cd-info (scripts/peers.sh installs libcdio-utils)");
    let text = String::from_utf8_lossy(&out.stdout);
    let listed: Vec<(u32, u64, String)> = text
        .lines()
        .skip_while(|l| !l.starts_with("CD-ROM Track List"))
        .skip(2)
        .map_while(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = f.first()?.trim_end_matches(':').parse().ok()?;
            Some((n, f.get(2)?.parse().ok()?, f.get(3)?.to_string()))
        })
        .filter(|(n, _, _)| *n < 100)
        .collect();
    let mut mine = vec![(1, 0, "data".to_string())];
    mine.extend(
        index
            .tracks
            .iter()
            .map(|t| (t.number, t.offset / 2352, "audio".to_string())),
    );
    assert_eq!(listed, mine, "cd-info:\n{text}");

    // MODE2/2352 (XA form 1): bchunk's user data is the ISO our files come from.
    let mode2 = Opened::new(&d.join("mode2.cue"), &["mode2.bin"]);
    let theirs = common::discs::bchunk(&d.join("mode2.bin"), &d.join("mode2.cue"), "m");
    assert_same(
        "mode2.cue against bchunk",
        &ours(&mode2, &mode2.index().expect("mode2")),
        &walk(
            extract(&theirs.path().join("m01.iso"), Tool::Bsdtar).path(),
            &utf8,
        ),
    );
}

#[test]
fn audio_only_cd_honours_pregap_and_index_00() {
    let opened = Opened::new(&fixtures().join("audio.cue"), &["audio.bin"]);
    let index = opened.index().expect("index");
    assert_eq!(index.view, "none");
    assert!(index.entries.is_empty());
    let t: Vec<_> = index
        .tracks
        .iter()
        .map(|t| (t.number, t.offset, t.len, t.pregap_frames))
        .collect();
    // Track 2: PREGAP 1 s (not stored) plus INDEX 00→01 of 2 s (stored silence).
    assert_eq!(
        t,
        [(1, 0, 225 * 2352, 0), (2, 375 * 2352, 150 * 2352, 75 + 150)]
    );
    assert_eq!(track_bytes(&opened, &index.tracks[0]), tone("tone440.raw"));
    assert_eq!(track_bytes(&opened, &index.tracks[1]), tone("tone660.raw"));
}

#[test]
fn cue_sheet_problems_are_named() {
    let path = fixtures().join("disc.cue");
    let opened = Opened::new(&path, &["disc (Track 1).bin"]);
    assert_eq!(
        opened.index().expect_err("missing BIN"),
        ImageError::MissingPart("disc (Track 2).bin".into())
    );
    let source = FileSource::open(&path).expect("open");
    assert!(matches!(image::detect(&source), Ok(Detected::Cue(_))));
}

/// Compares a file inside an image with the file it was made from, 4 MiB at a time.
fn assert_same_bytes(index: &Index, opened: &Opened, path: &str, source: &Path) {
    use std::io::Read;
    let entry = index
        .entries
        .iter()
        .find(|e| e.path == path)
        .expect("entry");
    let mut src = std::fs::File::open(source).expect("source");
    assert_eq!(
        entry.size,
        src.metadata().expect("meta").len(),
        "{path}: size"
    );
    let parts = opened.parts();
    let mut ours = vec![0u8; 4 << 20];
    let mut theirs = vec![0u8; 4 << 20];
    let mut offset = 0u64;
    while offset < entry.size {
        let n = (entry.size - offset).min(ours.len() as u64) as usize;
        index
            .read_entry(&parts, entry, offset, &mut ours[..n])
            .expect("read");
        src.read_exact(&mut theirs[..n]).expect("read source");
        assert!(
            ours[..n] == theirs[..n],
            "{path}: bytes differ in the 4 MiB at {offset}"
        );
        offset += n as u64;
    }
}

#[test]
fn files_over_4_gib_are_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_images(dir.path(), true);
    let source = dir.path().join("big/src/huge.bin");

    // xorriso: ISO 9660 level 3, the file in two extents.
    let opened = Opened::new(&dir.path().join("big-xorriso.iso"), &[]);
    let index = opened.index().expect("index");
    let huge = index
        .entries
        .iter()
        .find(|e| e.path == "huge.bin")
        .expect("huge");
    assert_eq!(huge.extents.len(), 2, "multi-extent");
    assert_same_bytes(&index, &opened, "huge.bin", &source);

    // genisoimage: its ISO 9660 tree has the size modulo 4 GiB; the UDF tree is right.
    let opened = Opened::new(&dir.path().join("big-udf.iso"), &[]);
    let index = opened.index().expect("index");
    assert_eq!(index.view, "udf");
    assert_same_bytes(&index, &opened, "huge.bin", &source);
}

/// 7-Zip's listing: (path, is_dir, size).
fn seven_zip_listing(image: &Path) -> BTreeMap<String, (bool, u64)> {
    let out = std::process::Command::new("7z")
        .args(["l", "-slt"])
        .arg(image)
        .output()
        .expect("7z l");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut listing = BTreeMap::new();
    let mut path: Option<String> = None;
    let mut is_dir = false;
    for line in text.lines().skip_while(|l| !l.starts_with("----------")) {
        if let Some(p) = line.strip_prefix("Path = ") {
            path = Some(p.to_string());
        } else if let Some(f) = line.strip_prefix("Folder = ") {
            is_dir = f == "+";
        } else if let Some(s) = line.strip_prefix("Size = ")
            && let Some(p) = path.take()
        {
            listing.insert(p, (is_dir, s.parse().unwrap_or(0)));
        }
    }
    listing
}

#[test]
fn udf_250_metadata_partition_matches_7zip() {
    let path = fixtures().join("udf250-metadata.img");
    let opened = Opened::new(&path, &[]);
    let index = opened.index().expect("index");
    assert_eq!(index.view, "udf");
    assert_eq!(index.formats, ["udf-2.50"]);
    assert_eq!(index.volume_label.as_deref(), Some("SPINDLE250"));

    // The listing (names, kinds, sizes) is 7-Zip's.
    let theirs = seven_zip_listing(&path);
    let mine: BTreeMap<String, (bool, u64)> = index
        .entries
        .iter()
        .map(|e| (e.path.clone(), (e.kind == EntryKind::Dir, e.size)))
        .collect();
    assert_eq!(mine, theirs);

    // Bytes: 7-Zip extracts the files embedded in their ICBs; it does not read unrecorded
    // extents or continued descriptor lists, so those are held against the writer's manifest.
    let dir = tempfile::tempdir().expect("tempdir");
    let _ = std::process::Command::new("7z")
        .arg("x")
        .arg("-y")
        .arg(format!("-o{}", dir.path().display()))
        .arg(&path)
        .output()
        .expect("7z x");
    let ours = ours(&opened, &index);
    for p in ["README.TXT", "DOCS/中文.txt"] {
        let bytes = std::fs::read(dir.path().join(p)).expect("extracted by 7-Zip");
        assert_eq!(
            ours.get(p),
            Some(&Ref::File {
                size: bytes.len() as u64,
                sha256: sha(&bytes)
            }),
            "{p}"
        );
    }
    let manifest: BTreeMap<String, String> = serde_json::from_slice(
        &std::fs::read(fixtures().join("udf250-metadata.img.expected.json")).expect("manifest"),
    )
    .expect("json");
    for (p, want) in manifest {
        match ours.get(&p) {
            Some(Ref::File { sha256, .. }) => assert_eq!(sha256, &want, "{p}"),
            other => panic!("{p}: {other:?}"),
        }
    }
}

/// Format detection is checked against other programs, not only against itself: for every
/// fixture, what we name is what isoinfo (ISO 9660), udfinfo (UDF), bchunk + isoinfo (a raw
/// 2352-byte track) and cd-info (a CUE sheet) find, and what we refuse none of them reads.
#[test]
fn format_detection_agrees_with_isoinfo_udfinfo_bchunk_and_cd_info() {
    let run = |cmd: &str, args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(cmd)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{cmd}: {e} (scripts/peers.sh installs it)"));
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let iso9660 = |p: &Path| {
        run("isoinfo", &["-d".as_ref(), "-i".as_ref(), p.as_os_str()])
            .1
            .contains("Volume id:")
    };
    let udf = |p: &Path| run("udfinfo", &[p.as_os_str()]).1.contains("\nlabel=");
    let mut kinds = BTreeMap::new();
    for entry in std::fs::read_dir(fixtures()).expect("fixtures") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            continue;
        }
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let source = FileSource::open(&path).expect("open");
        let kind = match image::detect(&source) {
            Ok(Detected::Iso { udf: bridge }) => {
                assert!(iso9660(&path), "{name}: isoinfo finds no ISO 9660");
                assert_eq!(udf(&path), bridge, "{name}: udfinfo on the UDF bridge");
                if bridge { "iso+udf" } else { "iso" }
            }
            Ok(Detected::Udf) => {
                assert!(!iso9660(&path), "{name}: isoinfo finds ISO 9660");
                assert!(udf(&path), "{name}: udfinfo finds no UDF");
                "udf"
            }
            Ok(Detected::Raw { layout }) => {
                // A sheet for the layout we found: bchunk's cooked track must be ISO 9660.
                let mode = match layout.skip {
                    16 => "MODE1/2352",
                    24 => "MODE2/2352",
                    other => panic!("{name}: a raw layout skipping {other} bytes"),
                };
                let dir = tempfile::tempdir().expect("tempdir");
                let cue = dir.path().join("t.cue");
                std::fs::write(
                    &cue,
                    format!(
                        "FILE \"{}\" BINARY\n  TRACK 01 {mode}\n    INDEX 01 00:00:00\n",
                        path.display()
                    ),
                )
                .expect("sheet");
                let theirs = common::discs::bchunk(&path, &cue, "t");
                assert!(
                    !iso9660(&path),
                    "{name}: isoinfo reads raw sectors as ISO 9660"
                );
                assert!(
                    iso9660(&theirs.path().join("t01.iso")),
                    "{name}: bchunk's {mode} track is no ISO 9660"
                );
                "raw"
            }
            Ok(Detected::Cue(text)) => {
                let files: Vec<&str> = text
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("FILE \""))
                    .filter_map(|l| l.split('"').next())
                    .collect();
                assert!(!files.is_empty(), "{name}: a sheet without FILE lines");
                if files.len() > 1 {
                    // libcdio reads one-BIN sheets only (the Redump layout has one per
                    // track): each file the sheet names must be beside it.
                    for f in files {
                        assert!(path.with_file_name(f).is_file(), "{name}: no {f}");
                    }
                    kinds.insert(name, "cue");
                    continue;
                }
                // libcdio opens the BIN named after the sheet (x.cue → x.bin), whatever the
                // FILE line says: give it the sheet beside the file under both names.
                let dir = tempfile::tempdir().expect("tempdir");
                let data = path.with_file_name(files[0]);
                std::os::unix::fs::symlink(&data, dir.path().join("x.bin")).expect("link");
                if files[0] != "x.bin" {
                    std::os::unix::fs::symlink(&data, dir.path().join(files[0])).expect("link");
                }
                let sheet = dir.path().join("x.cue");
                std::fs::write(&sheet, &text).expect("sheet");
                let (ok, text) = run(
                    "cd-info",
                    &[
                        "--no-device-info".as_ref(),
                        "--no-cddb".as_ref(),
                        "--cue-file".as_ref(),
                        sheet.as_os_str(),
                    ],
                );
                assert!(
                    ok && text.contains("CD-ROM Track List"),
                    "{name}: cd-info: {text}"
                );
                "cue"
            }
            Err(_) => {
                assert!(!iso9660(&path), "{name}: refused, but isoinfo reads it");
                assert!(!udf(&path), "{name}: refused, but udfinfo reads it");
                "refused"
            }
        };
        kinds.insert(name, kind);
    }
    // Every kind was met, so no branch above is untried.
    let met: std::collections::BTreeSet<&str> = kinds.values().copied().collect();
    assert_eq!(
        met.into_iter().collect::<Vec<_>>(),
        ["cue", "iso", "iso+udf", "raw", "refused", "udf"],
        "{kinds:#?}"
    );
}

/// The browser sends only the first and last bytes of a file before its upload; the format
/// named from that sample must be the one named from the whole file, for every fixture.
#[test]
fn a_sample_of_head_and_tail_names_the_same_format_as_the_whole_file() {
    let mut compared = 0;
    for entry in std::fs::read_dir(fixtures()).expect("fixtures") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        let size = bytes.len() as u64;
        let head = bytes[..bytes.len().min(image::SAMPLE_HEAD)].to_vec();
        let tail = bytes[bytes.len().saturating_sub(image::SAMPLE_TAIL)..].to_vec();
        let Some(sampled) = image::Sampled::new(size, head, tail) else {
            assert_eq!(size, 0, "{}: a sample of a non-empty file", path.display());
            continue;
        };
        let whole = image::detect(&bytes).map_err(|e| e.to_string());
        let from_sample = image::detect(&sampled).map_err(|e| e.to_string());
        assert_eq!(from_sample, whole, "{}", path.display());
        compared += 1;
    }
    assert!(compared >= 10, "only {compared} fixtures compared");
}

/// A Video CD made by vcdimager: its MPEG video is in XA form 2 sectors of track 2, which the
/// ISO 9660 directory of track 1 points into. Spindle reads 2324 bytes a sector there, and
/// the file holds exactly what vcdimager's own ripper (vcdxrip) takes out of the disc — the
/// MPEG stream ffmpeg made — with only the empty sectors a VCD puts around it.
#[test]
fn vcd_video_is_read_from_its_form2_sectors_as_vcdxrip_reads_it() {
    let opened = Opened::new(&fixtures().join("vcd.cue"), &["vcd.bin"]);
    let index = opened.index().expect("a Video CD is indexed");
    assert!(
        index.formats.iter().any(|f| f == "vcd"),
        "{:?}",
        index.formats
    );
    let entry = |path: &str| {
        index
            .entries
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("{path} in {:?}", index.entries))
    };
    let read = |e: &image::Entry| {
        let mut buf = vec![0u8; e.size as usize];
        index
            .read_entry(&opened.parts(), e, 0, &mut buf)
            .expect("read entry");
        buf
    };
    // Form 1 files keep their 2048-byte sectors.
    let info = read(entry("VCD/INFO.VCD"));
    assert_eq!(info.len(), 2048);
    assert!(info.starts_with(b"VIDEO_CD"), "{:?}", &info[..16]);

    let dat = entry("MPEGAV/AVSEQ01.DAT");
    assert_eq!(dat.size % 2324, 0, "whole form 2 sectors: {}", dat.size);
    let ours = read(dat);
    let rip = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new("vcdxrip")
        .current_dir(rip.path())
        .args(["-q", "-c"])
        .arg(fixtures().join("vcd.cue"))
        .output()
        .expect("run vcdxrip (scripts/peers.sh installs vcdimager)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = std::fs::read(rip.path().join("avseq01.mpg")).expect("vcdxrip's sequence");
    assert_eq!(
        theirs,
        std::fs::read(fixtures().join("vcd.mpg")).expect("source"),
        "vcdxrip gives back ffmpeg's stream"
    );
    let at = ours
        .windows(theirs.len().min(4096))
        .position(|w| w == &theirs[..w.len()])
        .expect("the MPEG stream inside the DAT");
    assert_eq!(at % 2324, 0, "the stream starts on a sector");
    assert_eq!(&ours[at..at + theirs.len()], &theirs[..]);
    assert!(ours[..at].iter().all(|&b| b == 0), "empty sectors before");
    assert!(
        ours[at + theirs.len()..].iter().all(|&b| b == 0),
        "empty sectors after"
    );
}

/// The same Video CD ripped to a 2048-byte ISO: track 1 only. The disc is still listed, the
/// video files it lost are not, and the index says what happened.
#[test]
fn a_vcd_ripped_to_an_iso_says_its_video_was_lost() {
    let opened = Opened::new(&fixtures().join("vcd-rip.iso"), &[]);
    let index = opened.index().expect("the rip is indexed");
    assert!(
        index.formats.iter().any(|f| f == image::VIDEO_LOST),
        "{:?}",
        index.formats
    );
    assert!(index.formats.iter().any(|f| f == "vcd"));
    let paths: Vec<&str> = index.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"VCD/INFO.VCD"), "{paths:?}");
    assert!(!paths.contains(&"MPEGAV/AVSEQ01.DAT"), "{paths:?}");
    assert!(
        index
            .warnings
            .iter()
            .any(|w| w.contains("upload the BIN/CUE")),
        "{:?}",
        index.warnings
    );
}

/// ffprobe's duration of a file, in milliseconds: the reference for the media found.
fn ffprobe_ms(path: &Path) -> u64 {
    (common::discs::ffprobe_seconds(path.as_os_str()) * 1000.0) as u64
}

fn near(ours: Option<u64>, theirs: u64, within_ms: u64) -> bool {
    ours.is_some_and(|o| o.abs_diff(theirs) <= within_ms)
}

/// The titles a reader can play: a VCD's sequence, a DVD's titles in their title sets'
/// order (from the IFO files), each with the duration, picture and codec ffprobe finds in
/// the streams they were made from.
#[test]
fn video_discs_list_their_titles_as_ffprobe_sees_them() {
    use image::media::{MediaKind, Standard};
    let vcd = Opened::new(&fixtures().join("vcd.cue"), &["vcd.bin"]);
    let index = vcd.index().expect("vcd");
    assert_eq!(index.media.len(), 1, "{:?}", index.media);
    let t = &index.media[0];
    assert_eq!((t.kind, t.standard), (MediaKind::Video, Standard::Vcd));
    assert_eq!(t.pieces[0].path, "MPEGAV/AVSEQ01.DAT");
    assert_eq!((t.width, t.height), (Some(352), Some(288)));
    assert_eq!(t.video_codec.as_deref(), Some("mpeg1video"));
    let want = ffprobe_ms(&fixtures().join("vcd.mpg"));
    assert!(
        near(t.duration_ms, want, 100),
        "{:?} vs {want}",
        t.duration_ms
    );

    let dvd = Opened::new(&fixtures().join("dvd-video.iso"), &[]);
    let index = dvd.index().expect("dvd");
    assert!(index.formats.iter().any(|f| f == "dvd-video"));
    let names: Vec<&str> = index.media.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Title 1.1", "Title 2.1"], "{:?}", index.media);
    for (t, n) in index.media.iter().zip(1..) {
        assert_eq!((t.kind, t.standard), (MediaKind::Video, Standard::DvdVideo));
        assert_eq!(t.pieces[0].path, format!("VIDEO_TS/VTS_0{n}_1.VOB"));
        assert_eq!((t.width, t.height), (Some(720), Some(576)));
        assert_eq!(t.video_codec.as_deref(), Some("mpeg2video"));
        let want = ffprobe_ms(&fixtures().join(format!("title{n}.mpg")));
        assert!(
            near(t.duration_ms, want, 100),
            "{:?} vs {want}",
            t.duration_ms
        );
        // The title's bytes are the VOB's, which hold the stream dvdauthor was given.
        let vob = index
            .entries
            .iter()
            .find(|e| e.path == t.pieces[0].path)
            .expect("vob");
        assert!(
            t.len() <= vob.size && t.len() > vob.size / 2,
            "{} of {}",
            t.len(),
            vob.size
        );
    }
    // A data disc with no audio or video has no titles.
    let plain = Opened::new(&fixtures().join("level1.iso"), &[]);
    assert!(plain.index().expect("level1").media.is_empty());
}

/// A data disc's audio and video files are titles too, in path order, each named by its
/// container; other files are not.
#[test]
fn a_data_disc_lists_its_audio_and_video_files() {
    use image::media::{MediaKind, Standard};
    let opened = Opened::new(&fixtures().join("media.iso"), &[]);
    let index = opened.index().expect("media.iso");
    let got: Vec<(&str, MediaKind, &str)> = index
        .media
        .iter()
        .map(|t| {
            assert_eq!(t.standard, Standard::File);
            (t.name.as_str(), t.kind, t.container.as_str())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("audio/track.mp3", MediaKind::Audio, "mp3"),
            ("audio/track.ra", MediaKind::Audio, "rm"),
            ("audio/track.wma", MediaKind::Audio, "asf"),
            ("课件/lesson.avi", MediaKind::Video, "avi"),
            ("课件/lesson.flv", MediaKind::Video, "flv"),
            ("课件/lesson.rm", MediaKind::Video, "rm"),
            ("课件/lesson.wmv", MediaKind::Video, "asf"),
        ]
    );
    for t in &index.media {
        let entry = index
            .entries
            .iter()
            .find(|e| e.path == t.name)
            .expect("entry");
        assert_eq!(t.len(), entry.size, "{} is the whole file", t.name);
    }
}

/// Video discs that lie: a DVD whose first VOB is cut short of what its IFO promises, and a
/// sequence of random bytes. Both are read; what is listed is only what is there, and
/// nothing is guessed from bytes that say nothing.
#[test]
fn video_discs_that_lie_are_listed_for_what_they_hold() {
    let cut = Opened::new(&fixtures().join("dvd-cut.iso"), &[]);
    let index = cut.index().expect("a cut DVD is still read");
    let vob = index
        .entries
        .iter()
        .find(|e| e.path == "VIDEO_TS/VTS_01_1.VOB")
        .expect("vob");
    assert_eq!(vob.size, 100_000);
    let first = &index.media[0];
    assert!(
        first.len() <= vob.size,
        "title 1 claims {} bytes of a {}-byte VOB",
        first.len(),
        vob.size
    );
    assert_eq!(index.media.len(), 2, "{:?}", index.media);

    let fake = Opened::new(&fixtures().join("fake-vcd.iso"), &[]);
    let index = fake.index().expect("random bytes in a sequence");
    assert_eq!(index.media.len(), 1);
    let t = &index.media[0];
    assert_eq!(t.len(), 300_000);
    assert_eq!((t.width, t.height, &t.video_codec), (None, None, &None));
}

//! Hostile images built byte by byte: loops, extents past the end, absurd sizes and counts,
//! deep trees, truncation, unusable names. None may panic, hang or allocate without bound;
//! each must end in an index or a precise error.

use super::*;

const S: usize = 2048;

fn both(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&v.to_le_bytes());
    b[4..].copy_from_slice(&v.to_be_bytes());
    b
}

fn record(name: &[u8], lba: u32, size: u32, flags: u8, su: &[u8]) -> Vec<u8> {
    let mut len = 33 + name.len();
    if len % 2 == 1 {
        len += 1;
    }
    len += su.len();
    let mut r = vec![0u8; len];
    r[0] = len as u8;
    r[2..10].copy_from_slice(&both(lba));
    r[10..18].copy_from_slice(&both(size));
    r[18..25].copy_from_slice(&[123, 11, 14, 22, 13, 20, 0]);
    r[25] = flags;
    r[28..32].copy_from_slice(&[1, 0, 0, 1]);
    r[32] = name.len() as u8;
    r[33..33 + name.len()].copy_from_slice(name);
    let su_at = len - su.len();
    r[su_at..].copy_from_slice(su);
    r
}

/// A minimal ISO 9660 image: PVD at 16, terminator at 17, directories and files as given.
struct Iso {
    data: Vec<u8>,
}

impl Iso {
    fn new(sectors: usize) -> Self {
        let mut data = vec![0u8; sectors * S];
        let pvd = &mut data[16 * S..17 * S];
        pvd[0] = 1;
        pvd[1..6].copy_from_slice(b"CD001");
        pvd[6] = 1;
        pvd[40..72].copy_from_slice(&[b' '; 32]);
        pvd[40..44].copy_from_slice(b"TEST");
        pvd[80..88].copy_from_slice(&both(sectors as u32));
        pvd[128..130].copy_from_slice(&2048u16.to_le_bytes());
        let term = &mut data[17 * S..18 * S];
        term[0] = 255;
        term[1..6].copy_from_slice(b"CD001");
        Self { data }
    }

    fn root(&mut self, lba: u32, size: u32) {
        let r = record(&[0], lba, size, 2, &[]);
        self.data[16 * S + 156..16 * S + 156 + 34].copy_from_slice(&r[..34]);
    }

    /// Writes a directory at `lba`: "." and ".." then `entries`.
    fn dir(&mut self, lba: u32, parent: u32, entries: &[Vec<u8>]) {
        let mut bytes = record(&[0], lba, S as u32, 2, &[]);
        bytes.extend(record(&[1], parent, S as u32, 2, &[]));
        for e in entries {
            bytes.extend_from_slice(e);
        }
        let at = lba as usize * S;
        self.data[at..at + bytes.len()].copy_from_slice(&bytes);
    }

    fn index(&self) -> Result<Index, ImageError> {
        index(
            &Parts {
                main: &self.data,
                named: vec![],
            },
            &Limits::default(),
        )
    }
}

#[test]
fn a_well_formed_image_reads() {
    let mut iso = Iso::new(24);
    iso.root(18, S as u32);
    iso.dir(
        18,
        18,
        &[
            record(b"SUB", 19, S as u32, 2, &[]),
            record(b"A.TXT;1", 20, 5, 0, &[]),
        ],
    );
    iso.dir(19, 18, &[record(b"B.TXT;1", 21, 3, 0, &[])]);
    iso.data[20 * S..20 * S + 5].copy_from_slice(b"hello");
    let ix = iso.index().expect("index");
    let paths: Vec<_> = ix.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["A.TXT", "SUB", "SUB/B.TXT"]);
    assert_eq!(ix.volume_label.as_deref(), Some("TEST"));
    let mut buf = [0u8; 5];
    let a = &ix.entries[0];
    ix.read_entry(
        &Parts {
            main: &iso.data,
            named: vec![],
        },
        a,
        0,
        &mut buf,
    )
    .expect("read");
    assert_eq!(&buf, b"hello");
}

#[test]
fn directory_loops_are_listed_once() {
    let mut iso = Iso::new(24);
    iso.root(18, S as u32);
    // SUB points back at the root; LOOP inside SUB points at SUB.
    iso.dir(18, 18, &[record(b"SUB", 19, S as u32, 2, &[])]);
    iso.dir(
        19,
        18,
        &[
            record(b"LOOP", 19, S as u32, 2, &[]),
            record(b"UP", 18, S as u32, 2, &[]),
        ],
    );
    let ix = iso.index().expect("index");
    let paths: Vec<_> = ix.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["SUB", "SUB/LOOP", "SUB/UP"]);
    assert!(
        ix.warnings.iter().any(|w| w.contains("loops")),
        "{:?}",
        ix.warnings
    );
}

#[test]
fn extents_past_the_end_are_truncation() {
    let mut iso = Iso::new(24);
    iso.root(18, S as u32);
    iso.dir(18, 18, &[record(b"BIG.BIN;1", 20, u32::MAX, 0, &[])]);
    assert!(matches!(iso.index(), Err(ImageError::Truncated { .. })));
    let mut iso = Iso::new(24);
    iso.root(18, S as u32);
    iso.dir(18, 18, &[record(b"SUB", 9_000_000, S as u32, 2, &[])]);
    assert!(matches!(iso.index(), Err(ImageError::Truncated { .. })));
    // The root itself past the end, and an image cut inside the descriptors.
    let mut iso = Iso::new(24);
    iso.root(4_000_000, S as u32);
    assert!(matches!(iso.index(), Err(ImageError::Truncated { .. })));
    let iso = Iso::new(24);
    let cut = iso.data[..16 * S + 100].to_vec();
    assert!(
        index(
            &Parts {
                main: &cut,
                named: vec![]
            },
            &Limits::default()
        )
        .is_err()
    );
}

#[test]
fn absurd_directory_sizes_are_refused_without_allocating() {
    let mut iso = Iso::new(24);
    iso.root(18, u32::MAX);
    let err = iso.index().expect_err("4 GiB directory");
    assert!(matches!(err, ImageError::Limit(_)), "{err}");
}

#[test]
fn deep_trees_stop_at_the_depth_limit() {
    // 200 directories, each inside the previous one.
    let n = 200u32;
    let mut iso = Iso::new(18 + n as usize + 2);
    iso.root(18, S as u32);
    for i in 0..n {
        let lba = 18 + i;
        let child = record(b"D", lba + 1, S as u32, 2, &[]);
        let entries = if i + 1 < n { vec![child] } else { vec![] };
        iso.dir(lba, lba.saturating_sub(1).max(18), &entries);
    }
    let err = iso.index().expect_err("too deep");
    assert!(matches!(err, ImageError::Limit(_)), "{err}");
    assert!(err.to_string().contains("deeper than 128"), "{err}");
}

#[test]
fn too_many_entries_is_a_limit() {
    let mut iso = Iso::new(24);
    iso.root(18, S as u32);
    let files: Vec<Vec<u8>> = (0..40)
        .map(|i| record(format!("F{i}.TXT").as_bytes(), 20, 1, 0, &[]))
        .collect();
    iso.dir(18, 18, &files);
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let err = index(
        &Parts {
            main: &iso.data,
            named: vec![],
        },
        &limits,
    )
    .expect_err("limit");
    assert!(matches!(err, ImageError::Limit(_)), "{err}");
}

fn susp(sig: &[u8; 2], body: &[u8]) -> Vec<u8> {
    let mut e = vec![sig[0], sig[1], (4 + body.len()) as u8, 1];
    e.extend_from_slice(body);
    e
}

#[test]
fn unusable_names_are_cleaned_or_skipped() {
    let mut iso = Iso::new(24);
    iso.root(18, S as u32);
    // Rock Ridge: SP in the root's "." record, then names with "/", NUL and "..".
    let sp = susp(b"SP", &[0xBE, 0xEF, 0]);
    let mut dot = record(&[0], 18, S as u32, 2, &sp);
    let nm = |n: &[u8]| {
        let mut b = vec![0u8];
        b.extend_from_slice(n);
        susp(b"NM", &b)
    };
    let mut bytes = Vec::new();
    bytes.append(&mut dot);
    bytes.extend(record(&[1], 18, S as u32, 2, &[]));
    bytes.extend(record(b"A.TXT;1", 20, 1, 0, &nm(b"a/b\0c")));
    bytes.extend(record(b"B.TXT;1", 20, 1, 0, &nm(b"..")));
    bytes.extend(record(b"C.TXT;1", 20, 1, 0, &nm(b"same")));
    bytes.extend(record(b"D.TXT;1", 20, 1, 0, &nm(b"same")));
    iso.data[18 * S..18 * S + bytes.len()].copy_from_slice(&bytes);
    let ix = iso.index().expect("index");
    assert_eq!(ix.view, "rock-ridge");
    let paths: Vec<_> = ix.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["a_b_c", "same", "same~2"]);
    assert!(
        ix.warnings.iter().any(|w| w.contains("skipped")),
        "{:?}",
        ix.warnings
    );
}

#[test]
fn rock_ridge_continuation_loops_end() {
    let mut iso = Iso::new(24);
    iso.root(18, S as u32);
    let sp = susp(b"SP", &[0xBE, 0xEF, 0]);
    let mut ce = Vec::new();
    ce.extend_from_slice(&both(21));
    ce.extend_from_slice(&both(0));
    ce.extend_from_slice(&both(28));
    let ce = susp(b"CE", &ce);
    // The continuation area at sector 21 continues to itself, forever.
    iso.data[21 * S..21 * S + 28].copy_from_slice(&ce);
    let mut bytes = record(&[0], 18, S as u32, 2, &sp);
    bytes.extend(record(&[1], 18, S as u32, 2, &[]));
    bytes.extend(record(b"A.TXT;1", 20, 1, 0, &ce));
    iso.data[18 * S..18 * S + bytes.len()].copy_from_slice(&bytes);
    let err = iso.index().expect_err("endless continuation");
    assert!(err.to_string().contains("continuation"), "{err}");
}

#[test]
fn invalid_utf16_in_joliet_names_is_replaced() {
    let mut iso = Iso::new(26);
    iso.root(18, S as u32);
    iso.dir(18, 18, &[]);
    // A Joliet SVD at 17 (terminator moves to 18 is not needed: the walk stops at a non-CD001).
    let mut svd = iso.data[16 * S..17 * S].to_vec();
    svd[0] = 2;
    svd[88..91].copy_from_slice(b"%/E");
    let root = record(&[0], 22, S as u32, 2, &[]);
    svd[156..190].copy_from_slice(&root[..34]);
    iso.data[17 * S..18 * S].copy_from_slice(&svd);
    let term_at = 19 * S;
    iso.data[term_at] = 255;
    iso.data[term_at + 1..term_at + 6].copy_from_slice(b"CD001");
    // The PVD root moves out of the descriptor area.
    iso.root(20, S as u32);
    iso.dir(20, 20, &[]);
    let bad_name = [0xD8, 0x00, 0x00, b'x', 0x00, b'/', 0x00, 0x00];
    iso.dir(22, 22, &[record(&bad_name, 24, 1, 0, &[])]);
    let ix = iso.index().expect("index");
    assert_eq!(ix.view, "joliet");
    assert_eq!(ix.entries.len(), 1);
    assert_eq!(ix.entries[0].path, "\u{FFFD}x__");
}

#[test]
fn oversized_bin_files_are_refused() {
    struct Huge;
    impl ReadAt for Huge {
        fn size(&self) -> u64 {
            2_000_000_000
        }
        fn read_exact_at(&self, _: u64, buf: &mut [u8]) -> Result<(), ImageError> {
            buf.fill(0);
            Ok(())
        }
    }
    let cue = b"FILE \"big.bin\" BINARY\nTRACK 01 MODE1/2352\nINDEX 01 00:00:00\n".to_vec();
    let err = index(
        &Parts {
            main: &cue,
            named: vec![("big.bin".into(), &Huge)],
        },
        &Limits::default(),
    )
    .expect_err("bigger than a CD");
    assert!(matches!(err, ImageError::Limit(_)), "{err}");
    assert!(err.to_string().contains("more than a CD can hold"), "{err}");
}

#[test]
fn unknown_formats_are_named() {
    let mut nrg = vec![0u8; 4096];
    nrg.extend_from_slice(b"NER5\0\0\0\0\0\0\0\0");
    assert_eq!(
        detect(&nrg),
        Err(ImageError::Unsupported("Nero image (NRG)".into()))
    );
    let mds = b"MEDIA DESCRIPTOR\x01\x05".to_vec();
    assert!(matches!(detect(&mds), Err(ImageError::Unsupported(m)) if m.contains("MDS")));
    let ccd = b"[CloneCD]\r\nVersion=3\r\n".to_vec();
    assert!(matches!(detect(&ccd), Err(ImageError::Unsupported(m)) if m.contains("CCD")));
    assert_eq!(detect(&vec![7u8; 100_000]), Err(ImageError::Unrecognised));
    assert!(matches!(
        detect(&Vec::new()),
        Err(ImageError::Unsupported(_))
    ));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn base() -> Vec<u8> {
        let mut iso = Iso::new(24);
        iso.root(18, S as u32);
        iso.dir(
            18,
            18,
            &[
                record(b"SUB", 19, S as u32, 2, &[]),
                record(b"A.TXT;1", 20, 5, 0, &[]),
            ],
        );
        iso.dir(19, 18, &[record(b"B.TXT;1", 21, 3, 0, &[])]);
        iso.data
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any corruption of the descriptor and directory sectors ends in an index or an
        /// error, never a panic; and every extent of an index lies inside the image.
        #[test]
        fn corrupted_images_never_panic(flips in proptest::collection::vec((16 * S..22 * S, any::<u8>()), 1..40)) {
            let mut data = base();
            for (at, v) in flips {
                data[at] = v;
            }
            let size = data.len() as u64;
            if let Ok(ix) = index(&Parts { main: &data, named: vec![] }, &Limits::default()) {
                for e in &ix.entries {
                    for x in &e.extents {
                        if let Some(o) = x.offset {
                            prop_assert!(o + x.len <= size, "{} extent past the end", e.path);
                        }
                    }
                }
            }
        }

        /// Any text is a CUE sheet or a precise error.
        #[test]
        fn cue_text_never_panics(text in "(FILE|TRACK|INDEX|PREGAP|REM| |\"|[0-9:]|MODE1/2352|AUDIO|BINARY|\n|x){0,80}") {
            let _ = parse_cue(&text);
        }
    }
}

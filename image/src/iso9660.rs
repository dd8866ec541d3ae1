//! ISO 9660 (ECMA-119) levels 1–3 with multi-extent files, Joliet, Rock Ridge (SUSP with CE
//! continuation areas, NM, PX, TF, SL, CL/RE relocation) and the El Torito boot catalog.

use std::collections::{HashMap, HashSet};

use super::le::{le16, le32};
use super::names::{self, Charset};
use super::tree::Builder;
use super::{Boot, Entry, EntryKind, Extent, ImageError, Index, Limits, ReadAt, SECTOR, time};

const FORMAT: &str = "ISO 9660";
const MAX_DESCRIPTORS: u64 = 64;
const MAX_CONTINUATIONS: usize = 32;
const MAX_BOOT_ENTRIES: usize = 64;

#[derive(Default)]
struct Descriptors {
    primary: Option<Vec<u8>>,
    joliet: Option<Vec<u8>>,
    boot_catalog: Option<u32>,
}

fn descriptors(r: &dyn ReadAt) -> Result<Descriptors, ImageError> {
    let mut found = Descriptors::default();
    for sector in 16..16 + MAX_DESCRIPTORS {
        let offset = sector * SECTOR;
        if offset + SECTOR > r.size() {
            break;
        }
        let vd = r.read_vec(offset, SECTOR as usize)?;
        if &vd[1..6] != b"CD001" {
            // UDF's volume recognition sequence may follow the ISO terminator; it is not ours.
            break;
        }
        match vd[0] {
            0 if vd[7..30].starts_with(b"EL TORITO SPECIFICATION") => {
                found.boot_catalog = Some(le32(&vd, 71));
            }
            1 if found.primary.is_none() => found.primary = Some(vd),
            2 if found.joliet.is_none() && is_joliet(&vd) => found.joliet = Some(vd),
            255 => break,
            _ => {}
        }
    }
    Ok(found)
}

fn is_joliet(svd: &[u8]) -> bool {
    let esc = &svd[88..91];
    esc == b"%/@" || esc == b"%/C" || esc == b"%/E"
}

/// One directory record, borrowed from the directory's bytes.
struct Record<'a> {
    lba: u32,
    ext_attr: u8,
    size: u32,
    time: &'a [u8],
    flags: u8,
    name: &'a [u8],
    system_use: &'a [u8],
}

const FLAG_DIR: u8 = 0x02;
const FLAG_MULTI_EXTENT: u8 = 0x80;

impl<'a> Record<'a> {
    fn parse(b: &'a [u8]) -> Result<Self, ImageError> {
        let len = usize::from(b[0]);
        if len < 34 || len > b.len() {
            return Err(ImageError::malformed(
                FORMAT,
                format!("directory record of {len} bytes"),
            ));
        }
        let b = &b[..len];
        let name_len = usize::from(b[32]);
        let name_end = 33 + name_len;
        if name_end > len {
            return Err(ImageError::malformed(
                FORMAT,
                "file identifier runs past its directory record",
            ));
        }
        let su_start = (name_end + usize::from(name_len % 2 == 0)).min(len);
        Ok(Self {
            lba: le32(b, 2),
            ext_attr: b[1],
            size: le32(b, 10),
            time: &b[18..25],
            flags: b[25],
            name: &b[33..name_end],
            system_use: &b[su_start..],
        })
    }

    fn is_self_or_parent(&self) -> bool {
        self.name == [0] || self.name == [1]
    }
}

/// A directory's records, skipping the zero padding at the end of each sector (records never
/// cross sector boundaries).
fn records(data: &[u8]) -> impl Iterator<Item = Result<Record<'_>, ImageError>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        loop {
            if pos >= data.len() {
                return None;
            }
            let len = usize::from(data[pos]);
            if len == 0 {
                pos = (pos / SECTOR as usize + 1) * SECTOR as usize;
                continue;
            }
            let sector_end = ((pos / SECTOR as usize + 1) * SECTOR as usize).min(data.len());
            let rec = Record::parse(&data[pos..sector_end]);
            pos += len;
            if rec.is_err() {
                pos = data.len();
            }
            return Some(rec);
        }
    })
}

fn record_time(t: &[u8]) -> Option<i64> {
    let offset = i64::from(t[6] as i8) * 15;
    time::unix(1900 + i64::from(t[0]), t[1], t[2], t[3], t[4], t[5], offset)
}

fn long_time(t: &[u8]) -> Option<i64> {
    let digits = std::str::from_utf8(&t[..16]).ok()?;
    let n = |r: std::ops::Range<usize>| digits.get(r)?.parse::<u32>().ok();
    time::unix(
        i64::from(n(0..4)?),
        u8::try_from(n(4..6)?).ok()?,
        u8::try_from(n(6..8)?).ok()?,
        u8::try_from(n(8..10)?).ok()?,
        u8::try_from(n(10..12)?).ok()?,
        u8::try_from(n(12..14)?).ok()?,
        i64::from(t[16] as i8) * 15,
    )
}

/// What Rock Ridge says about one directory record.
#[derive(Default)]
struct RockRidge {
    name: Option<Vec<u8>>,
    mode: Option<u32>,
    mtime: Option<i64>,
    symlink: Option<Vec<u8>>,
    child_link: Option<u32>,
    relocated: bool,
}

const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFDIR: u32 = 0o040_000;

struct Volume<'r> {
    r: &'r dyn ReadAt,
    block: u64,
    /// Rock Ridge's LEN_SKP when the primary tree carries it.
    rr_skip: Option<usize>,
    joliet: bool,
    /// A CD-i Bridge disc (Video CD, Super Video CD): its system identifier says so.
    bridge: bool,
    /// Files of a bridge disc whose sectors are not in this image (counted, not listed).
    outside: std::cell::Cell<u32>,
}

impl Volume<'_> {
    fn extent_bytes(&self, lba: u32, ext_attr: u8) -> u64 {
        (u64::from(lba) + u64::from(ext_attr)) * self.block
    }

    fn read_dir(&self, lba: u32, size: u32, limits: &Limits) -> Result<Vec<u8>, ImageError> {
        if u64::from(size) > limits.max_dir_bytes {
            return Err(ImageError::Limit(format!(
                "a directory of {size} bytes (limit {})",
                limits.max_dir_bytes
            )));
        }
        self.r.read_vec(u64::from(lba) * self.block, size as usize)
    }

    fn rock_ridge(&self, su: &[u8]) -> Result<RockRidge, ImageError> {
        let mut rr = RockRidge::default();
        let skip = self.rr_skip.unwrap_or(0);
        let mut area = su.get(skip..).unwrap_or_default().to_vec();
        let mut name = Vec::new();
        let mut link: Vec<u8> = Vec::new();
        let mut link_open = false;
        for _ in 0..=MAX_CONTINUATIONS {
            let mut next = None;
            let mut pos = 0usize;
            while pos + 4 <= area.len() {
                let sig = [area[pos], area[pos + 1]];
                let len = usize::from(area[pos + 2]);
                if len < 4 || pos + len > area.len() {
                    break;
                }
                let e = &area[pos..pos + len];
                match &sig {
                    b"NM" if len >= 5 && e[4] & 0x06 == 0 => {
                        name.extend_from_slice(&e[5..]);
                        rr.name = Some(name.clone());
                    }
                    b"PX" if len >= 8 => rr.mode = Some(le32(e, 4)),
                    b"TF" if len >= 5 => rr.mtime = tf_modify(e).or(rr.mtime),
                    b"SL" if len >= 5 => {
                        sl_components(&e[5..], &mut link, &mut link_open);
                        rr.symlink = Some(link.clone());
                    }
                    b"CL" if len >= 12 => rr.child_link = Some(le32(e, 4)),
                    b"RE" => rr.relocated = true,
                    b"CE" if len >= 28 => next = Some((le32(e, 4), le32(e, 12), le32(e, 20))),
                    b"ST" => break,
                    _ => {}
                }
                pos += len;
            }
            let Some((block, offset, length)) = next else {
                return Ok(rr);
            };
            if length > 64 * 1024 {
                return Err(ImageError::malformed(
                    "Rock Ridge",
                    format!("continuation area of {length} bytes"),
                ));
            }
            area = self.r.read_vec(
                u64::from(block) * self.block + u64::from(offset),
                length as usize,
            )?;
        }
        Err(ImageError::malformed(
            "Rock Ridge",
            format!("more than {MAX_CONTINUATIONS} continuation areas for one record"),
        ))
    }
}

fn tf_modify(e: &[u8]) -> Option<i64> {
    let flags = e[4];
    let long = flags & 0x80 != 0;
    let width = if long { 17 } else { 7 };
    let mut pos = 5;
    for bit in 0..7 {
        if flags & (1 << bit) == 0 {
            continue;
        }
        let stamp = e.get(pos..pos + width)?;
        if bit == 1 {
            return if long {
                long_time(stamp)
            } else {
                record_time(stamp)
            };
        }
        pos += width;
    }
    None
}

fn sl_components(mut data: &[u8], link: &mut Vec<u8>, open: &mut bool) {
    while data.len() >= 2 {
        let flags = data[0];
        let len = usize::from(data[1]).min(data.len() - 2);
        let content = &data[2..2 + len];
        if !*open && !link.is_empty() && link != b"/" {
            link.push(b'/');
        }
        if flags & 0x02 != 0 {
            link.push(b'.');
        } else if flags & 0x04 != 0 {
            link.extend_from_slice(b"..");
        } else if flags & 0x08 != 0 {
            link.clear();
            link.push(b'/');
        } else {
            link.extend_from_slice(content);
        }
        *open = flags & 0x01 != 0;
        data = &data[2 + len..];
    }
}

enum Name {
    Bytes(Vec<u8>),
    Text(String),
}

struct Node {
    parent: Option<usize>,
    name: Name,
    kind: EntryKind,
    size: u64,
    mtime: Option<i64>,
    extents: Vec<Extent>,
    target: Option<Vec<u8>>,
    multi_extent_open: bool,
    hidden: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tree {
    RockRidge,
    Joliet,
    Primary,
}

/// The format tag of a Video CD whose video files lie outside the image.
pub const VIDEO_LOST: &str = "vcd-video-lost";

pub(crate) fn read(r: &dyn ReadAt, limits: &Limits) -> Result<Index, ImageError> {
    let vds = descriptors(r)?;
    let Some(pvd) = vds.primary.as_deref() else {
        return Err(ImageError::Unrecognised);
    };
    let block = u64::from(le16(pvd, 128));
    if !matches!(block, 512 | 1024 | 2048) {
        return Err(ImageError::malformed(
            FORMAT,
            format!("logical block size {block}"),
        ));
    }
    let root = Record::parse(&pvd[156..190])?;
    let mut volume = Volume {
        r,
        block,
        rr_skip: None,
        joliet: false,
        bridge: pvd[8..40].starts_with(b"CD-RTOS CD-BRIDGE"),
        outside: std::cell::Cell::new(0),
    };
    volume.rr_skip = rock_ridge_skip(&volume, &root)?;

    let mut formats = vec!["iso9660".to_string()];
    if vds.joliet.is_some() {
        formats.push("joliet".into());
    }
    if volume.rr_skip.is_some() {
        formats.push("rock-ridge".into());
    }
    let boot = match vds.boot_catalog {
        Some(lba) => boot_catalog(r, u64::from(lba) * block).unwrap_or_default(),
        None => Vec::new(),
    };
    if !boot.is_empty() {
        formats.push("el-torito".into());
    }

    let (tree, root_vd) = match (&vds.joliet, volume.rr_skip) {
        (_, Some(_)) => (Tree::RockRidge, pvd),
        (Some(svd), None) => (Tree::Joliet, svd.as_slice()),
        (None, None) => (Tree::Primary, pvd),
    };
    volume.joliet = tree == Tree::Joliet;
    let root = Record::parse(&root_vd[156..190])?;
    let mut builder = Builder::new(limits);
    let mut nodes = walk(&volume, &root, tree, &mut builder)?;
    if tree == Tree::RockRidge {
        hide_relocation_dir(&mut nodes);
    }
    if volume.outside.get() > 0 {
        formats.push(VIDEO_LOST.into());
        builder.warnings.push(format!(
            "{} files of this Video CD are not in the image: it was ripped to 2048-byte \
             sectors, which loses the video; upload the BIN/CUE instead",
            volume.outside.get()
        ));
    }

    let charset = names::choose_charset(nodes.iter().filter_map(|n| match &n.name {
        Name::Bytes(b) => Some(b.as_slice()),
        Name::Text(_) => None,
    }));
    if charset == Charset::Gbk {
        formats.push("gbk-names".into());
    } else if charset == Charset::Latin1 {
        builder
            .warnings
            .push("names are neither UTF-8 nor GBK; shown as Latin-1".into());
    }
    let volume_label = match &vds.joliet {
        Some(svd) => names::padded(names::utf16be(&svd[40..72])),
        None => {
            let raw = &pvd[40..72];
            names::padded(names::decode(
                raw,
                names::choose_charset(std::iter::once(raw)),
            ))
        }
    };
    build_entries(nodes, charset, &mut builder)?;
    let view = match tree {
        Tree::RockRidge => "rock-ridge",
        Tree::Joliet => "joliet",
        Tree::Primary => "iso9660",
    };
    let (entries, warnings) = builder.finish();
    Ok(Index {
        formats,
        view: view.into(),
        volume_label,
        boot,
        sources: Vec::new(),
        entries,
        tracks: Vec::new(),
        warnings,
        media: Vec::new(),
    })
}

/// Rock Ridge is present when the root's "." record starts its system use area with SUSP's SP.
fn rock_ridge_skip(volume: &Volume<'_>, root: &Record<'_>) -> Result<Option<usize>, ImageError> {
    let size = root.size.min(SECTOR as u32);
    let data = volume.read_dir(root.lba, size, &Limits::default())?;
    let Some(first) = records(&data).next().transpose()? else {
        return Ok(None);
    };
    let su = first.system_use;
    if su.len() >= 7 && &su[..2] == b"SP" && su[4] == 0xBE && su[5] == 0xEF {
        return Ok(Some(usize::from(su[6])));
    }
    Ok(None)
}

fn walk(
    volume: &Volume<'_>,
    root: &Record<'_>,
    tree: Tree,
    builder: &mut Builder<'_>,
) -> Result<Vec<Node>, ImageError> {
    let mut nodes: Vec<Node> = Vec::new();
    // (node of the directory, its extent, its size, depth)
    let mut stack: Vec<(Option<usize>, u32, u32, usize)> = vec![(None, root.lba, root.size, 0)];
    while let Some((dir, lba, size, depth)) = stack.pop() {
        if !builder.enter(u64::from(lba), "", depth)? {
            continue;
        }
        let data = volume.read_dir(lba, size, builder.limits)?;
        let mut open: Option<usize> = None;
        for rec in records(&data) {
            let rec = rec?;
            if rec.is_self_or_parent() {
                continue;
            }
            if nodes.len() >= builder.limits.max_entries {
                return Err(ImageError::Limit(format!(
                    "more than {} files and directories",
                    builder.limits.max_entries
                )));
            }
            let rr = match tree {
                Tree::RockRidge => volume.rock_ridge(rec.system_use)?,
                _ => RockRidge::default(),
            };
            if rr.relocated {
                continue;
            }
            let name = match (tree, &rr.name) {
                (Tree::RockRidge, Some(n)) => Name::Bytes(n.clone()),
                (Tree::Joliet, _) => {
                    Name::Text(names::strip_iso_version(&names::utf16be(rec.name)).to_string())
                }
                _ => Name::Bytes(primary_name(rec.name)),
            };
            let mode_kind = rr.mode.map(|m| m & S_IFMT);
            let is_dir = rec.flags & FLAG_DIR != 0 || rr.child_link.is_some();
            let extent = Extent {
                offset: Some(volume.extent_bytes(rec.lba, rec.ext_attr)),
                len: u64::from(rec.size),
            };
            // A continuation of a multi-extent file: same name, next extent.
            if let Some(i) = open {
                let same = match (&nodes[i].name, &name) {
                    (Name::Bytes(a), Name::Bytes(b)) => a == b,
                    (Name::Text(a), Name::Text(b)) => a == b,
                    _ => false,
                };
                if same && !is_dir {
                    check_extent(volume, &extent)?;
                    let node = &mut nodes[i];
                    node.extents.push(extent);
                    node.size += extent.len;
                    node.multi_extent_open = rec.flags & FLAG_MULTI_EXTENT != 0;
                    if !node.multi_extent_open {
                        open = None;
                    }
                    continue;
                }
                open = None;
            }
            let mtime = rr.mtime.or_else(|| record_time(rec.time));
            if is_dir {
                let (dlba, dsize) = match rr.child_link {
                    Some(target) => (target, relocated_size(volume, target)?),
                    None => (
                        rec.lba
                            .checked_add(u32::from(rec.ext_attr))
                            .ok_or_else(|| {
                                ImageError::malformed(
                                    "directory record",
                                    format!(
                                        "a directory starts past the last block (LBA {} + {})",
                                        rec.lba, rec.ext_attr
                                    ),
                                )
                            })?,
                        rec.size,
                    ),
                };
                nodes.push(Node {
                    parent: dir,
                    name,
                    kind: EntryKind::Dir,
                    size: 0,
                    mtime,
                    extents: Vec::new(),
                    target: None,
                    multi_extent_open: false,
                    hidden: false,
                });
                stack.push((Some(nodes.len() - 1), dlba, dsize, depth + 1));
                continue;
            }
            let (kind, target) = match (mode_kind, rr.symlink) {
                (Some(S_IFLNK), Some(t)) | (None, Some(t)) => (EntryKind::Symlink, Some(t)),
                (Some(S_IFDIR), _) => (EntryKind::Dir, None),
                _ => (EntryKind::File, None),
            };
            let extents = if kind == EntryKind::File {
                match check_extent(volume, &extent) {
                    Ok(()) => vec![extent],
                    // A Video CD ripped to a 2048-byte ISO keeps track 1 only: its video
                    // files point past the end. The rest of the disc is still readable.
                    Err(_) if volume.bridge => {
                        volume.outside.set(volume.outside.get() + 1);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            } else {
                Vec::new()
            };
            let multi = rec.flags & FLAG_MULTI_EXTENT != 0 && kind == EntryKind::File;
            nodes.push(Node {
                parent: dir,
                name,
                kind,
                size: if kind == EntryKind::File {
                    extent.len
                } else {
                    0
                },
                mtime,
                extents,
                target,
                multi_extent_open: multi,
                hidden: false,
            });
            if multi {
                open = Some(nodes.len() - 1);
            }
        }
    }
    Ok(nodes)
}

fn primary_name(raw: &[u8]) -> Vec<u8> {
    // Versions and the trailing dot are ASCII, so strip them on the bytes before decoding.
    let end = raw
        .iter()
        .rposition(|&b| b == b';')
        .filter(|&i| raw[i + 1..].iter().all(u8::is_ascii_digit))
        .unwrap_or(raw.len());
    let mut name = &raw[..end];
    if name.len() > 1 && name.ends_with(b".") {
        name = &name[..name.len() - 1];
    }
    name.to_vec()
}

fn check_extent(volume: &Volume<'_>, e: &Extent) -> Result<(), ImageError> {
    let end = e.offset.unwrap_or(0).saturating_add(e.len);
    if end > volume.r.size() {
        return Err(ImageError::Truncated {
            needed: end,
            size: volume.r.size(),
        });
    }
    Ok(())
}

/// The size of a relocated directory, from its own "." record.
fn relocated_size(volume: &Volume<'_>, lba: u32) -> Result<u32, ImageError> {
    let first = volume
        .r
        .read_vec(u64::from(lba) * volume.block, SECTOR as usize)?;
    let dot = Record::parse(&first)?;
    Ok(dot.size)
}

/// mkisofs moves directories nested deeper than eight levels under `rr_moved`; with Rock
/// Ridge they appear where they belong, and the emptied relocation folder is not shown.
fn hide_relocation_dir(nodes: &mut [Node]) {
    let has_children: HashSet<usize> = nodes.iter().filter_map(|n| n.parent).collect();
    let hidden: Vec<usize> = nodes
        .iter()
        .enumerate()
        .filter(|(i, n)| {
            n.parent.is_none()
                && n.kind == EntryKind::Dir
                && matches!(&n.name, Name::Bytes(b) if b.eq_ignore_ascii_case(b"rr_moved") || b.eq_ignore_ascii_case(b".rr_moved"))
                && !has_children.contains(i)
        })
        .map(|(i, _)| i)
        .collect();
    for i in hidden {
        nodes[i].hidden = true;
    }
}

fn build_entries(
    nodes: Vec<Node>,
    charset: Charset,
    builder: &mut Builder<'_>,
) -> Result<(), ImageError> {
    let mut paths: Vec<Option<String>> = Vec::with_capacity(nodes.len());
    let mut siblings: HashMap<Option<usize>, HashSet<String>> = HashMap::new();
    for node in nodes {
        let dir = match node.parent {
            None => Some(String::new()),
            Some(p) => paths.get(p).cloned().flatten(),
        };
        let Some(dir) = dir.filter(|_| !node.hidden) else {
            paths.push(None);
            continue;
        };
        let name = match &node.name {
            Name::Bytes(b) => names::decode(b, charset),
            Name::Text(t) => t.clone(),
        };
        let path = builder.child_path(&dir, &name, siblings.entry(node.parent).or_default())?;
        paths.push(path.clone());
        let Some(path) = path else { continue };
        builder.push(Entry {
            path,
            kind: node.kind,
            size: node.size,
            mtime: node.mtime,
            source: 0,
            extents: node.extents,
            target: node.target.map(|t| names::decode(&t, charset)),
        })?;
    }
    Ok(())
}

fn boot_catalog(r: &dyn ReadAt, offset: u64) -> Result<Vec<Boot>, ImageError> {
    let cat = r.read_vec(offset, SECTOR as usize)?;
    if cat[0] != 1 || cat[30] != 0x55 || cat[31] != 0xAA {
        return Ok(Vec::new());
    }
    let sum = cat[..32].chunks_exact(2).fold(0u16, |s, w| {
        s.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    if sum != 0 {
        return Ok(Vec::new());
    }
    let mut boots = Vec::new();
    let mut platform = cat[1];
    let mut pos = 32;
    let mut entry_is_default = true;
    let mut remaining_in_section = 1usize;
    let mut last_section = false;
    while pos + 32 <= cat.len() && boots.len() < MAX_BOOT_ENTRIES {
        let e = &cat[pos..pos + 32];
        pos += 32;
        if remaining_in_section == 0 {
            match e[0] {
                0x90 | 0x91 if !last_section => {
                    platform = e[1];
                    remaining_in_section = usize::from(le16(e, 2));
                    last_section = e[0] == 0x91;
                    continue;
                }
                _ => break,
            }
        }
        remaining_in_section -= 1;
        if e[0] == 0x88 {
            let sectors = u64::from(le16(e, 6));
            let (emulation, len) = match e[1] & 0x0F {
                0 => ("no-emulation", sectors * 512),
                1 => ("floppy-1.2m", 1_228_800),
                2 => ("floppy-1.44m", 1_474_560),
                3 => ("floppy-2.88m", 2_949_120),
                4 => ("hard-disk", sectors * 512),
                _ => ("unknown", sectors * 512),
            };
            boots.push(Boot {
                platform: match platform {
                    0 => "x86",
                    1 => "powerpc",
                    2 => "mac",
                    0xEF => "efi",
                    _ => "other",
                }
                .into(),
                emulation: emulation.into(),
                offset: u64::from(le32(e, 8)) * SECTOR,
                len,
            });
        }
        if entry_is_default {
            entry_is_default = false;
            remaining_in_section = 0;
        }
    }
    Ok(boots)
}

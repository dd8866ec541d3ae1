//! UDF 1.02–2.60 (ECMA-167): anchor, volume descriptor sequence, physical, sparable and
//! metadata (2.50+) partitions, file entries and extended file entries with short, long and
//! extended allocation descriptors or data embedded in the ICB, and OSTA CS0 names.

use std::collections::HashSet;

use super::le::{le16, le32, le64};
use super::names;
use super::tree::Builder;
use super::{Entry, EntryKind, Extent, ImageError, Index, Limits, ReadAt, SECTOR, time};

const FORMAT: &str = "UDF";
const MAX_VDS_SECTORS: u64 = 512;
const MAX_AD_CHAINS: usize = 4096;

/// A descriptor tag's identifier, when its checksum holds.
fn tag_id(b: &[u8]) -> Option<u16> {
    if b.len() < 16 {
        return None;
    }
    let sum = b[..16]
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .fold(0u8, |s, (_, &x)| s.wrapping_add(x));
    (sum == b[4]).then(|| le16(b, 0))
}

#[derive(Clone, Copy)]
struct LongAd {
    lbn: u32,
    partition: u16,
}

impl LongAd {
    fn parse(b: &[u8]) -> Self {
        Self {
            lbn: le32(b, 4),
            partition: le16(b, 8),
        }
    }
}

enum Map {
    Physical {
        start: u64,
        len: u64,
    },
    /// A metadata partition: its logical blocks are the bytes of the metadata file, whose
    /// extents (start block in the metadata partition, length in blocks, physical block) are
    /// here.
    Metadata {
        extents: Vec<(u64, u64, u64)>,
    },
}

struct Volume<'r> {
    r: &'r dyn ReadAt,
    block: u64,
    maps: Vec<Map>,
}

struct FileEntry {
    kind: u8,
    size: u64,
    mtime: Option<i64>,
    extents: Vec<Extent>,
}

const FT_DIR: u8 = 4;
const FT_FILE: u8 = 5;
const FT_SYMLINK: u8 = 12;

impl Volume<'_> {
    /// Byte ranges holding `len` bytes from block `lbn` of partition reference `pref`.
    fn resolve(&self, pref: u16, lbn: u32, len: u64) -> Result<Vec<(u64, u64)>, ImageError> {
        let map = self.maps.get(usize::from(pref)).ok_or_else(|| {
            ImageError::malformed(FORMAT, format!("partition reference {pref} has no map"))
        })?;
        match map {
            Map::Physical { start, len: plen } => {
                let lbn = u64::from(lbn);
                if lbn + len.div_ceil(self.block) > *plen {
                    return Err(ImageError::malformed(
                        FORMAT,
                        format!("extent at block {lbn} runs past its partition"),
                    ));
                }
                Ok(vec![((start + lbn) * self.block, len)])
            }
            Map::Metadata { extents } => {
                let mut out = Vec::new();
                let mut block = u64::from(lbn);
                let mut left = len;
                while left > 0 {
                    let Some(&(s, n, phys)) = extents
                        .iter()
                        .find(|(s, n, _)| (*s..s + n).contains(&block))
                    else {
                        return Err(ImageError::malformed(
                            FORMAT,
                            format!("metadata block {block} is outside the metadata file"),
                        ));
                    };
                    let avail = (s + n - block) * self.block;
                    let take = avail.min(left);
                    out.push(((phys + block - s) * self.block, take));
                    left -= take;
                    block = s + n;
                }
                Ok(out)
            }
        }
    }

    fn read_block(&self, pref: u16, lbn: u32) -> Result<Vec<u8>, ImageError> {
        let pieces = self.resolve(pref, lbn, self.block)?;
        let (offset, _) = pieces[0];
        self.r.read_vec(offset, self.block as usize)
    }

    fn read_extents(&self, extents: &[Extent], limit: u64) -> Result<Vec<u8>, ImageError> {
        let total: u64 = extents.iter().map(|e| e.len).sum();
        if total > limit {
            return Err(ImageError::Limit(format!(
                "a directory of {total} bytes (limit {limit})"
            )));
        }
        let mut out = Vec::with_capacity(total as usize);
        for e in extents {
            match e.offset {
                Some(o) => out.extend_from_slice(&self.r.read_vec(o, e.len as usize)?),
                None => out.resize(out.len() + e.len as usize, 0),
            }
        }
        Ok(out)
    }

    fn file_entry(&self, icb: LongAd) -> Result<FileEntry, ImageError> {
        let (fe_offset, _) = self.resolve(icb.partition, icb.lbn, self.block)?[0];
        let b = self.r.read_vec(fe_offset, self.block as usize)?;
        let (size, mtime_at, l_ea, l_ad, ad_start) = match tag_id(&b) {
            Some(261) => (le64(&b, 56), 84, le32(&b, 168), le32(&b, 172), 176usize),
            Some(266) => (le64(&b, 56), 92, le32(&b, 208), le32(&b, 212), 216usize),
            other => {
                return Err(ImageError::malformed(
                    FORMAT,
                    format!(
                        "expected a file entry at block {}, found tag {other:?}",
                        icb.lbn
                    ),
                ));
            }
        };
        let kind = b[16 + 11];
        let flags = le16(&b, 16 + 18);
        let ads_at = ad_start + l_ea as usize;
        let ads_end = ads_at.saturating_add(l_ad as usize);
        if ads_end > b.len() {
            return Err(ImageError::malformed(
                FORMAT,
                "allocation descriptors run past their file entry",
            ));
        }
        let mtime = timestamp(&b[mtime_at..mtime_at + 12]);
        let extents = match flags & 7 {
            3 => {
                if size > u64::from(l_ad) {
                    return Err(ImageError::malformed(
                        FORMAT,
                        "embedded data shorter than the file",
                    ));
                }
                vec![Extent {
                    offset: Some(fe_offset + ads_at as u64),
                    len: size,
                }]
            }
            ad_type => self.allocation(&b[ads_at..ads_end], ad_type, icb.partition, size)?,
        };
        Ok(FileEntry {
            kind,
            size,
            mtime,
            extents,
        })
    }

    fn allocation(
        &self,
        first: &[u8],
        ad_type: u16,
        pref: u16,
        size: u64,
    ) -> Result<Vec<Extent>, ImageError> {
        let width = match ad_type {
            0 => 8,
            1 => 16,
            2 => 20,
            t => {
                return Err(ImageError::malformed(
                    FORMAT,
                    format!("allocation descriptor type {t}"),
                ));
            }
        };
        let mut out: Vec<Extent> = Vec::new();
        let mut covered = 0u64;
        let mut area = first.to_vec();
        for _ in 0..MAX_AD_CHAINS {
            let mut next = None;
            for ad in area.chunks_exact(width) {
                let raw = le32(ad, 0);
                let (etype, elen) = (raw >> 30, u64::from(raw & 0x3FFF_FFFF));
                if elen == 0 {
                    break;
                }
                let (lbn, part) = match ad_type {
                    0 => (le32(ad, 4), pref),
                    1 => (le32(ad, 4), le16(ad, 8)),
                    _ => (le32(ad, 12), le16(ad, 16)),
                };
                if etype == 3 {
                    next = Some((part, lbn, elen));
                    break;
                }
                let take = elen.min(size.saturating_sub(covered));
                if take == 0 {
                    continue;
                }
                if etype == 0 {
                    for (offset, len) in self.resolve(part, lbn, take)? {
                        out.push(Extent {
                            offset: Some(offset),
                            len,
                        });
                    }
                } else {
                    out.push(Extent {
                        offset: None,
                        len: take,
                    });
                }
                covered += take;
            }
            let Some((part, lbn, len)) = next else {
                break;
            };
            let (offset, _) = self.resolve(part, lbn, len.min(self.block))?[0];
            let aed = self.r.read_vec(offset, len.min(self.block) as usize)?;
            if tag_id(&aed) != Some(258) {
                return Err(ImageError::malformed(
                    FORMAT,
                    "allocation extent descriptor expected",
                ));
            }
            let l_ad = le32(&aed, 20) as usize;
            area = aed.get(24..24 + l_ad).unwrap_or_default().to_vec();
        }
        if covered < size {
            return Err(ImageError::malformed(
                FORMAT,
                format!("allocation descriptors cover {covered} of {size} bytes"),
            ));
        }
        for e in &out {
            if let Some(o) = e.offset {
                let end = o.saturating_add(e.len);
                if end > self.r.size() {
                    return Err(ImageError::Truncated {
                        needed: end,
                        size: self.r.size(),
                    });
                }
            }
        }
        Ok(out)
    }
}

fn timestamp(t: &[u8]) -> Option<i64> {
    let tz = le16(t, 0) & 0x0FFF;
    let offset = if tz & 0x800 != 0 {
        i64::from(tz) - 0x1000
    } else {
        i64::from(tz)
    };
    let offset = if offset == -2047 { 0 } else { offset };
    time::unix(i64::from(le16(t, 2)), t[4], t[5], t[6], t[7], t[8], offset)
}

/// The volume recognition sequence says NSR02/NSR03 (UDF) somewhere after sector 16.
pub(crate) fn has_vrs(r: &dyn ReadAt) -> bool {
    (16..16 + 64).any(|s| {
        let mut id = [0u8; 6];
        r.read_exact_at(s * SECTOR, &mut id).is_ok()
            && (&id[1..6] == b"NSR02" || &id[1..6] == b"NSR03")
    })
}

/// The anchor volume descriptor pointer and the block size it was found with (2048 on
/// optical media; hard-disk style volumes use 512 or 4096).
fn anchor(r: &dyn ReadAt) -> Result<(u64, Vec<u8>), ImageError> {
    for block in [SECTOR, 512, 1024, 4096] {
        let last = (r.size() / block).saturating_sub(1);
        for sector in [256, last.saturating_sub(256), last] {
            if let Ok(b) = r.read_vec(sector * block, block.min(SECTOR) as usize)
                && tag_id(&b) == Some(2)
                && le32(&b, 12) == sector as u32
            {
                return Ok((block, b));
            }
        }
    }
    Err(ImageError::malformed(
        FORMAT,
        "no anchor volume descriptor pointer at sector 256 or at the end",
    ))
}

struct Sequence {
    partitions: Vec<(u16, u64, u64)>,
    lvd: Option<Vec<u8>>,
    pvd_label: Option<String>,
}

fn sequence(r: &dyn ReadAt, block: u64, loc: u32, len: u32) -> Result<Sequence, ImageError> {
    let mut seq = Sequence {
        partitions: Vec::new(),
        lvd: None,
        pvd_label: None,
    };
    let sectors = (u64::from(len) / block).min(MAX_VDS_SECTORS);
    for i in 0..sectors {
        let b = r.read_vec((u64::from(loc) + i) * block, block.max(512) as usize)?;
        match tag_id(&b) {
            Some(1) => seq.pvd_label = names::padded(names::dstring(&b[24..56])),
            Some(5) => seq.partitions.push((
                le16(&b, 22),
                u64::from(le32(&b, 188)),
                u64::from(le32(&b, 192)),
            )),
            Some(6) => seq.lvd = Some(b),
            Some(8) | None => break,
            _ => {}
        }
    }
    Ok(seq)
}

pub(crate) fn read(r: &dyn ReadAt, limits: &Limits) -> Result<Index, ImageError> {
    if !has_vrs(r) {
        return Err(ImageError::Unrecognised);
    }
    let (anchor_block, avdp) = anchor(r)?;
    let mut seq = sequence(r, anchor_block, le32(&avdp, 20), le32(&avdp, 16))?;
    if seq.lvd.is_none() || seq.partitions.is_empty() {
        seq = sequence(r, anchor_block, le32(&avdp, 28), le32(&avdp, 24))?;
    }
    let Some(lvd) = seq.lvd else {
        return Err(ImageError::malformed(
            FORMAT,
            "no logical volume descriptor",
        ));
    };
    let block = u64::from(le32(&lvd, 212));
    if block != anchor_block {
        return Err(ImageError::malformed(
            FORMAT,
            format!("block size {block}, but the anchor was found with {anchor_block}"),
        ));
    }
    let revision = le16(&lvd, 216 + 24);
    let label = names::padded(names::dstring(&lvd[84..212])).or(seq.pvd_label);
    let fsd_ad = LongAd::parse(&lvd[248..264]);
    let map_count = le32(&lvd, 268).min(64) as usize;
    let mut volume = Volume {
        r,
        block,
        maps: Vec::new(),
    };
    let physical = |pnum: u16| -> Result<Map, ImageError> {
        let &(_, start, len) = seq
            .partitions
            .iter()
            .find(|(n, _, _)| *n == pnum)
            .ok_or_else(|| ImageError::malformed(FORMAT, format!("no partition {pnum}")))?;
        Ok(Map::Physical { start, len })
    };
    let mut metadata_files = Vec::new();
    let mut pos = 440usize;
    for _ in 0..map_count {
        let (Some(&kind), Some(&mlen)) = (lvd.get(pos), lvd.get(pos + 1)) else {
            break;
        };
        let m = lvd.get(pos..pos + usize::from(mlen)).unwrap_or_default();
        match (kind, m.len()) {
            (1, 6) => volume.maps.push(physical(le16(m, 4))?),
            (2, 64) => {
                let ident = &m[5..28];
                if ident.starts_with(b"*UDF Metadata Partition") {
                    metadata_files.push((volume.maps.len(), le16(m, 38), le32(m, 40)));
                    volume.maps.push(Map::Metadata {
                        extents: Vec::new(),
                    });
                } else if ident.starts_with(b"*UDF Sparable Partition") {
                    volume.maps.push(physical(le16(m, 38))?);
                } else if ident.starts_with(b"*UDF Virtual Partition") {
                    return Err(ImageError::Unsupported(
                        "UDF with a virtual allocation table (a packet-written CD-R)".into(),
                    ));
                } else {
                    return Err(ImageError::malformed(FORMAT, "unknown partition map"));
                }
            }
            _ => return Err(ImageError::malformed(FORMAT, "malformed partition map")),
        }
        pos += usize::from(mlen.max(1));
    }
    // The metadata file is a file entry in the physical partition it rides on.
    for (slot, pnum, file_lbn) in metadata_files {
        let pref = volume
            .maps
            .iter()
            .zip(0u16..)
            .find_map(|(m, i)| match (m, physical(pnum)) {
                (Map::Physical { start, .. }, Ok(Map::Physical { start: s2, .. }))
                    if *start == s2 =>
                {
                    Some(i)
                }
                _ => None,
            })
            .ok_or_else(|| {
                ImageError::malformed(FORMAT, "metadata partition without its physical map")
            })?;
        let fe = volume.file_entry(LongAd {
            lbn: file_lbn,
            partition: pref,
        })?;
        let mut extents = Vec::new();
        let mut meta_block = 0u64;
        for e in fe.extents {
            let blocks = e.len.div_ceil(block);
            if let Some(o) = e.offset {
                extents.push((meta_block, blocks, o / block));
            }
            meta_block += blocks;
        }
        volume.maps[slot] = Map::Metadata { extents };
    }

    let fsd = volume.read_block(fsd_ad.partition, fsd_ad.lbn)?;
    if tag_id(&fsd) != Some(256) {
        return Err(ImageError::malformed(FORMAT, "no file set descriptor"));
    }
    let root = LongAd::parse(&fsd[400..416]);
    let mut builder = Builder::new(limits);
    walk(&volume, root, &mut builder)?;
    let (entries, warnings) = builder.finish();
    Ok(Index {
        formats: vec![format!("udf-{}.{:02x}", revision >> 8, revision & 0xFF)],
        view: "udf".into(),
        volume_label: label,
        boot: Vec::new(),
        sources: Vec::new(),
        entries,
        tracks: Vec::new(),
        warnings,
        media: Vec::new(),
    })
}

fn walk(volume: &Volume<'_>, root: LongAd, builder: &mut Builder<'_>) -> Result<(), ImageError> {
    let mut stack: Vec<(LongAd, String, usize)> = vec![(root, String::new(), 0)];
    while let Some((icb, path, depth)) = stack.pop() {
        let key = (u64::from(icb.partition) << 32) | u64::from(icb.lbn);
        if !builder.enter(key, &path, depth)? {
            continue;
        }
        let dir = volume.file_entry(icb)?;
        if dir.kind != FT_DIR {
            return Err(ImageError::malformed(
                FORMAT,
                format!("{path:?} is listed as a directory but is not one"),
            ));
        }
        let data = volume.read_extents(&dir.extents, builder.limits.max_dir_bytes)?;
        let mut siblings = HashSet::new();
        let mut pos = 0usize;
        while pos + 38 <= data.len() {
            let fid = &data[pos..];
            if tag_id(fid) != Some(257) {
                break;
            }
            let chars = fid[18];
            let l_fi = usize::from(fid[19]);
            let l_iu = usize::from(le16(fid, 36));
            let total = (38 + l_iu + l_fi + 3) & !3;
            if pos + total > data.len() + 3 {
                return Err(ImageError::malformed(
                    FORMAT,
                    "file identifier runs past its directory",
                ));
            }
            let name_at = 38 + l_iu;
            let raw_name = fid.get(name_at..name_at + l_fi).unwrap_or_default();
            let child = LongAd::parse(&fid[20..36]);
            pos += total;
            if chars & 0x04 != 0 || chars & 0x08 != 0 {
                continue; // deleted, or the parent entry
            }
            if builder.entries.len() >= builder.limits.max_entries {
                return Err(ImageError::Limit(format!(
                    "more than {} files and directories",
                    builder.limits.max_entries
                )));
            }
            let name = names::cs0(raw_name);
            let Some(child_path) = builder.child_path(&path, &name, &mut siblings)? else {
                continue;
            };
            let fe = volume.file_entry(child)?;
            let kind = match fe.kind {
                FT_DIR => EntryKind::Dir,
                FT_SYMLINK => EntryKind::Symlink,
                FT_FILE => EntryKind::File,
                _ => EntryKind::File,
            };
            let target = if kind == EntryKind::Symlink {
                let bytes = volume.read_extents(&fe.extents, 4096)?;
                Some(symlink_target(&bytes))
            } else {
                None
            };
            if kind == EntryKind::Dir {
                stack.push((child, child_path.clone(), depth + 1));
            }
            builder.push(Entry {
                path: child_path,
                kind,
                size: if kind == EntryKind::File { fe.size } else { 0 },
                mtime: fe.mtime,
                source: 0,
                extents: if kind == EntryKind::File {
                    fe.extents
                } else {
                    Vec::new()
                },
                target,
            })?;
        }
    }
    Ok(())
}

/// ECMA-167 path components: 1 root, 3 parent, 4 current, 5 a name.
fn symlink_target(mut data: &[u8]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut absolute = false;
    while data.len() >= 4 {
        let kind = data[0];
        let len = usize::from(data[1]).min(data.len() - 4);
        let ident = &data[4..4 + len];
        match kind {
            1 | 2 => {
                absolute = true;
                parts.clear();
            }
            3 => parts.push("..".into()),
            4 => parts.push(".".into()),
            5 => parts.push(names::cs0(ident)),
            _ => {}
        }
        data = &data[4 + len..];
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

//! One bibliographic record from a MARC21 or UNIMARC/CNMARC record: identifiers, titles
//! (with the 880 vernacular and the CNMARC pinyin), people, publication, classification,
//! holdings with their barcodes, the host record of a separately catalogued disc, and the
//! evidence of accompanying discs. The flavour is read from the record itself: the SRU
//! schema URI says "marcxml" for both. Text is NFC so that comparisons hold.

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::discs::{DiscEvidence, DiscKind};
use crate::isbn::Isbn;
use crate::marc::{Field, Record};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    Marc21,
    Unimarc,
}

/// MARC21 or UNIMARC, by the evidence in the record: leader/20-23, the title field, the
/// shape of 008 / 100 $a.
pub fn flavour(r: &Record) -> Flavour {
    let mut score = 0i32; // > 0 MARC21, < 0 UNIMARC
    let tail: String = r.leader.chars().skip(20).take(4).collect();
    if tail == "4500" {
        score += 2;
    } else if tail.starts_with("450") {
        score -= 2;
    }
    if r.fields("245").next().is_some() {
        score += 3;
    }
    if r.fields("200").next().is_some() {
        score -= 3;
    }
    if r.control("008").is_some_and(|v| v.chars().count() == 40) {
        score += 1;
    }
    if r.first("100", 'a').is_some_and(|v| v.chars().count() == 36) {
        score -= 1;
    }
    if r.fields("215").next().is_some() || r.fields("010").next().is_some() {
        score -= 1;
    }
    if r.fields("300").any(|f| f.first('e').is_some()) || r.fields("020").next().is_some() {
        score += 1;
    }
    if score >= 0 {
        Flavour::Marc21
    } else {
        Flavour::Unimarc
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IsbnEntry {
    /// As catalogued.
    pub raw: String,
    /// The 10 or 13 characters found, even when the check digit is wrong (a raw key).
    pub digits: Option<String>,
    pub isbn13: Option<String>,
    pub isbn10: Option<String>,
    /// From $z: cancelled or invalid.
    pub cancelled: bool,
    /// Qualifier, price or binding noted with it (`(pbk.)`, `CNY29.00(含光盘)`, `平装`).
    pub qualifier: Option<String>,
}

impl IsbnEntry {
    fn new(raw: &str, cancelled: bool, qualifier: Option<String>) -> Option<Self> {
        let digits = Isbn::digits(raw);
        let valid = Isbn::parse(raw).ok();
        if digits.is_none() && valid.is_none() {
            return None;
        }
        Some(Self {
            raw: nfc(raw),
            digits,
            isbn13: valid.map(|i| i.isbn13()),
            isbn10: valid.and_then(|i| i.isbn10()),
            cancelled,
            qualifier,
        })
    }

    /// The forms a server may have catalogued: ISBN-13 and ISBN-10, or the raw key.
    pub fn lookup_forms(&self) -> Vec<String> {
        Isbn::lookup_forms(&self.raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub scheme: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holding {
    pub barcode: Option<String>,
    pub call_number: Option<String>,
    pub location: Option<String>,
    pub materials: Option<String>,
    /// This item is the disc (its own barcode, a 光盘库 location, item type CD…).
    pub disc: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostLink {
    pub id: Option<String>,
    pub title: Option<String>,
    pub isbn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BibRecord {
    pub flavour: Flavour,
    pub id: Option<String>,
    /// Koha's biblionumber (999 $c / 090 $9) where present.
    pub koha_id: Option<String>,
    pub deleted: bool,
    /// Catalogued as a disc (an electronic resource, a sound or video recording).
    pub disc_record: bool,
    pub isbns: Vec<IsbnEntry>,
    pub title: String,
    pub title_vernacular: Option<String>,
    pub title_pinyin: Option<String>,
    pub authors: Vec<String>,
    /// The statement of responsibility as catalogued (245 $c; 200 $f $g).
    pub responsibility: Option<String>,
    pub publisher: Option<String>,
    pub year: Option<i32>,
    pub edition: Option<String>,
    /// Series statements with their numbering (490 / 830; 225 / 410).
    pub series: Vec<String>,
    /// Subject headings, subdivisions joined by " -- " (6XX).
    pub subjects: Vec<String>,
    pub classification: Vec<Classification>,
    pub holdings: Vec<Holding>,
    pub host: Option<HostLink>,
    pub discs: DiscEvidence,
}

pub fn nfc(s: &str) -> String {
    s.nfc().collect()
}

/// ISBD punctuation that ends a subfield (` /`, ` :`, ` ;`, `,`, ` =`) is not the title.
fn trim_isbd(s: &str) -> String {
    s.trim_end_matches([' ', '/', ':', ';', ',', '='])
        .trim()
        .to_string()
}

fn join(f: &Field, codes: &[char]) -> String {
    let parts: Vec<&str> = f
        .subfields()
        .iter()
        .filter(|s| codes.contains(&s.code))
        .map(|s| s.value.trim())
        .filter(|v| !v.is_empty())
        .collect();
    trim_isbd(&nfc(&parts.join(" ")))
}

fn year_in(s: &str) -> Option<i32> {
    let digits: String = s
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .get(..4)
        .and_then(|d| d.parse().ok())
        .filter(|y| (1000..=2999).contains(y))
}

fn some(s: Option<&str>) -> Option<String> {
    s.map(|v| trim_isbd(&nfc(v))).filter(|v| !v.is_empty())
}

/// Each field's subfields `codes`, with the subdivisions `subdivisions` after " -- ".
fn headings<'a>(
    fields: impl Iterator<Item = &'a Field>,
    main: &[char],
    subdivisions: &[char],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in fields {
        let mut parts = vec![join(f, main)];
        parts.extend(
            f.subfields()
                .iter()
                .filter(|s| subdivisions.contains(&s.code))
                .map(|s| trim_isbd(&nfc(s.value.trim()))),
        );
        parts.retain(|p| !p.is_empty());
        let heading = parts.join(" -- ").trim_end_matches('.').to_string();
        if !heading.is_empty() && !out.contains(&heading) {
            out.push(heading);
        }
    }
    out
}

fn is_disc_item(texts: &[Option<&str>]) -> bool {
    texts.iter().flatten().any(|t| {
        let t = t.to_lowercase();
        t.contains("光盘")
            || t.contains("光碟")
            || t.contains("disc")
            || t.contains("cd")
            || t.contains("dvd")
    })
}

impl BibRecord {
    pub fn from_marc(r: &Record) -> Self {
        match flavour(r) {
            Flavour::Marc21 => marc21(r),
            Flavour::Unimarc => unimarc(r),
        }
    }

    /// Barcodes of the items that are discs, then of the others.
    pub fn barcodes(&self, disc: bool) -> Vec<String> {
        self.holdings
            .iter()
            .filter(|h| h.disc == disc)
            .filter_map(|h| h.barcode.clone())
            .collect()
    }

    /// Every lookup form of every (non-cancelled) ISBN, deduplicated.
    pub fn isbn_forms(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in self.isbns.iter().filter(|e| !e.cancelled) {
            for f in e.lookup_forms() {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        out
    }
}

fn marc21(r: &Record) -> BibRecord {
    let mut isbns = Vec::new();
    for f in r.fields("020") {
        let qualifier = f
            .values('q')
            .chain(f.values('c'))
            .collect::<Vec<_>>()
            .join(" ");
        for a in f.values('a') {
            let inner = a.find(['(', '（', ':']).map(|i| a[i..].trim().to_string());
            let q = [inner.unwrap_or_default(), qualifier.clone()]
                .join(" ")
                .trim()
                .to_string();
            isbns.extend(IsbnEntry::new(a, false, (!q.is_empty()).then(|| nfc(&q))));
        }
        for z in f.values('z') {
            isbns.extend(IsbnEntry::new(z, true, None));
        }
    }
    let title_field = r.fields("245").next();
    let title = title_field
        .map(|f| join(f, &['a', 'b', 'n', 'p']))
        .unwrap_or_default();
    let vernacular = r
        .fields("880")
        .find(|f| f.first('6').is_some_and(|l| l.starts_with("245")))
        .map(|f| join(f, &['a', 'b', 'n', 'p']));
    let authors = r
        .fields_where(|t| matches!(t, "100" | "110" | "111" | "700" | "710" | "711"))
        .filter_map(|f| some(f.first('a')))
        .collect();
    let pub_field = r
        .fields("264")
        .find(|f| f.indicators().1 == '1')
        .or_else(|| r.fields("260").next());
    let year = r
        .control("008")
        .and_then(|v| v.get(7..11))
        .and_then(|y| y.parse().ok())
        .filter(|y: &i32| (1000..=2999).contains(y))
        .or_else(|| pub_field.and_then(|f| f.first('c')).and_then(year_in));
    let mut classification = Vec::new();
    for f in r.fields("084") {
        let scheme = f.first('2').unwrap_or("084").to_string();
        classification.extend(f.values('a').map(|v| Classification {
            scheme: scheme.clone(),
            value: nfc(v),
        }));
    }
    for f in r.fields("050") {
        classification.extend(f.first('a').map(|v| Classification {
            scheme: "lc".into(),
            value: nfc(v),
        }));
    }
    let mut holdings = Vec::new();
    for f in r.fields("852") {
        let call = [f.first('h'), f.first('i')]
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        holdings.push(Holding {
            barcode: some(f.first('p')),
            call_number: (!call.is_empty()).then_some(call),
            location: some(f.first('b')),
            materials: some(f.first('3')),
            disc: is_disc_item(&[f.first('3')]),
        });
    }
    for f in r.fields("952") {
        holdings.push(Holding {
            barcode: some(f.first('p')),
            call_number: some(f.first('o')),
            location: some(f.first('c').or(f.first('b'))),
            materials: some(f.first('3')),
            disc: is_disc_item(&[
                f.first('3'),
                f.first('y')
                    .filter(|y| y.eq_ignore_ascii_case("cd") || y.eq_ignore_ascii_case("dvd")),
            ]),
        });
    }
    let host = r.fields("773").next().map(|f| HostLink {
        id: f.first('w').map(|w| {
            let w = w.trim();
            w.strip_prefix('(')
                .and_then(|rest| rest.split_once(')'))
                .map_or(w, |(_, id)| id)
                .to_string()
        }),
        title: some(f.first('t')),
        isbn: f
            .first('z')
            .and_then(|z| Isbn::parse(z).ok())
            .map(|i| i.isbn13()),
    });
    let leader6 = r.leader_at(6);
    let disc_record = matches!(leader6, 'm' | 'i' | 'j' | 'g');
    // Every item of a record that is itself a disc is a disc.
    holdings.iter_mut().for_each(|h| h.disc |= disc_record);
    let mut sources: Vec<(String, &str)> = Vec::new();
    for f in r.fields("300") {
        sources.extend(f.values('e').map(|v| ("300$e".to_string(), v)));
        if disc_record {
            sources.extend(f.values('a').map(|v| ("300$a".to_string(), v)));
        }
    }
    for f in r.fields("020") {
        sources.extend(f.values('q').map(|v| ("020$q".to_string(), v)));
    }
    for f in r.fields_where(|t| t.starts_with('5')) {
        sources.extend(f.values('a').map(|v| (format!("{}$a", f.tag()), v)));
    }
    // RDA carrier types: 338 $a names the carrier ("computer disc", "audio disc",
    // "videodisc"), $3 the part it belongs to.
    for f in r.fields_where(|t| t == "337" || t == "338") {
        sources.extend(f.values('3').map(|v| (format!("{}$3", f.tag()), v)));
        if f.tag() == "338" {
            sources.extend(f.values('a').map(|v| ("338$a".to_string(), v)));
        }
    }
    let mut discs = DiscEvidence::from_sources(sources);
    // 007, the physical description: an optical computer disc, a sound disc, a videodisc. It
    // names a family; the words of the record may say more (MP3, VCD).
    for v in r.fields("007").filter_map(|f| match f {
        crate::marc::Field::Control { value, .. } => Some(value.as_str()),
        crate::marc::Field::Data { .. } => None,
    }) {
        let Some(kind) = (match v.get(..2) {
            Some("co") => Some(DiscKind::CdRom),
            Some("sd") => Some(DiscKind::Audio),
            Some("vd") => Some(DiscKind::DvdVideo),
            _ => None,
        }) else {
            continue;
        };
        if discs.count == 0 {
            discs.count = 1;
            discs.sources.push(format!("007: {v}"));
        }
        discs.refine(kind, true);
    }
    BibRecord {
        flavour: Flavour::Marc21,
        id: r.control("001").map(str::trim).map(str::to_string),
        koha_id: r.first("999", 'c').map(str::to_string),
        deleted: r.leader_at(5) == 'd',
        disc_record,
        isbns,
        title,
        title_vernacular: vernacular,
        title_pinyin: None,
        authors,
        responsibility: title_field.and_then(|f| some(f.first('c'))),
        publisher: pub_field.and_then(|f| some(f.first('b'))),
        year,
        edition: some(r.first("250", 'a')),
        series: {
            let mut series = headings(r.fields("490"), &['a', 'v'], &[]);
            if series.is_empty() {
                series = headings(r.fields("830"), &['a', 'n', 'p', 'v'], &[]);
            }
            series
        },
        subjects: headings(
            r.fields_where(|t| matches!(t, "600" | "610" | "611" | "630" | "650" | "651")),
            &['a', 'b', 'c', 'd'],
            &['v', 'x', 'y', 'z'],
        ),
        classification,
        holdings,
        host,
        discs,
    }
}

fn unimarc(r: &Record) -> BibRecord {
    let mut isbns = Vec::new();
    for f in r.fields("010") {
        let qualifier = f
            .values('b')
            .chain(f.values('d'))
            .collect::<Vec<_>>()
            .join(" ");
        let q = (!qualifier.is_empty()).then(|| nfc(&qualifier));
        for a in f.values('a') {
            isbns.extend(IsbnEntry::new(a, false, q.clone()));
        }
        for z in f.values('z') {
            isbns.extend(IsbnEntry::new(z, true, None));
        }
    }
    let t = r.fields("200").next();
    let title = t
        .map(|f| join(f, &['a', 'e', 'h', 'i']))
        .unwrap_or_default();
    let pinyin = t.and_then(|f| some(f.first('9')));
    let mut authors: Vec<String> = r
        .fields_where(|t| matches!(t, "700" | "701" | "702" | "710" | "711" | "712"))
        .filter_map(|f| some(f.first('a')))
        .collect();
    if authors.is_empty() {
        authors.extend(t.and_then(|f| some(f.first('f'))));
    }
    let pub_field = r.fields("210").next().or_else(|| r.fields("214").next());
    let year = r
        .first("100", 'a')
        .and_then(|v| v.get(9..13))
        .and_then(|y| y.parse().ok())
        .filter(|y: &i32| (1000..=2999).contains(y))
        .or_else(|| pub_field.and_then(|f| f.first('d')).and_then(year_in));
    let mut classification = Vec::new();
    for (tag, scheme) in [
        ("690", "clc"),
        ("692", "kt"),
        ("686", "686"),
        ("681", "681"),
    ] {
        for f in r.fields(tag) {
            classification.extend(f.values('a').map(|v| Classification {
                scheme: scheme.into(),
                value: nfc(v),
            }));
        }
    }
    let mut holdings = Vec::new();
    for f in r.fields("905") {
        let call = [f.first('d'), f.first('e')]
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        holdings.push(Holding {
            barcode: some(f.first('b')),
            call_number: (!call.is_empty()).then_some(call),
            location: some(f.first('c')),
            materials: some(f.first('f')),
            disc: is_disc_item(&[f.first('c'), f.first('f')]),
        });
    }
    for f in r.fields("995") {
        holdings.push(Holding {
            barcode: some(f.first('f')),
            call_number: some(f.first('k')),
            location: some(f.first('e').or(f.first('b'))),
            materials: some(f.first('u')),
            disc: is_disc_item(&[
                f.first('u'),
                f.first('r')
                    .filter(|y| y.eq_ignore_ascii_case("cd") || y.eq_ignore_ascii_case("dvd")),
            ]),
        });
    }
    let host = r
        .fields_where(|t| matches!(t, "421" | "422" | "461" | "462"))
        .find(|f| f.tag() != "421")
        .map(|f| HostLink {
            id: some(f.first('0')),
            title: some(f.first('t')),
            isbn: f
                .first('y')
                .and_then(|z| Isbn::parse(z).ok())
                .map(|i| i.isbn13()),
        });
    let disc_record = matches!(r.leader_at(6), 'l' | 'm' | 'i' | 'j' | 'g');
    holdings.iter_mut().for_each(|h| h.disc |= disc_record);
    let mut sources: Vec<(String, &str)> = Vec::new();
    for f in r.fields("215") {
        sources.extend(f.values('e').map(|v| ("215$e".to_string(), v)));
        if disc_record {
            sources.extend(f.values('a').map(|v| ("215$a".to_string(), v)));
        }
    }
    for f in r.fields("010") {
        sources.extend(f.values('b').map(|v| ("010$b".to_string(), v)));
        sources.extend(f.values('d').map(|v| ("010$d".to_string(), v)));
    }
    for f in r.fields_where(|t| t.starts_with('3')) {
        sources.extend(f.values('a').map(|v| (format!("{}$a", f.tag()), v)));
    }
    BibRecord {
        flavour: Flavour::Unimarc,
        id: r.control("001").map(str::trim).map(str::to_string),
        koha_id: r.first("090", '9').map(str::to_string),
        deleted: r.leader_at(5) == 'd',
        disc_record,
        isbns,
        title,
        title_vernacular: None,
        title_pinyin: pinyin,
        authors,
        responsibility: t.map(|f| join(f, &['f', 'g'])).filter(|v| !v.is_empty()),
        publisher: pub_field.and_then(|f| some(f.first('c'))),
        year,
        edition: some(r.first("205", 'a')),
        series: {
            let mut series = headings(r.fields("225"), &['a', 'v'], &[]);
            if series.is_empty() {
                series = headings(r.fields("410"), &['t', 'v'], &[]);
            }
            series
        },
        subjects: headings(
            r.fields_where(|t| matches!(t, "600" | "601" | "605" | "606" | "607")),
            &['a', 'b'],
            &['j', 'x', 'y', 'z'],
        ),
        classification,
        holdings,
        host,
        discs: DiscEvidence::from_sources(sources),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marc::{Field, Subfield};

    fn book(extra: &[(&str, &str, &str)], f007: Option<&str>) -> Record {
        let mut fields = vec![Field::Control {
            tag: "001".into(),
            value: "1".into(),
        }];
        if let Some(v) = f007 {
            fields.push(Field::Control {
                tag: "007".into(),
                value: v.into(),
            });
        }
        let data = |tag: &str, code: &str, value: &str| Field::Data {
            tag: tag.into(),
            ind1: ' ',
            ind2: ' ',
            subfields: vec![Subfield {
                code: code.chars().next().unwrap_or('a'),
                value: value.into(),
            }],
        };
        fields.push(data("245", "a", "A book"));
        fields.extend(extra.iter().map(|(t, c, v)| data(t, c, v)));
        Record {
            leader: "00000nam a2200000 a 4500".into(),
            fields,
            charset_note: None,
        }
    }

    fn kind(r: &Record) -> (u32, Option<&'static str>) {
        let d = BibRecord::from_marc(r).discs;
        (d.count, d.kind.map(DiscKind::as_str))
    }

    /// Issue 20, item 5: what an independent check found read wrong.
    #[test]
    fn the_disc_kind_comes_from_every_place_a_record_names_it() {
        // 337/338 and a note say DVD-ROM; 300 $e only "computer disc".
        let r = book(
            &[
                ("300", "e", "1 computer disc (4 3/4 in.)"),
                ("337", "a", "computer"),
                ("338", "a", "computer disc"),
                ("500", "a", "Accompanying disc is a DVD-ROM."),
            ],
            None,
        );
        assert_eq!(kind(&r), (1, Some("dvd")));
        // 007 sd: a sound disc, not a CD-ROM.
        assert_eq!(
            kind(&book(&[("300", "e", "1 disc")], Some("sd fsngnnmmned"))),
            (1, Some("audio"))
        );
        assert_eq!(kind(&book(&[], Some("sd fsngnnmmned"))), (1, Some("audio")));
        // "1 audio disc (MP3)" is an MP3 CD.
        assert_eq!(
            kind(&book(
                &[("300", "e", "1 audio disc (MP3)")],
                Some("sd fsngnnmmned")
            )),
            (1, Some("mp3"))
        );
        // 338 alone names the carrier of an RDA record.
        assert_eq!(
            kind(&book(
                &[("338", "a", "videodisc"), ("500", "a", "VCD.")],
                None
            )),
            (1, Some("vcd"))
        );
        // A DVD with 007 vd is a DVD-Video; co leaves a named kind alone.
        assert_eq!(
            kind(&book(&[("300", "e", "1 DVD")], Some("vd cvaizq"))),
            (1, Some("dvd-video"))
        );
        assert_eq!(
            kind(&book(&[("300", "e", "1 DVD-ROM")], Some("co cga"))),
            (1, Some("dvd"))
        );
        // A floppy is named, not counted.
        let r = book(&[("300", "e", "2 computer disks (3 1/2 in.)")], None);
        let d = BibRecord::from_marc(&r).discs;
        assert_eq!(d.count, 0);
        assert!(
            d.not_discs_explained()
                .is_some_and(|e| e.contains("a floppy"))
        );
    }
}

//! The Z39.50 (ANSI/NISO Z39.50-2003) APDUs Spindle sends and reads: Init, Search, Present and
//! Close. Encoding follows the ASN.1 module's tags; decoding reads the elements it needs by tag
//! and skips the rest (`additionalSearchInfo`, `otherInfo`, anything newer), so a server's
//! extras never make an answer unreadable.

use super::ber::{self, BerError, CONTEXT, Tlv, UNIVERSAL};

pub const BIB1: &[u64] = &[1, 2, 840, 10003, 3, 1];
pub const BIB1_DIAG: &[u64] = &[1, 2, 840, 10003, 4, 1];
pub const USMARC: &[u64] = &[1, 2, 840, 10003, 5, 10];
pub const UNIMARC: &[u64] = &[1, 2, 840, 10003, 5, 1];
pub const XML: &[u64] = &[1, 2, 840, 10003, 5, 109, 10];
const RECORD_SYNTAXES: &[u64] = &[1, 2, 840, 10003, 5];
const SUTRS: &[u64] = &[1, 2, 840, 10003, 5, 101];

/// Spindle names its result set `default`, which every server must accept (named result sets
/// are an option a server may refuse).
pub const RESULT_SET: &str = "default";

/// Character set and language negotiation, version 3 (Z39.50 Amendment 3).
pub const CHARSET_NEGOTIATION: &[u64] = &[1, 2, 840, 10003, 15, 3];
/// ISO 10646 encoding level UTF-8.
pub const UTF8_ENCODING: &[u64] = &[1, 0, 10646, 1, 0, 8];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitRequest<'a> {
    pub message_size: i64,
    pub user: Option<&'a str>,
    pub group: Option<&'a str>,
    pub password: Option<&'a str>,
    /// Propose UTF-8 for records and terms (character set negotiation).
    pub propose_utf8: bool,
}

/// What the server chose in character set negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// `UTF-8`, or the name the server gave (`ISO-8859-1`, `GBK`…).
    pub charset: String,
    /// Whether records, not only terms and messages, come in that set.
    pub records: bool,
}

/// The negotiation proposal as YAZ sends it: otherInfo [201] holding one unit whose
/// externallyDefinedInfo [4] is an EXTERNAL (OID 1.2.840.10003.15.3, single-ASN1-type [0])
/// with proposal [1] { proposedCharSets [1] { iso10646 [2] { encodingLevel [2] UTF-8 } },
/// recordsInSelectedCharSets [3] TRUE }.
fn utf8_proposal(out: &mut Vec<u8>) {
    let mut level = Vec::new();
    ber::oid(&mut level, CONTEXT, 2, UTF8_ENCODING);
    let mut iso10646 = Vec::new();
    ber::constructed(&mut iso10646, CONTEXT, 2, &level);
    let mut proposal = Vec::new();
    ber::constructed(&mut proposal, CONTEXT, 1, &iso10646);
    ber::boolean(&mut proposal, CONTEXT, 3, true);
    let mut choice = Vec::new();
    ber::constructed(&mut choice, CONTEXT, 1, &proposal);
    let mut external = Vec::new();
    ber::oid(&mut external, UNIVERSAL, ber::OID, CHARSET_NEGOTIATION);
    ber::constructed(&mut external, CONTEXT, 0, &choice);
    let mut unit = Vec::new();
    ber::constructed(&mut unit, CONTEXT, 4, &external);
    let mut units = Vec::new();
    ber::constructed(&mut units, UNIVERSAL, ber::SEQUENCE, &unit);
    ber::constructed(out, CONTEXT, 201, &units);
}

/// The server's choice, from an InitResponse's otherInfo: read by walking the negotiation
/// value for what it holds (an encoding OID, a named set, the records flag), so the explicit
/// and implicit tagging servers differ on both read.
fn negotiated(other_info: &ber::Tlv<'_>) -> Option<Negotiated> {
    fn walk(t: &ber::Tlv<'_>, found: &mut (Option<String>, Option<bool>), depth: usize) {
        if depth > 12 {
            return;
        }
        if t.constructed {
            for c in t.children().flatten() {
                walk(&c, found, depth + 1);
            }
            return;
        }
        match (t.class, t.tag) {
            (UNIVERSAL, ber::OID) | (CONTEXT, 2) if t.oid().is_ok_and(|o| o == UTF8_ENCODING) => {
                found.0 = Some("UTF-8".into());
            }
            (CONTEXT, 1) if found.0.is_none() => {
                found.0 = t.text().ok().filter(|s| !s.is_empty() && s.is_ascii());
            }
            (CONTEXT, 3) if t.content.len() == 1 => found.1 = t.boolean().ok(),
            _ => {}
        }
    }
    for unit in other_info.children().flatten() {
        for info in unit.children().flatten() {
            let mut kids = info.children().flatten();
            let is_negotiation = kids.next().is_some_and(|o| {
                o.is(UNIVERSAL, ber::OID) && o.oid().is_ok_and(|o| o == CHARSET_NEGOTIATION)
            });
            if !is_negotiation {
                continue;
            }
            let mut found = (None, None);
            for rest in kids {
                walk(&rest, &mut found, 0);
            }
            return found.0.map(|charset| Negotiated {
                charset,
                records: found.1.unwrap_or(false),
            });
        }
    }
    None
}

pub fn init_request(r: &InitRequest<'_>) -> Vec<u8> {
    let mut c = Vec::new();
    // protocolVersion: versions 1, 2 and 3.
    ber::bits(&mut c, CONTEXT, 3, 3, &[0, 1, 2]);
    // options: search, present, and negotiation when a character set is proposed.
    if r.propose_utf8 {
        ber::bits(&mut c, CONTEXT, 4, 24, &[0, 1, 17]);
    } else {
        ber::bits(&mut c, CONTEXT, 4, 16, &[0, 1]);
    }
    ber::integer(&mut c, CONTEXT, 5, r.message_size);
    ber::integer(&mut c, CONTEXT, 6, r.message_size);
    if r.user.is_some() || r.password.is_some() {
        // idAuthentication [7] EXPLICIT CHOICE { idPass SEQUENCE { groupId [0], userId [1],
        // password [2] } }.
        let mut pass = Vec::new();
        for (tag, v) in [(0, r.group), (1, r.user), (2, r.password)] {
            if let Some(v) = v {
                ber::primitive(&mut pass, CONTEXT, tag, v.as_bytes());
            }
        }
        let mut seq = Vec::new();
        ber::constructed(&mut seq, UNIVERSAL, ber::SEQUENCE, &pass);
        ber::constructed(&mut c, CONTEXT, 7, &seq);
    }
    ber::primitive(&mut c, CONTEXT, 110, b"Spindle");
    ber::primitive(&mut c, CONTEXT, 111, b"Spindle");
    ber::primitive(&mut c, CONTEXT, 112, env!("CARGO_PKG_VERSION").as_bytes());
    if r.propose_utf8 {
        utf8_proposal(&mut c);
    }
    let mut out = Vec::new();
    ber::constructed(&mut out, CONTEXT, 20, &c);
    out
}

/// A type-1 (RPN) query: terms with their Bib-1 attributes, joined by AND or OR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rpn {
    Term {
        /// (attribute type, value) pairs: `(1, 7)` is use = ISBN.
        attributes: Vec<(i64, i64)>,
        term: String,
    },
    And(Box<Rpn>, Box<Rpn>),
    Or(Box<Rpn>, Box<Rpn>),
}

impl Rpn {
    /// The query in YAZ's prefix notation (PQF), for logs and the librarian's explanation.
    pub fn pqf(&self) -> String {
        match self {
            Rpn::Term { attributes, term } => {
                let mut s: String = attributes
                    .iter()
                    .map(|(t, v)| format!("@attr {t}={v} "))
                    .collect();
                s.push_str(&format!("\"{}\"", term.replace('"', "\\\"")));
                s
            }
            Rpn::And(a, b) => format!("@and {} {}", a.pqf(), b.pqf()),
            Rpn::Or(a, b) => format!("@or {} {}", a.pqf(), b.pqf()),
        }
    }

    /// Any of `terms` under the same attributes.
    pub fn any_of(attributes: &[(i64, i64)], terms: &[String]) -> Option<Rpn> {
        let mut it = terms.iter().map(|t| Rpn::Term {
            attributes: attributes.to_vec(),
            term: t.clone(),
        });
        let first = it.next()?;
        Some(it.fold(first, |acc, t| Rpn::Or(Box::new(acc), Box::new(t))))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Rpn::Term { attributes, term } => {
                let mut list = Vec::new();
                for &(t, v) in attributes {
                    let mut el = Vec::new();
                    ber::integer(&mut el, CONTEXT, 120, t);
                    ber::integer(&mut el, CONTEXT, 121, v);
                    ber::constructed(&mut list, UNIVERSAL, ber::SEQUENCE, &el);
                }
                let mut apt = Vec::new();
                ber::constructed(&mut apt, CONTEXT, 44, &list);
                ber::primitive(&mut apt, CONTEXT, 45, term.as_bytes());
                let mut operand = Vec::new();
                ber::constructed(&mut operand, CONTEXT, 102, &apt);
                ber::constructed(out, CONTEXT, 0, &operand);
            }
            Rpn::And(a, b) | Rpn::Or(a, b) => {
                let mut c = Vec::new();
                a.encode(&mut c);
                b.encode(&mut c);
                let mut op = Vec::new();
                ber::primitive(
                    &mut op,
                    CONTEXT,
                    if matches!(self, Rpn::And(..)) { 0 } else { 1 },
                    &[],
                );
                ber::constructed(&mut c, CONTEXT, 46, &op);
                ber::constructed(out, CONTEXT, 1, &c);
            }
        }
    }
}

pub fn search_request(database: &str, query: &Rpn) -> Vec<u8> {
    let mut c = Vec::new();
    ber::integer(&mut c, CONTEXT, 13, 0);
    ber::integer(&mut c, CONTEXT, 14, 1);
    ber::integer(&mut c, CONTEXT, 15, 0);
    ber::boolean(&mut c, CONTEXT, 16, true);
    ber::primitive(&mut c, CONTEXT, 17, RESULT_SET.as_bytes());
    let mut dbs = Vec::new();
    ber::primitive(&mut dbs, CONTEXT, 105, database.as_bytes());
    ber::constructed(&mut c, CONTEXT, 18, &dbs);
    let mut rpn = Vec::new();
    ber::oid(&mut rpn, UNIVERSAL, ber::OID, BIB1);
    query.encode(&mut rpn);
    let mut type1 = Vec::new();
    ber::constructed(&mut type1, CONTEXT, 1, &rpn);
    ber::constructed(&mut c, CONTEXT, 21, &type1);
    let mut out = Vec::new();
    ber::constructed(&mut out, CONTEXT, 22, &c);
    out
}

pub fn present_request(start: i64, count: i64, element_set: &str, syntax: &[u64]) -> Vec<u8> {
    let mut c = Vec::new();
    ber::primitive(&mut c, CONTEXT, 31, RESULT_SET.as_bytes());
    ber::integer(&mut c, CONTEXT, 30, start);
    ber::integer(&mut c, CONTEXT, 29, count);
    if !element_set.is_empty() {
        let mut names = Vec::new();
        ber::primitive(&mut names, CONTEXT, 0, element_set.as_bytes());
        ber::constructed(&mut c, CONTEXT, 19, &names);
    }
    ber::oid(&mut c, CONTEXT, 104, syntax);
    let mut out = Vec::new();
    ber::constructed(&mut out, CONTEXT, 24, &c);
    out
}

pub fn close_request() -> Vec<u8> {
    let mut c = Vec::new();
    ber::integer(&mut c, CONTEXT, 211, 0);
    let mut out = Vec::new();
    ber::constructed(&mut out, CONTEXT, 48, &c);
    out
}

/// A diagnostic record: its set (Bib-1 unless said), condition and additional information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub bib1: bool,
    pub condition: i64,
    pub addinfo: Option<String>,
}

/// A record as the server sent it: the syntax it names and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retrieved {
    Record {
        syntax: Vec<u64>,
        data: Vec<u8>,
    },
    /// A surrogate diagnostic in place of one record.
    Diagnostic(Diagnostic),
}

impl Retrieved {
    pub fn is_marc(syntax: &[u64]) -> bool {
        syntax.starts_with(RECORD_SYNTAXES)
            && syntax.len() >= 6
            && !syntax.starts_with(SUTRS)
            && !syntax.starts_with(&[1, 2, 840, 10003, 5, 109])
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Records {
    None,
    Some(Vec<Retrieved>),
    /// Non-surrogate diagnostics: the operation as a whole failed.
    Diagnostics(Vec<Diagnostic>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Init {
        accepted: bool,
        implementation: String,
        options: Vec<bool>,
        /// The character set the server chose, when it negotiated one.
        charset: Option<Negotiated>,
    },
    Search {
        count: i64,
        success: bool,
        records: Records,
    },
    Present {
        returned: i64,
        status: i64,
        records: Records,
    },
    Close {
        reason: i64,
        message: Option<String>,
    },
    /// Any other APDU (a resource control request, an access control request…).
    Other(u32),
}

fn diagnostic(t: &Tlv<'_>) -> Result<Diagnostic, BerError> {
    // DiagRec ::= CHOICE { defaultFormat SEQUENCE, externallyDefined EXTERNAL }; an external
    // one is reported by its presence only.
    if t.is(UNIVERSAL, ber::EXTERNAL) {
        return Ok(Diagnostic {
            bib1: false,
            condition: 0,
            addinfo: Some("an externally defined diagnostic".into()),
        });
    }
    let mut d = Diagnostic {
        bib1: true,
        condition: 0,
        addinfo: None,
    };
    for c in t.children() {
        let c = c?;
        match (c.class, c.tag) {
            (UNIVERSAL, ber::OID) => d.bib1 = c.oid()? == BIB1_DIAG,
            (UNIVERSAL, ber::INTEGER) => d.condition = c.integer()?,
            // v2Addinfo VisibleString (26), v3Addinfo InternationalString (GeneralString, 27).
            (UNIVERSAL, 26 | 27) => d.addinfo = Some(c.text()?).filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    Ok(d)
}

/// `retrievalRecord [1] EXTERNAL` (explicitly tagged: the module's default), holding the
/// record syntax's OID and the record.
fn external(t: &Tlv<'_>) -> Result<Retrieved, BerError> {
    let inner = match t.children().next() {
        Some(Ok(e)) if e.is(UNIVERSAL, ber::EXTERNAL) => e,
        _ => *t,
    };
    let mut syntax = Vec::new();
    for c in inner.children() {
        let c = c?;
        match (c.class, c.tag) {
            (UNIVERSAL, ber::OID) => syntax = c.oid()?,
            // octet-aligned [1] and single-ASN1-type [0] (whose content is the value).
            (CONTEXT, 1) => {
                return Ok(Retrieved::Record {
                    syntax,
                    data: c.bytes()?,
                });
            }
            (CONTEXT, 0) => {
                let inner = c.children().next().ok_or(BerError::Malformed {
                    at: 0,
                    what: "an empty single-ASN1-type",
                })??;
                return Ok(Retrieved::Record {
                    syntax,
                    data: inner.bytes()?,
                });
            }
            _ => {}
        }
    }
    Err(BerError::Malformed {
        at: 0,
        what: "a record with no octet-aligned or ASN.1 encoding",
    })
}

fn records(t: &Tlv<'_>) -> Result<Option<Records>, BerError> {
    match (t.class, t.tag) {
        (CONTEXT, 28) => {
            let mut out = Vec::new();
            for npr in t.children() {
                for part in npr?.children() {
                    let part = part?;
                    if !part.is(CONTEXT, 1) {
                        continue; // the database name [0]
                    }
                    // record [1] CHOICE { retrievalRecord [1] EXTERNAL, surrogateDiagnostic
                    // [2] DiagRec, fragments [3]-[5] }.
                    let choice = part.children().next().ok_or(BerError::Malformed {
                        at: 0,
                        what: "an empty NamePlusRecord",
                    })??;
                    match choice.tag {
                        1 => out.push(external(&choice)?),
                        2 => {
                            let d = choice.children().next().ok_or(BerError::Malformed {
                                at: 0,
                                what: "an empty surrogate diagnostic",
                            })??;
                            out.push(Retrieved::Diagnostic(diagnostic(&d)?));
                        }
                        _ => {
                            return Err(BerError::Malformed {
                                at: 0,
                                what: "a segmented record (fragments are not supported)",
                            });
                        }
                    }
                }
            }
            Ok(Some(Records::Some(out)))
        }
        (CONTEXT, 130) => Ok(Some(Records::Diagnostics(vec![diagnostic(t)?]))),
        (CONTEXT, 205) => {
            let mut out = Vec::new();
            for d in t.children() {
                out.push(diagnostic(&d?)?);
            }
            Ok(Some(Records::Diagnostics(out)))
        }
        _ => Ok(None),
    }
}

/// Reads one whole APDU.
pub fn decode(apdu: &[u8]) -> Result<Response, BerError> {
    let t = ber::read(apdu)?;
    if t.class != CONTEXT || !t.constructed {
        return Err(BerError::Malformed {
            at: 0,
            what: "not a Z39.50 APDU",
        });
    }
    let mut rec = Records::None;
    match t.tag {
        21 => {
            let (mut accepted, mut name, mut version, mut options) =
                (false, String::new(), String::new(), Vec::new());
            let mut charset = None;
            for c in t.children() {
                let c = c?;
                match (c.class, c.tag) {
                    (CONTEXT, 12) => accepted = c.boolean()?,
                    (CONTEXT, 4) => options = c.bits()?,
                    (CONTEXT, 111) => name = c.text()?,
                    (CONTEXT, 112) => version = c.text()?,
                    (CONTEXT, 201) => charset = negotiated(&c),
                    _ => {}
                }
            }
            let implementation = [name, version]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            Ok(Response::Init {
                accepted,
                implementation,
                options,
                charset,
            })
        }
        23 => {
            let (mut count, mut success) = (0, false);
            for c in t.children() {
                let c = c?;
                match (c.class, c.tag) {
                    (CONTEXT, 23) => count = c.integer()?,
                    (CONTEXT, 22) => success = c.boolean()?,
                    _ => {
                        if let Some(r) = records(&c)? {
                            rec = r;
                        }
                    }
                }
            }
            Ok(Response::Search {
                count,
                success,
                records: rec,
            })
        }
        25 => {
            let (mut returned, mut status) = (0, 0);
            for c in t.children() {
                let c = c?;
                match (c.class, c.tag) {
                    (CONTEXT, 24) => returned = c.integer()?,
                    (CONTEXT, 27) => status = c.integer()?,
                    _ => {
                        if let Some(r) = records(&c)? {
                            rec = r;
                        }
                    }
                }
            }
            Ok(Response::Present {
                returned,
                status,
                records: rec,
            })
        }
        48 => {
            let (mut reason, mut message) = (0, None);
            for c in t.children() {
                let c = c?;
                match (c.class, c.tag) {
                    (CONTEXT, 211) => reason = c.integer()?,
                    (CONTEXT, 3) => message = Some(c.text()?).filter(|s| !s.is_empty()),
                    _ => {}
                }
            }
            Ok(Response::Close { reason, message })
        }
        other => Ok(Response::Other(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The elements YAZ's own client sends for `find @attr 1=7 0596514328` on database
    /// marc21 (seen with yaz-client's `set_apdufile`), in the same order.
    #[test]
    fn search_request_is_what_yaz_sends() {
        let q = Rpn::Term {
            attributes: vec![(1, 7)],
            term: "0596514328".into(),
        };
        let apdu = search_request("marc21", &q);
        let t = ber::read(&apdu).expect("apdu");
        assert_eq!((t.class, t.tag, t.len), (CONTEXT, 22, apdu.len()));
        let tags: Vec<u32> = t.children().map(|c| c.expect("child").tag).collect();
        assert_eq!(tags, [13, 14, 15, 16, 17, 18, 21]);
        assert_eq!(q.pqf(), "@attr 1=7 \"0596514328\"");
        let or = Rpn::any_of(&[(1, 7)], &["a".into(), "b".into()]).expect("or");
        assert_eq!(or.pqf(), "@or @attr 1=7 \"a\" @attr 1=7 \"b\"");
    }

    #[test]
    fn responses_with_extras_and_diagnostics() {
        // A SearchResponse carrying additionalSearchInfo [203] (what z3950-rs cannot read) and
        // a non-surrogate diagnostic 114 with v2 addinfo.
        let mut c = Vec::new();
        ber::integer(&mut c, CONTEXT, 23, 0);
        ber::integer(&mut c, CONTEXT, 24, 0);
        ber::integer(&mut c, CONTEXT, 25, 1);
        ber::boolean(&mut c, CONTEXT, 22, false);
        let mut diag = Vec::new();
        ber::oid(&mut diag, UNIVERSAL, ber::OID, BIB1_DIAG);
        ber::integer(&mut diag, UNIVERSAL, ber::INTEGER, 114);
        ber::primitive(&mut diag, UNIVERSAL, 26, b"9999");
        ber::constructed(&mut c, CONTEXT, 130, &diag);
        ber::constructed(&mut c, CONTEXT, 203, &[0x30, 0x00]);
        let mut apdu = Vec::new();
        ber::constructed(&mut apdu, CONTEXT, 23, &c);
        assert_eq!(
            decode(&apdu),
            Ok(Response::Search {
                count: 0,
                success: false,
                records: Records::Diagnostics(vec![Diagnostic {
                    bib1: true,
                    condition: 114,
                    addinfo: Some("9999".into())
                }])
            })
        );
        // A PresentResponse with one USMARC record, octet-aligned.
        let mut ext = Vec::new();
        ber::oid(&mut ext, UNIVERSAL, ber::OID, USMARC);
        ber::primitive(&mut ext, CONTEXT, 1, b"00024nam");
        let mut wrapped = Vec::new();
        ber::constructed(&mut wrapped, UNIVERSAL, ber::EXTERNAL, &ext);
        let mut choice = Vec::new();
        ber::constructed(&mut choice, CONTEXT, 1, &wrapped);
        let mut npr = Vec::new();
        ber::primitive(&mut npr, CONTEXT, 0, b"marc21");
        ber::constructed(&mut npr, CONTEXT, 1, &choice);
        let mut list = Vec::new();
        ber::constructed(&mut list, UNIVERSAL, ber::SEQUENCE, &npr);
        let mut c = Vec::new();
        ber::integer(&mut c, CONTEXT, 24, 1);
        ber::integer(&mut c, CONTEXT, 25, 2);
        ber::integer(&mut c, CONTEXT, 27, 0);
        ber::constructed(&mut c, CONTEXT, 28, &list);
        let mut apdu = Vec::new();
        ber::constructed(&mut apdu, CONTEXT, 25, &c);
        assert_eq!(
            decode(&apdu),
            Ok(Response::Present {
                returned: 1,
                status: 0,
                records: Records::Some(vec![Retrieved::Record {
                    syntax: USMARC.to_vec(),
                    data: b"00024nam".to_vec()
                }])
            })
        );
        assert!(Retrieved::is_marc(USMARC) && Retrieved::is_marc(UNIMARC));
        assert!(!Retrieved::is_marc(XML) && !Retrieved::is_marc(SUTRS));
    }
}

#[cfg(test)]
mod zebra {
    use super::*;

    /// Reads a captured server stream APDU by APDU (Zebra uses indefinite lengths in Present).
    fn session(bytes: &[u8]) -> Vec<Response> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some(n) = ber::complete_len(rest).expect("BER") {
            out.push(decode(&rest[..n]).expect("an APDU"));
            rest = &rest[n..];
        }
        assert!(rest.is_empty(), "{} bytes left", rest.len());
        out
    }

    #[test]
    fn real_zebra_sessions_decode() {
        let usmarc = session(include_bytes!(
            "../../../fuzz/seeds/z3950/zebra-usmarc-session.ber"
        ));
        assert!(
            matches!(&usmarc[0], Response::Init { accepted: true, implementation, .. } if implementation.contains("Zebra"))
        );
        assert!(matches!(
            usmarc[1],
            Response::Search {
                count: 1,
                success: true,
                ..
            }
        ));
        let Response::Present {
            records: Records::Some(r),
            ..
        } = &usmarc[2]
        else {
            panic!("{:?}", usmarc[2]);
        };
        let Retrieved::Record { syntax, data } = &r[0] else {
            panic!("{r:?}");
        };
        assert_eq!(syntax, USMARC);
        let rec = crate::marc::parse_iso2709(data).expect("ISO 2709");
        assert_eq!(rec[0].control("001"), Some("100002"));
        assert!(matches!(usmarc.last(), Some(Response::Close { .. })));
        let unimarc = session(include_bytes!(
            "../../../fuzz/seeds/z3950/zebra-unimarc-session.ber"
        ));
        assert!(unimarc.iter().any(|r| matches!(r,
            Response::Search { records: Records::Diagnostics(d), .. } if d[0].condition == 114)));
    }
}

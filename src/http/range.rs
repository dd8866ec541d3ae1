//! RFC 9110 arithmetic for Range (section 14) and the conditional request headers
//! (section 13), over plain strings so that it can be tested case by case without HTTP types.

use std::time::SystemTime;

/// A satisfiable byte range, half-open: `start..end`, with `start < end <= length`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The `Content-Range` value for this range of a representation of `total` bytes.
    pub fn content_range(&self, total: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.end - 1, total)
    }
}

/// What a `Range` header asks of a representation of a given length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No Range, an unknown unit or a syntactically invalid header: serve the whole (200).
    Full,
    /// One or more satisfiable ranges (206).
    Partial(Vec<ByteRange>),
    /// Well formed, but no range overlaps the representation (416).
    Unsatisfiable,
}

/// More ranges than this in one request are not worth the framing; the header is ignored,
/// as nginx does past `max_ranges` (RFC 9110 14.2 allows ignoring it).
pub const MAX_RANGES: usize = 64;

/// Ranges closer than this are coalesced into one part (RFC 9110 14.2 allows it): a gap
/// smaller than the multipart framing costs less to send than to frame.
const COALESCE_GAP: u64 = 80;

/// Parses a `Range` header value against a representation of `length` bytes.
pub fn parse_range(header: &str, length: u64) -> RangeRequest {
    let header = header.trim();
    let Some((unit, set)) = header.split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        return RangeRequest::Full;
    }
    let mut specs = Vec::new();
    for element in set.split(',') {
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() {
            continue; // RFC 9110 5.6.1: empty list elements are allowed and ignored
        }
        match parse_spec(element) {
            Some(spec) => specs.push(spec),
            None => return RangeRequest::Full,
        }
    }
    if specs.is_empty() || specs.len() > MAX_RANGES {
        return RangeRequest::Full;
    }
    let mut ranges: Vec<ByteRange> = specs.iter().filter_map(|s| s.resolve(length)).collect();
    if ranges.is_empty() {
        return RangeRequest::Unsatisfiable;
    }
    if ranges.len() > 1 {
        ranges = coalesce(ranges);
    }
    RangeRequest::Partial(ranges)
}

#[derive(Clone, Copy, Debug)]
enum Spec {
    /// `first-` or `first-last`
    Int { first: u64, last: Option<u64> },
    /// `-suffix`
    Suffix(u64),
}

impl Spec {
    fn resolve(self, length: u64) -> Option<ByteRange> {
        match self {
            Spec::Int { first, last } => {
                if first >= length {
                    return None;
                }
                let end = last.map_or(length, |l| l.saturating_add(1).min(length));
                Some(ByteRange { start: first, end })
            }
            Spec::Suffix(0) => None,
            Spec::Suffix(n) => {
                if length == 0 {
                    return None;
                }
                Some(ByteRange {
                    start: length.saturating_sub(n),
                    end: length,
                })
            }
        }
    }
}

fn parse_spec(s: &str) -> Option<Spec> {
    let (first, last) = s.split_once('-')?;
    if first.is_empty() {
        return Some(Spec::Suffix(parse_digits(last)?));
    }
    let first = parse_digits(first)?;
    let last = if last.is_empty() {
        None
    } else {
        let last = parse_digits(last)?;
        if last < first {
            return None; // RFC 9110 14.1.1: invalid, so the whole header is ignored
        }
        Some(last)
    };
    Some(Spec::Int { first, last })
}

/// `1*DIGIT`; values beyond u64 saturate, which is what they mean against any real length.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().unwrap_or(u64::MAX))
}

/// Keeps the client's order unless ranges overlap or nearly touch; then sorts and merges
/// them, as RFC 9110 14.2 allows, so no byte is sent twice.
fn coalesce(ranges: Vec<ByteRange>) -> Vec<ByteRange> {
    let mut sorted = ranges.clone();
    sorted.sort_by_key(|r| r.start);
    let close = sorted
        .windows(2)
        .any(|w| w[1].start < w[0].end.saturating_add(COALESCE_GAP));
    if !close {
        return ranges;
    }
    let mut merged: Vec<ByteRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match merged.last_mut() {
            Some(last) if r.start < last.end.saturating_add(COALESCE_GAP) => {
                last.end = last.end.max(r.end);
            }
            _ => merged.push(r),
        }
    }
    merged
}

/// The validators of the stored representation.
#[derive(Clone, Debug)]
pub struct Validators<'a> {
    /// The opaque part of the strong entity tag, without quotes (Spindle uses the SHA-256).
    pub etag: &'a str,
    pub last_modified: SystemTime,
    pub length: u64,
}

/// The request's conditional and range headers, as received (None when absent).
#[derive(Clone, Debug, Default)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
    pub if_unmodified_since: Option<&'a str>,
    pub if_range: Option<&'a str>,
    pub range: Option<&'a str>,
}

/// The answer to a GET or HEAD of a stored representation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    NotModified,
    PreconditionFailed,
    Full,
    Partial(Vec<ByteRange>),
    Unsatisfiable,
}

/// Evaluates preconditions in the order of RFC 9110 13.2.2, then Range (GET only; a HEAD
/// ignores Range, 14.2) and If-Range (13.1.5).
pub fn evaluate(c: &Conditions<'_>, v: &Validators<'_>, is_get: bool) -> Decision {
    if let Some(im) = c.if_match {
        if !etag_list_matches(im, v.etag, true) {
            return Decision::PreconditionFailed;
        }
    } else if let Some(date) = c.if_unmodified_since.and_then(parse_date)
        && truncate(v.last_modified) > date
    {
        return Decision::PreconditionFailed;
    }
    if let Some(inm) = c.if_none_match {
        if etag_list_matches(inm, v.etag, false) {
            return Decision::NotModified;
        }
    } else if let Some(date) = c.if_modified_since.and_then(parse_date)
        && truncate(v.last_modified) <= date
    {
        return Decision::NotModified;
    }
    let Some(range) = c.range.filter(|_| is_get) else {
        return Decision::Full;
    };
    if let Some(if_range) = c.if_range
        && !if_range_matches(if_range.trim(), v)
    {
        return Decision::Full;
    }
    match parse_range(range, v.length) {
        RangeRequest::Full => Decision::Full,
        RangeRequest::Partial(r) => Decision::Partial(r),
        RangeRequest::Unsatisfiable => Decision::Unsatisfiable,
    }
}

fn if_range_matches(value: &str, v: &Validators<'_>) -> bool {
    if value.starts_with('"') || value.starts_with("W/") {
        // Only a strong comparison can match (13.1.5); a weak tag never does.
        return matches!(parse_etag(value), Some((tag, false, rest)) if rest.trim().is_empty() && tag == v.etag);
    }
    // A date matches only if it is exactly the Last-Modified (13.1.5).
    parse_date(value).is_some_and(|d| d == truncate(v.last_modified))
}

/// True when the list (or `*`) names the entity tag. `strong` selects the strong comparison
/// used by If-Match; If-None-Match uses the weak one.
fn etag_list_matches(list: &str, etag: &str, strong: bool) -> bool {
    let list = list.trim();
    if list == "*" {
        return true;
    }
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let Some((tag, weak, after)) = parse_etag(rest) else {
            return false;
        };
        if tag == etag && !(strong && weak) {
            return true;
        }
        rest = after;
    }
}

/// Parses one `[W/]"opaque"` at the start of `s`; returns (opaque, weak, remainder).
fn parse_etag(s: &str) -> Option<(&str, bool, &str)> {
    let (weak, s) = match s.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let s = s.strip_prefix('"')?;
    let close = s.find('"')?;
    Some((&s[..close], weak, &s[close + 1..]))
}

fn parse_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// HTTP dates have one-second resolution.
fn truncate(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    fn partial(v: &[(u64, u64)]) -> RangeRequest {
        RangeRequest::Partial(v.iter().map(|&(s, e)| r(s, e)).collect())
    }

    #[test]
    fn rfc9110_examples() {
        // RFC 9110 14.1.2, for a representation of 10000 bytes.
        assert_eq!(parse_range("bytes=0-499", 10000), partial(&[(0, 500)]));
        assert_eq!(parse_range("bytes=500-999", 10000), partial(&[(500, 1000)]));
        assert_eq!(parse_range("bytes=-500", 10000), partial(&[(9500, 10000)]));
        assert_eq!(parse_range("bytes=9500-", 10000), partial(&[(9500, 10000)]));
        assert_eq!(
            parse_range("bytes=0-0,-1", 10000),
            partial(&[(0, 1), (9999, 10000)])
        );
        // Overlapping and adjacent ranges are merged into one.
        assert_eq!(
            parse_range("bytes=500-600,601-999", 10000),
            partial(&[(500, 1000)])
        );
        assert_eq!(
            parse_range("bytes=500-700,601-999", 10000),
            partial(&[(500, 1000)])
        );
    }

    #[test]
    fn clamps_and_saturates() {
        assert_eq!(parse_range("bytes=0-99999", 100), partial(&[(0, 100)]));
        assert_eq!(parse_range("bytes=-200", 100), partial(&[(0, 100)]));
        assert_eq!(
            parse_range("bytes=0-99999999999999999999999", 100),
            partial(&[(0, 100)])
        );
        assert_eq!(
            parse_range("bytes=99999999999999999999999-", 100),
            RangeRequest::Unsatisfiable
        );
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(parse_range("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(
            parse_range("bytes=100-200", 100),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(parse_range("bytes=-0", 100), RangeRequest::Unsatisfiable);
        assert_eq!(
            parse_range("bytes=200-300,-0", 100),
            RangeRequest::Unsatisfiable
        );
        // One satisfiable range among unsatisfiable ones is served alone.
        assert_eq!(parse_range("bytes=200-300,5-9", 100), partial(&[(5, 10)]));
    }

    #[test]
    fn invalid_headers_are_ignored() {
        for h in [
            "bytes=",
            "bytes=,",
            "bytes=a-b",
            "bytes=5-1",
            "bytes=--5",
            "bytes=1-2-3",
            "bytes=-",
            "bytes 0-1",
            "items=0-1",
            "bytes=0-1;x",
            "bytes=+1-2",
            "bytes=0x10-",
            "bytes=１-2",
            "",
        ] {
            assert_eq!(parse_range(h, 100), RangeRequest::Full, "{h:?}");
        }
        // Whitespace and empty list elements are allowed; the unit is case-insensitive.
        assert_eq!(parse_range("Bytes = 1-2 , ,3-4", 100), RangeRequest::Full);
        assert_eq!(
            parse_range("BYTES=1-2, ,300-400", 1000),
            partial(&[(1, 3), (300, 401)])
        );
    }

    #[test]
    fn order_is_kept_when_ranges_are_apart() {
        assert_eq!(
            parse_range("bytes=5000-5099,0-99", 10000),
            partial(&[(5000, 5100), (0, 100)])
        );
    }

    #[test]
    fn too_many_ranges_are_ignored() {
        let many: Vec<String> = (0..=MAX_RANGES)
            .map(|i| format!("{}-{}", i * 1000, i * 1000))
            .collect();
        assert_eq!(
            parse_range(&format!("bytes={}", many.join(",")), 1 << 30),
            RangeRequest::Full
        );
    }

    fn validators() -> Validators<'static> {
        Validators {
            etag: "abc",
            last_modified: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            length: 1000,
        }
    }

    const LM: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
    const EARLIER: &str = "Tue, 14 Nov 2023 22:13:19 GMT";
    const LATER: &str = "Tue, 14 Nov 2023 22:13:21 GMT";

    #[test]
    fn preconditions_in_rfc_order() {
        let v = validators();
        let e = |c: Conditions<'_>| evaluate(&c, &v, true);
        assert_eq!(e(Conditions::default()), Decision::Full);
        assert_eq!(
            e(Conditions {
                if_none_match: Some("\"abc\""),
                ..Default::default()
            }),
            Decision::NotModified
        );
        assert_eq!(
            e(Conditions {
                if_none_match: Some("W/\"abc\""),
                ..Default::default()
            }),
            Decision::NotModified
        );
        assert_eq!(
            e(Conditions {
                if_none_match: Some("\"x\", \"abc\""),
                ..Default::default()
            }),
            Decision::NotModified
        );
        assert_eq!(
            e(Conditions {
                if_none_match: Some("*"),
                ..Default::default()
            }),
            Decision::NotModified
        );
        assert_eq!(
            e(Conditions {
                if_none_match: Some("\"x\""),
                ..Default::default()
            }),
            Decision::Full
        );
        assert_eq!(
            e(Conditions {
                if_match: Some("\"x\""),
                ..Default::default()
            }),
            Decision::PreconditionFailed
        );
        assert_eq!(
            e(Conditions {
                if_match: Some("W/\"abc\""),
                ..Default::default()
            }),
            Decision::PreconditionFailed
        );
        assert_eq!(
            e(Conditions {
                if_match: Some("\"abc\""),
                ..Default::default()
            }),
            Decision::Full
        );
        assert_eq!(
            e(Conditions {
                if_modified_since: Some(LM),
                ..Default::default()
            }),
            Decision::NotModified
        );
        assert_eq!(
            e(Conditions {
                if_modified_since: Some(EARLIER),
                ..Default::default()
            }),
            Decision::Full
        );
        assert_eq!(
            e(Conditions {
                if_modified_since: Some("garbage"),
                ..Default::default()
            }),
            Decision::Full
        );
        // If-None-Match takes precedence over If-Modified-Since.
        assert_eq!(
            e(Conditions {
                if_none_match: Some("\"x\""),
                if_modified_since: Some(LATER),
                ..Default::default()
            }),
            Decision::Full
        );
        assert_eq!(
            e(Conditions {
                if_unmodified_since: Some(EARLIER),
                ..Default::default()
            }),
            Decision::PreconditionFailed
        );
        assert_eq!(
            e(Conditions {
                if_unmodified_since: Some(LM),
                ..Default::default()
            }),
            Decision::Full
        );
    }

    #[test]
    fn if_range() {
        let v = validators();
        let with = |ir: &'static str| {
            evaluate(
                &Conditions {
                    if_range: Some(ir),
                    range: Some("bytes=0-9"),
                    ..Default::default()
                },
                &v,
                true,
            )
        };
        let part = Decision::Partial(vec![r(0, 10)]);
        assert_eq!(with("\"abc\""), part);
        assert_eq!(with("\"other\""), Decision::Full);
        assert_eq!(with("W/\"abc\""), Decision::Full);
        assert_eq!(with(LM), part);
        assert_eq!(with(LATER), Decision::Full);
        assert_eq!(with("nonsense"), Decision::Full);
    }

    #[test]
    fn head_ignores_range() {
        let v = validators();
        let c = Conditions {
            range: Some("bytes=0-9"),
            ..Default::default()
        };
        assert_eq!(evaluate(&c, &v, false), Decision::Full);
        let c = Conditions {
            range: Some("bytes=5000-"),
            ..Default::default()
        };
        assert_eq!(evaluate(&c, &v, true), Decision::Unsatisfiable);
    }

    #[test]
    fn content_range() {
        assert_eq!(r(0, 10).content_range(100), "bytes 0-9/100");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            /// Any header against any length: no panic, and every range served is non-empty
            /// and lies inside the representation, at most MAX_RANGES of them. (Ranges are
            /// served in the order asked, which RFC 9110 allows.)
            #[test]
            fn ranges_stay_inside(header in "(bytes=)?([0-9]{0,20}-?[0-9]{0,20}, ?){0,70}", length in 0u64..u64::MAX) {
                if let RangeRequest::Partial(ranges) = parse_range(&header, length) {
                    prop_assert!(!ranges.is_empty() && ranges.len() <= MAX_RANGES);
                    for r in &ranges {
                        prop_assert!(r.start < r.end && r.end <= length);
                    }
                }
            }

            #[test]
            fn arbitrary_text_never_panics(header in ".{0,200}", length in any::<u64>()) {
                let _ = parse_range(&header, length);
            }
        }
    }
}

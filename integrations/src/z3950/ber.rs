//! The Basic Encoding Rules, as much as Z39.50 needs: tags of any number (high-tag form),
//! definite lengths (and indefinite ones when reading, as some servers send them), integers,
//! booleans, object identifiers, strings and bit strings. Reading never trusts a length: every
//! length is checked against what is there, nesting is bounded, and a value cut short says so
//! (`Incomplete`) so a connection can wait for the rest.

/// The two tag classes Z39.50 uses.
pub const UNIVERSAL: u8 = 0x00;
pub const CONTEXT: u8 = 0x80;

pub const BOOLEAN: u32 = 1;
pub const INTEGER: u32 = 2;
pub const OCTET_STRING: u32 = 4;
pub const NULL: u32 = 5;
pub const OID: u32 = 6;
pub const EXTERNAL: u32 = 8;
pub const SEQUENCE: u32 = 16;

/// How deep constructed values may nest when read (Z39.50 PDUs nest about ten deep).
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    /// The bytes so far are the start of a valid value; more are needed.
    #[error("the value is cut short")]
    Incomplete,
    #[error("malformed BER at byte {at}: {what}")]
    Malformed { at: usize, what: &'static str },
}

fn bad(at: usize, what: &'static str) -> BerError {
    BerError::Malformed { at, what }
}

/// One value: its tag and its contents (for a constructed value, the encoded children).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub class: u8,
    pub constructed: bool,
    pub tag: u32,
    pub content: &'a [u8],
    /// How many bytes the whole value took (header, contents, end-of-contents octets of an
    /// indefinite length; `content` is only the children).
    pub len: usize,
}

impl<'a> Tlv<'a> {
    pub fn is(&self, class: u8, tag: u32) -> bool {
        self.class == class && self.tag == tag
    }

    /// The children of a constructed value.
    pub fn children(&self) -> Children<'a> {
        Children {
            rest: if self.constructed { self.content } else { &[] },
            depth: 1,
        }
    }

    pub fn integer(&self) -> Result<i64, BerError> {
        let c = self.content;
        if self.constructed || c.is_empty() || c.len() > 8 {
            return Err(bad(0, "an INTEGER of 1 to 8 bytes"));
        }
        let mut v: i64 = if c[0] & 0x80 != 0 { -1 } else { 0 };
        for &b in c {
            v = (v << 8) | i64::from(b);
        }
        Ok(v)
    }

    pub fn boolean(&self) -> Result<bool, BerError> {
        match self.content {
            [b] if !self.constructed => Ok(*b != 0),
            _ => Err(bad(0, "a BOOLEAN of one byte")),
        }
    }

    /// The bytes of a string or OCTET STRING, joining the segments of a constructed one.
    pub fn bytes(&self) -> Result<Vec<u8>, BerError> {
        if !self.constructed {
            return Ok(self.content.to_vec());
        }
        let mut out = Vec::new();
        for child in self.children() {
            out.extend(child?.bytes()?);
        }
        Ok(out)
    }

    pub fn text(&self) -> Result<String, BerError> {
        Ok(String::from_utf8_lossy(&self.bytes()?).into_owned())
    }

    pub fn oid(&self) -> Result<Vec<u64>, BerError> {
        let c = self.content;
        if self.constructed || c.is_empty() || c.len() > 64 || c[c.len() - 1] & 0x80 != 0 {
            return Err(bad(0, "an OBJECT IDENTIFIER"));
        }
        let mut arcs = Vec::new();
        let mut v: u64 = 0;
        for &b in c {
            if v > u64::MAX >> 7 {
                return Err(bad(0, "an OBJECT IDENTIFIER arc too large"));
            }
            v = (v << 7) | u64::from(b & 0x7F);
            if b & 0x80 == 0 {
                if arcs.is_empty() {
                    let first = (v / 40).min(2);
                    arcs.push(first);
                    arcs.push(v - first * 40);
                } else {
                    arcs.push(v);
                }
                v = 0;
            }
        }
        Ok(arcs)
    }

    /// The bits of a BIT STRING, first bit first.
    pub fn bits(&self) -> Result<Vec<bool>, BerError> {
        let c = self.content;
        match c.split_first() {
            Some((&unused, rest)) if !self.constructed && unused < 8 => {
                let n = (rest.len() * 8).saturating_sub(usize::from(unused));
                Ok((0..n)
                    .map(|i| rest[i / 8] & (0x80 >> (i % 8)) != 0)
                    .collect())
            }
            _ => Err(bad(0, "a BIT STRING")),
        }
    }
}

/// The values one after another in a run of bytes.
pub struct Children<'a> {
    rest: &'a [u8],
    depth: usize,
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Tlv<'a>, BerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match read_at(self.rest, self.depth) {
            Ok(t) => {
                self.rest = &self.rest[t.len..];
                Some(Ok(t))
            }
            Err(e) => {
                self.rest = &[];
                // Inside a complete outer value, a short child is malformed, not pending.
                Some(Err(match e {
                    BerError::Incomplete => bad(0, "a value runs past its container"),
                    e => e,
                }))
            }
        }
    }
}

/// Reads the value at the start of `input`.
pub fn read(input: &[u8]) -> Result<Tlv<'_>, BerError> {
    read_at(input, 0)
}

fn read_at(input: &[u8], depth: usize) -> Result<Tlv<'_>, BerError> {
    if depth > MAX_DEPTH {
        return Err(bad(0, "values nested too deep"));
    }
    let first = *input.first().ok_or(BerError::Incomplete)?;
    let class = first & 0xC0;
    let constructed = first & 0x20 != 0;
    let mut pos = 1;
    let mut tag = u32::from(first & 0x1F);
    if tag == 0x1F {
        tag = 0;
        loop {
            let b = *input.get(pos).ok_or(BerError::Incomplete)?;
            pos += 1;
            if tag > u32::MAX >> 7 {
                return Err(bad(pos, "a tag number too large"));
            }
            tag = (tag << 7) | u32::from(b & 0x7F);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let l = *input.get(pos).ok_or(BerError::Incomplete)?;
    pos += 1;
    if l == 0x80 {
        if !constructed {
            return Err(bad(pos, "an indefinite length on a primitive value"));
        }
        // Children until the end-of-contents octets.
        let start = pos;
        loop {
            match input.get(pos..pos + 2) {
                None => return Err(BerError::Incomplete),
                Some([0, 0]) => break,
                Some(_) => pos += read_at(&input[pos..], depth + 1)?.len,
            }
        }
        return Ok(Tlv {
            class,
            constructed,
            tag,
            content: &input[start..pos],
            len: pos + 2,
        });
    }
    let len = if l & 0x80 == 0 {
        usize::from(l)
    } else {
        let n = usize::from(l & 0x7F);
        if n == 0x7F || n > 4 {
            return Err(bad(pos, "a length of more than four bytes"));
        }
        let bytes = input.get(pos..pos + n).ok_or(BerError::Incomplete)?;
        pos += n;
        bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b))
    };
    let end = pos.checked_add(len).ok_or(bad(pos, "a length too large"))?;
    let content = input.get(pos..end).ok_or(BerError::Incomplete)?;
    Ok(Tlv {
        class,
        constructed,
        tag,
        content,
        len: end,
    })
}

/// How many bytes the value at the start of `input` takes, once all of it is there.
pub fn complete_len(input: &[u8]) -> Result<Option<usize>, BerError> {
    match read(input) {
        Ok(t) => Ok(Some(t.len)),
        Err(BerError::Incomplete) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writing: each function appends one value to `out`.
pub fn header(out: &mut Vec<u8>, class: u8, constructed: bool, tag: u32, len: usize) {
    let c = if constructed { 0x20 } else { 0 };
    if tag < 0x1F {
        out.push(class | c | tag as u8);
    } else {
        out.push(class | c | 0x1F);
        let mut groups = Vec::new();
        let mut t = tag;
        loop {
            groups.push((t & 0x7F) as u8);
            t >>= 7;
            if t == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().rev().enumerate() {
            out.push(if i + 1 < groups.len() { g | 0x80 } else { *g });
        }
    }
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

pub fn primitive(out: &mut Vec<u8>, class: u8, tag: u32, content: &[u8]) {
    header(out, class, false, tag, content.len());
    out.extend_from_slice(content);
}

pub fn constructed(out: &mut Vec<u8>, class: u8, tag: u32, children: &[u8]) {
    header(out, class, true, tag, children.len());
    out.extend_from_slice(children);
}

pub fn integer(out: &mut Vec<u8>, class: u8, tag: u32, v: i64) {
    let bytes = v.to_be_bytes();
    // The shortest two's-complement form: drop leading bytes that only repeat the sign.
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    primitive(out, class, tag, &bytes[start..]);
}

pub fn boolean(out: &mut Vec<u8>, class: u8, tag: u32, v: bool) {
    primitive(out, class, tag, &[if v { 0xFF } else { 0 }]);
}

pub fn oid(out: &mut Vec<u8>, class: u8, tag: u32, arcs: &[u64]) {
    let mut c = Vec::new();
    let mut push = |mut v: u64| {
        let mut groups = vec![(v & 0x7F) as u8];
        v >>= 7;
        while v > 0 {
            groups.push((v & 0x7F) as u8 | 0x80);
            v >>= 7;
        }
        c.extend(groups.iter().rev());
    };
    if let [a, b, rest @ ..] = arcs {
        push(a * 40 + b);
        for &r in rest {
            push(r);
        }
    }
    primitive(out, class, tag, &c);
}

/// A BIT STRING whose set bits are `set` (numbered from the first), `len` bits long.
pub fn bits(out: &mut Vec<u8>, class: u8, tag: u32, len: usize, set: &[usize]) {
    let bytes = len.div_ceil(8);
    let mut c = vec![0u8; bytes + 1];
    c[0] = (bytes * 8 - len) as u8;
    for &i in set.iter().filter(|&&i| i < len) {
        c[1 + i / 8] |= 0x80 >> (i % 8);
    }
    primitive(out, class, tag, &c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for v in [
            0i64,
            1,
            127,
            128,
            255,
            256,
            -1,
            -128,
            -129,
            67_108_864,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            integer(&mut out, CONTEXT, 5, v);
            let t = read(&out).expect("integer");
            assert_eq!(
                (t.class, t.tag, t.integer().expect("value")),
                (CONTEXT, 5, v)
            );
            assert_eq!(t.len, out.len());
        }
        let mut out = Vec::new();
        oid(&mut out, UNIVERSAL, OID, &[1, 2, 840, 10003, 5, 10]);
        assert_eq!(out, [0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x13, 0x05, 0x0A]);
        assert_eq!(
            read(&out).and_then(|t| t.oid()),
            Ok(vec![1, 2, 840, 10003, 5, 10])
        );
        let mut out = Vec::new();
        primitive(&mut out, CONTEXT, 110, b"Spindle");
        assert_eq!(&out[..3], &[0x9F, 0x6E, 7]);
        assert_eq!(read(&out).map(|t| t.tag), Ok(110));
        let mut out = Vec::new();
        primitive(&mut out, CONTEXT, 203, &[0u8; 300]);
        assert_eq!(&out[..5], &[0x9F, 0x81, 0x4B, 0x82, 0x01]);
        assert_eq!(read(&out).map(|t| (t.tag, t.content.len())), Ok((203, 300)));
        let mut out = Vec::new();
        bits(&mut out, CONTEXT, 3, 3, &[0, 1, 2]);
        assert_eq!(out, [0x83, 0x02, 0x05, 0xE0]);
        assert_eq!(
            read(&out).and_then(|t| t.bits()),
            Ok(vec![true, true, true])
        );
    }

    #[test]
    fn cut_short_and_malformed() {
        let mut out = Vec::new();
        constructed(&mut out, CONTEXT, 21, &[0x01, 0x01, 0xFF]);
        for n in 0..out.len() {
            assert_eq!(complete_len(&out[..n]), Ok(None), "{n} bytes");
        }
        assert_eq!(complete_len(&out), Ok(Some(out.len())));
        // A child longer than its container.
        let lying = [0xB5, 0x03, 0x01, 0x05, 0xFF];
        let t = read(&lying).expect("outer");
        assert!(matches!(
            t.children().next(),
            Some(Err(BerError::Malformed { .. }))
        ));
        // Indefinite lengths are read; on a primitive they are refused.
        let indef = [0xB5, 0x80, 0x01, 0x01, 0xFF, 0x00, 0x00];
        let t = read(&indef).expect("indefinite");
        assert_eq!(t.len, 7);
        assert_eq!(t.children().count(), 1);
        assert!(read(&[0x04, 0x80, 0, 0]).is_err());
        assert!(read(&[0x04, 0x85, 1, 1, 1, 1, 1]).is_err());
        // Nesting is bounded.
        let mut deep = [0x30, 0x80].repeat(100);
        deep.extend([0, 0].repeat(100));
        assert!(matches!(read(&deep), Err(BerError::Malformed { .. })));
    }
}

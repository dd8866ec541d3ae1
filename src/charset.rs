//! The character set of a text file from a disc whose bytes do not say: Chinese discs hold
//! GBK/GB18030 text more often than UTF-8, Taiwanese and Hong Kong ones Big5, and a browser
//! told nothing guesses from the page's locale. A byte-order mark or valid UTF-8 decide
//! first; else chardetng (which tells Big5 from GBK) guesses from the bytes. An HTML page
//! that declares its own charset is left to it.

/// How much of a file is looked at.
pub const SNIFF_BYTES: u64 = 64 * 1024;

/// The charset to declare for a text file that starts with `head` (`whole` when `head` is
/// all of it), or None when the file declares its own (HTML with a meta charset).
pub fn sniff(head: &[u8], whole: bool, is_html: bool) -> Option<&'static str> {
    if head.starts_with(b"\xef\xbb\xbf") {
        return Some("utf-8");
    }
    if head.starts_with(b"\xff\xfe") {
        return Some("utf-16le");
    }
    if head.starts_with(b"\xfe\xff") {
        return Some("utf-16be");
    }
    if is_html && declares_charset(head) {
        return None;
    }
    if is_utf8(head, whole) {
        return Some("utf-8");
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(head, whole);
    let encoding = detector.guess(None, true);
    // GBK is read by browsers with the GB18030 decoder anyway; say the superset.
    if encoding == encoding_rs::GBK {
        return Some("gb18030");
    }
    // Encoding names are valid charset labels (matched without regard to case).
    Some(encoding.name())
}

/// Valid UTF-8, allowing a character cut at the end of a head that is not the whole file.
fn is_utf8(head: &[u8], whole: bool) -> bool {
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => !whole && e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

/// Whether an HTML page's first kilobyte declares its charset (`<meta charset=…>` or a
/// `Content-Type` meta with `charset=`), which the browser then uses.
fn declares_charset(head: &[u8]) -> bool {
    let start = &head[..head.len().min(1024)];
    let lower: Vec<u8> = start.iter().map(u8::to_ascii_lowercase).collect();
    lower.windows(5).enumerate().any(|(i, w)| {
        w == b"<meta" && {
            let tag_end = lower[i..]
                .iter()
                .position(|&b| b == b'>')
                .map_or(lower.len(), |p| i + p);
            lower[i..tag_end].windows(8).any(|w| w == b"charset=")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_text_in_each_encoding_is_named() {
        let text = "说明：这是随书光盘。请先阅读本文件，然后运行安装程序。光盘中包含练习题和答案。";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert_eq!(sniff(&gbk, true, false), Some("gb18030"));
        assert_eq!(sniff(text.as_bytes(), true, false), Some("utf-8"));
        let traditional =
            "說明：這是隨書光碟。請先閱讀本檔案，然後執行安裝程式。光碟中包含練習題和答案。";
        let (big5, _, lossy) = encoding_rs::BIG5.encode(traditional);
        assert!(!lossy);
        assert_eq!(sniff(&big5, true, false), Some("Big5"), "Big5 is not GBK");
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("これは本に付いているディスクです。");
        assert_eq!(sniff(&sjis, true, false), Some("Shift_JIS"));
        assert_eq!(sniff(b"plain ASCII", true, false), Some("utf-8"));
    }

    #[test]
    fn marks_and_declarations_decide() {
        assert_eq!(sniff(b"\xef\xbb\xbfhi", true, false), Some("utf-8"));
        assert_eq!(sniff(b"\xff\xfeh\0i\0", true, false), Some("utf-16le"));
        let (gbk, _, _) = encoding_rs::GBK
            .encode("<html><head><meta charset=\"gbk\"></head><body>光盘</body></html>");
        assert_eq!(sniff(&gbk, true, true), None);
        let (gbk, _, _) = encoding_rs::GBK.encode(
            "<html><head><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=gb2312\"></head><body>光盘</body></html>",
        );
        assert_eq!(sniff(&gbk, true, true), None);
        // A meta that says something else does not count as a declaration.
        let (gbk, _, _) = encoding_rs::GBK.encode(
            "<html><head><meta name=\"author\" content=\"某某出版社编辑部\"></head><body>这是随书光盘的说明页面，请阅读。</body></html>",
        );
        assert_eq!(sniff(&gbk, true, true), Some("gb18030"));
    }

    #[test]
    fn a_character_cut_by_the_head_is_still_utf8() {
        let text = "光盘".repeat(10);
        let bytes = text.as_bytes();
        assert_eq!(
            sniff(&bytes[..bytes.len() - 1], false, false),
            Some("utf-8")
        );
    }
}

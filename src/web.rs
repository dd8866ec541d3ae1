//! Server-rendered pages: minijinja templates (compiled into the binary, HTML escaped
//! everywhere), the two languages (zh-CN and en: `?lang=`, else Accept-Language), the
//! security headers every page carries, and staff sign-in: a token exchanged for an
//! HttpOnly, SameSite=Strict session cookie, with a form token (CSRF) on every form.

use std::sync::OnceLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::Staff;
use crate::error::AppError;

pub const STAFF_COOKIE: &str = "spindle_staff";
pub const CSRF_COOKIE: &str = "spindle_csrf";
/// A browser session lasts a working day.
pub const SESSION_SECS: i64 = 12 * 3600;

const PAGE_CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

const TEMPLATES: [(&str, &str); 12] = [
    ("picker.html", include_str!("../templates/picker.html")),
    ("discs.html", include_str!("../templates/discs.html")),
    ("settings.html", include_str!("../templates/settings.html")),
    ("export.html", include_str!("../templates/export.html")),
    ("review.html", include_str!("../templates/review.html")),
    ("search.html", include_str!("../templates/search.html")),
    ("disc.html", include_str!("../templates/disc.html")),
    ("browse.html", include_str!("../templates/browse.html")),
    ("base.html", include_str!("../templates/base.html")),
    ("sign_in.html", include_str!("../templates/sign_in.html")),
    ("stats.html", include_str!("../templates/stats.html")),
    ("message.html", include_str!("../templates/message.html")),
];

fn env() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        // HTML-escape every string (& < > " '), but leave `/` alone: minijinja's default also
        // writes it as &#x2f;, which is safe but makes every URL in a page unreadable.
        env.set_formatter(|out, state, value| match value.as_str() {
            Some(text)
                if state.auto_escape() == minijinja::AutoEscape::Html && !value.is_safe() =>
            {
                out.write_str(&escape_html(text))
                    .map_err(minijinja::Error::from)
            }
            _ => minijinja::escape_formatter(out, state, value),
        });
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env
    })
}

/// Text for HTML, in an element or a quoted attribute: `& < > " '` escaped, `/` left alone.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// `?lang=zh|en`, else the first language the browser asks for that we have.
    pub fn of(parts: &Parts) -> Self {
        Self::from_request(&parts.headers, &parts.uri)
    }

    pub fn from_request(headers: &axum::http::HeaderMap, uri: &axum::http::Uri) -> Self {
        let query = uri.query().unwrap_or("");
        for kv in query.split('&') {
            match kv {
                "lang=zh" | "lang=zh-CN" => return Lang::Zh,
                "lang=en" => return Lang::En,
                _ => {}
            }
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        for tag in accept.split(',') {
            let tag = tag
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Lang::Zh;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::En
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// The page's words.
    pub fn words(self) -> Value {
        let pairs: &[(&str, &str, &str)] = &[
            ("sign_in", "Sign in", "登录"),
            ("sign_out", "Sign out", "退出"),
            ("upload", "Upload discs", "上传光盘"),
            ("token", "Staff token", "馆员令牌"),
            (
                "token_help",
                "The token your consortium's administrator gave you (it begins with spt_).",
                "联盟管理员发给您的令牌（以 spt_ 开头）。",
            ),
            (
                "bad_token",
                "That token is unknown or has been revoked.",
                "令牌无效或已被撤销。",
            ),
            ("stats", "Usage statistics", "使用统计"),
            ("consortium", "The consortium", "联盟"),
            ("by_year", "Figures by year", "年度数据"),
            ("year", "Year", "年份"),
            ("members", "Members", "成员馆"),
            ("records", "Records", "书目记录"),
            ("discs", "Discs", "光盘"),
            ("bytes", "Stored", "存储量"),
            ("views", "Views", "浏览"),
            ("downloads", "Downloads", "下载"),
            ("launches", "Launches", "在线运行"),
            ("monthly", "The last twelve months", "最近十二个月"),
            ("month", "Month", "月份"),
            (
                "top",
                "Most used discs (last twelve months)",
                "最常用的光盘（最近十二个月）",
            ),
            ("disc", "Disc", "光盘"),
            ("member", "Member", "成员馆"),
            (
                "league",
                "Members compared (last twelve months)",
                "成员馆比较（最近十二个月）",
            ),
            (
                "classes",
                "By content class (last twelve months)",
                "按内容类型（最近十二个月）",
            ),
            ("class", "Content class", "内容类型"),
            ("csv", "CSV", "CSV"),
            ("none", "No usage yet.", "暂无使用数据。"),
            (
                "counter_note",
                "Counted by COUNTER R5.1 rules: robots excluded, double-clicks within 30 seconds counted once; days are UTC and appear once the day is over. Views are landing pages and folder browses; downloads are whole images and single files.",
                "按 COUNTER R5.1 规则统计：排除机器人，30 秒内的重复点击只计一次；按 UTC 计日，当天结束后显示。浏览包括光盘主页和文件夹；下载包括整盘镜像和单个文件。",
            ),
            (
                "sushi_note",
                "Harvest these figures with your usual tools: COUNTER_SUSHI R5.1 at",
                "可用常用工具通过 COUNTER_SUSHI R5.1 接口获取：",
            ),
            ("forbidden", "You may not see this.", "您无权查看此页。"),
            ("language", "中文", "English"),
            ("set", "Discs of this book", "本书的光盘"),
            ("disc_n", "Disc", "光盘"),
            ("download_image", "Download the disc image", "下载光盘镜像"),
            ("launch", "Launch", "在线打开"),
            ("browse", "Browse the files", "浏览文件"),
            (
                "records_in_catalogues",
                "In the libraries' catalogues",
                "馆藏目录中的记录",
            ),
            ("tracks", "Audio tracks", "音轨"),
            ("track", "Track", "音轨"),
            ("facts", "About this disc", "光盘信息"),
            ("format", "Format", "格式"),
            ("size", "Size", "大小"),
            ("volume_label", "Volume label", "卷标"),
            ("files", "Files", "文件数"),
            ("path", "Folder", "文件夹"),
            ("name", "Name", "名称"),
            ("download", "Download", "下载"),
            (
                "refused",
                "This disc is for the library's readers",
                "此光盘仅供本馆读者使用",
            ),
            (
                "refused_help",
                "Open it from the library's network (on campus or through the library's VPN), or follow the link in the library's catalogue, which works off campus through the library's proxy. Ask the library if neither works.",
                "请在图书馆网络内（校园网或图书馆 VPN）访问，或从图书馆目录中的链接进入（校外可通过图书馆代理访问）。如仍无法访问，请咨询图书馆。",
            ),
            ("not_found", "Not found", "未找到"),
            ("search", "Search", "检索"),
            ("review", "Discs waiting for review", "待审核的光盘"),
            (
                "review_help",
                "The catalogue gave more than one possible record, or one that is not certain: choose the right one, or reject the wrong ones.",
                "目录中有多条可能的记录或匹配不确定：请选择正确的记录，或拒绝错误的记录。",
            ),
            (
                "review_empty",
                "Nothing waits for review.",
                "没有待审核的光盘。",
            ),
            ("record", "Record", "书目记录"),
            ("score", "Score", "得分"),
            ("why", "Why", "依据"),
            ("accept", "This is it", "确认"),
            ("reject", "Not this", "拒绝"),
            (
                "search_help",
                "Title, author, ISBN, barcode, or the name of a file on the disc",
                "题名、著者、ISBN、条码或光盘上的文件名",
            ),
            ("results", "discs found", "张光盘"),
            ("title", "Title", "题名"),
            ("barcode", "Barcode", "条码"),
            ("my_discs", "Discs and uploads", "光盘与上传"),
            ("summary", "Summary", "概况"),
            (
                "link_no-catalogue",
                "No catalogue configured",
                "未配置书目系统",
            ),
            ("link_pending", "Waiting for the catalogue", "等待书目匹配"),
            ("link_linked", "Linked to a record", "已关联书目"),
            ("link_review", "Waiting for review", "待审核"),
            ("link_unmatched", "No record found", "未找到书目"),
            ("link_failed", "Catalogue error", "书目系统出错"),
            ("image_none", "Not stored", "未存储"),
            ("image_pending", "Waiting to be read", "等待读取"),
            ("image_indexing", "Being read", "正在读取"),
            ("image_indexed", "Read", "已读取"),
            ("image_failed", "Could not be read", "无法读取"),
            ("uploads_open", "Uploads not finished", "未完成的上传"),
            (
                "uploads_help",
                "An unfinished upload resumes where it stopped when the same file is uploaded again from the uploader or the command line.",
                "重新从上传页面或命令行上传同一文件时，未完成的上传会从中断处继续。",
            ),
            ("received", "Received", "已接收"),
            ("state", "State", "状态"),
            ("updated", "Last activity", "最近活动"),
            ("upload_failed", "Failed", "失败"),
            ("upload_pending", "In progress", "进行中"),
            ("expires", "resumable until", "可续传至"),
            ("show", "Show", "显示"),
            ("show_all", "All", "全部"),
            ("show_attention", "Needs attention", "需要处理"),
            ("show_waiting", "In progress", "处理中"),
            ("image_state", "Image", "映像"),
            ("link_state", "Catalogue", "书目"),
            ("registered", "Registered", "登记时间"),
            ("page", "Page", "页"),
            ("prev", "Previous", "上一页"),
            ("next", "Next", "下一页"),
            ("no_discs", "No discs here.", "这里没有光盘。"),
            ("settings", "Settings", "设置"),
            ("catalogue", "Catalogue connection", "书目系统连接"),
            (
                "catalogue_help",
                "Spindle reads each disc's record from your library system over SRU (Koha/Zebra, Evergreen, FOLIO, Alma and other YAZ-based servers), and harvests changes over OAI-PMH when you give its address. Saving queues every disc not yet linked for another try.",
                "Spindle 通过 SRU（Koha/Zebra、Evergreen、FOLIO、Alma 及其他基于 YAZ 的服务器）从贵馆系统读取每张光盘的书目记录；如填写 OAI-PMH 地址，还会增量收割更新。保存后，所有尚未关联的光盘会重新匹配。",
            ),
            ("not_configured", "Not configured yet.", "尚未配置。"),
            (
                "sru_url",
                "SRU address (database URL)",
                "SRU 地址（数据库 URL）",
            ),
            ("sru_version", "SRU version", "SRU 版本"),
            ("record_schema", "Record schema", "记录格式"),
            (
                "opac_template",
                "OPAC record page ({id} is the record id)",
                "OPAC 记录页面（{id} 代表记录号）",
            ),
            (
                "oai_url",
                "OAI-PMH address (optional)",
                "OAI-PMH 地址（可选）",
            ),
            ("oai_prefix", "OAI metadata prefix", "OAI 元数据前缀"),
            ("oai_set", "OAI set (optional)", "OAI 集合（可选）"),
            ("save", "Save", "保存"),
            ("networks", "Network ranges", "IP 地址范围"),
            (
                "networks_help",
                "Readers whose address is in these ranges (IPv4 or IPv6, CIDR) are admitted to your discs and counted as your library's users.",
                "地址在这些范围内（IPv4 或 IPv6，CIDR 格式）的读者可以访问本馆光盘，并计入本馆的使用统计。",
            ),
            (
                "cidrs",
                "One range per line, e.g. 192.0.2.0/24 or 2001:db8::/32",
                "每行一个范围，例如 192.0.2.0/24 或 2001:db8::/32",
            ),
            ("no_networks", "No ranges yet.", "尚未设置。"),
            (
                "networks_admin",
                "The consortium's administrators set the ranges, since they decide whose usage is whose: ask them to change these.",
                "IP 范围决定使用量归属，由联盟管理员设置；如需修改请联系他们。",
            ),
            ("opac_links", "Links for your OPAC", "OPAC 链接"),
            (
                "opac_links_help",
                "Put one of these in your OPAC's record display: a resolver link (it never changes) or the widget, which shows the disc's links on the record page.",
                "在 OPAC 记录页面中加入以下之一：解析链接（永久有效），或在记录页面显示光盘链接的小部件。",
            ),
            (
                "resolver_record",
                "Resolver link by record id",
                "按记录号的解析链接",
            ),
            (
                "resolver_isbn",
                "Resolver link by ISBN",
                "按 ISBN 的解析链接",
            ),
            ("widget", "Widget", "小部件"),
            ("export", "856 export", "856 导出"),
            (
                "export_help",
                "Your linked records, each with an 856 field per disc pointing at Spindle's resolver, ready to load into your library system (earlier Spindle 856s are replaced, others kept).",
                "本馆已关联的书目记录，每张光盘一个指向 Spindle 解析链接的 856 字段，可直接导入图书馆系统（替换以前的 Spindle 856 字段，保留其他字段）。",
            ),
            (
                "export_count",
                "{n} discs are linked to records.",
                "已有 {n} 张光盘关联到书目记录。",
            ),
            ("export_856", "Each 856 $u begins", "每个 856 $u 的开头为"),
            (
                "saved_catalogue",
                "The catalogue connection is saved.",
                "书目系统连接已保存。",
            ),
            (
                "discs_queued",
                "{n} discs will be matched again.",
                "{n} 张光盘将重新匹配。",
            ),
            (
                "saved_networks",
                "The network ranges are saved.",
                "IP 地址范围已保存。",
            ),
            ("fixity", "Fixity of the stored images", "存储映像的完整性"),
            (
                "fixity_help",
                "Spindle re-reads every stored image and hashes it again; an image whose bytes no longer match its SHA-256 is listed here (restore it from a backup, then run spindle fsck).",
                "Spindle 定期重新读取每个存储的映像并重新计算哈希；字节与其 SHA-256 不再一致的映像列于此处（请从备份恢复，然后运行 spindle fsck）。",
            ),
            ("blobs", "Stored images", "存储的映像"),
            (
                "fixity_recent",
                "Checked in the last 90 days",
                "最近 90 天内已检查",
            ),
            (
                "fixity_failing",
                "Not matching their SHA-256",
                "与 SHA-256 不一致",
            ),
            (
                "narrow",
                "too many to list all: narrow the search",
                "结果过多，请缩小检索范围",
            ),
        ];
        let zh = self == Lang::Zh;
        Value::Object(
            pairs
                .iter()
                .map(|(k, en, z)| (k.to_string(), json!(if zh { z } else { en })))
                .collect(),
        )
    }
}

/// The headers every page and asset carries: a strict content security policy (only
/// Spindle's own scripts and styles; WebAssembly may compile, nothing may be evaluated,
/// framed or posted elsewhere), no sniffing, no framing, no referrer to other sites.
pub fn security_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// Renders a template with the page's words and language added to `ctx`.
pub fn render(status: StatusCode, name: &str, lang: Lang, mut ctx: Value) -> Response {
    ctx["t"] = lang.words();
    ctx["lang"] = json!(lang.code());
    ctx["other_lang"] = json!(if lang == Lang::Zh { "en" } else { "zh" });
    let html = env().get_template(name).and_then(|t| t.render(&ctx));
    let mut response = match html {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "rendering a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    };
    security_headers(&mut response);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A short page with a heading and a sentence.
pub fn message(status: StatusCode, lang: Lang, title: &str, text: &str) -> Response {
    render(
        status,
        "message.html",
        lang,
        json!({"title": title, "text": text}),
    )
}

/// An error as a short page with its status and message.
pub fn message_for(lang: Lang, e: &AppError) -> Response {
    message(
        e.status(),
        lang,
        &e.status().as_u16().to_string(),
        e.message(),
    )
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// `Set-Cookie` for a page cookie: HttpOnly, SameSite=Strict, Secure behind https.
pub fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = state.config.public_url().starts_with("https://");
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

/// Staff signed in with a session cookie, for pages. Without a valid session the browser is
/// sent to the sign-in page (and back afterwards).
pub struct StaffPage {
    pub staff: Staff,
    /// The form token every form of the page must carry.
    pub csrf: String,
    pub lang: Lang,
}

impl FromRequestParts<AppState> for StaffPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = Lang::of(parts);
        let found = crate::auth::staff_session(&state.db, &parts.headers)
            .await
            .map_err(|e| AppError::from(e).into_response())?;
        let Some((staff, csrf)) = found else {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/staff/stats");
            let target = format!(
                "/staff/sign-in?next={}",
                percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
            );
            return Err((StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response());
        };
        Ok(StaffPage { staff, csrf, lang })
    }
}

impl StaffPage {
    /// A form posted from one of Spindle's pages carries the session's form token; any other
    /// (a cross-site post, a stale page) is refused and changes nothing: the refusal page, or
    /// None when the token is right.
    pub fn form_refusal(&self, token: &str) -> Option<Response> {
        if same_token(&self.csrf, token) {
            None
        } else {
            Some(message(
                StatusCode::FORBIDDEN,
                self.lang,
                "403",
                "This form's token does not match your session; reload the page and try again.",
            ))
        }
    }
}

pub use crate::calendar::when;

/// Where to go after signing in: only Spindle's own staff pages (never another site).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n.starts_with("/staff/") || n.starts_with("/librarian/"))
                && !n.contains("//")
                && !n.contains('\\') =>
        {
            n.to_string()
        }
        _ => "/staff/stats".to_string(),
    }
}

/// Constant-time comparison of two form tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_staff_pages_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/staff/stats?member=A")),
            "/staff/stats?member=A"
        );
        assert_eq!(safe_next(Some("https://evil.example/")), "/staff/stats");
        assert_eq!(safe_next(Some("//evil.example/staff/")), "/staff/stats");
        assert_eq!(safe_next(Some("/staff/\\\\evil")), "/staff/stats");
        assert_eq!(safe_next(None), "/staff/stats");
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
    }

    #[test]
    fn every_template_compiles_and_escapes() {
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
        let mut ctx = json!({"title": "<script>alert(1)</script>", "text": "a & b"});
        ctx["t"] = Lang::En.words();
        let html = env()
            .get_template("message.html")
            .and_then(|t| t.render(&ctx))
            .expect("renders");
        assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("a &amp; b"));
    }
}

//! The consortium at national scale, simulated (issue 22, item 6).
//!
//! `generate`: fills a PostgreSQL database that Spindle has migrated with a consortium of
//! `--scale` × (1,800 members, 2.5 million discs, 2 million distinct images with 50 million
//! files, 2.5 million catalogue records, 40 million usage events over the past year). Books
//! have Chinese or English titles (a long tail of distinct titles over common words: see
//! `titles.rs`), authors and publishers, valid ISBNs (978-7…), and their discs the file trees
//! of book CDs (autorun, setup, audio units, chapter PDFs, a program); a fifth of the discs are
//! further copies of a book another library holds (one image, several discs), spread over the
//! books by a Zipf law: a few textbooks in hundreds of libraries, most books in one.
//! Image rows copy their format, view and layout from a real image Spindle indexed first (the
//! script uploads one built by xorriso); each disc's search text is what Spindle's own search
//! refresh would write. Rows go in by COPY with the secondary indexes dropped and rebuilt.
//!
//! `rollup`: rolls up every day of the year as the server's job does, one day at a time.
//!
//! `measure`: requests at a fixed rate (open loop: a slow answer does not slow the next
//! request) against a running Spindle — searches by title, file name and ISBN, disc pages
//! and folder listings of open discs — checks each answer, and prints p50/p99/max with the
//! CPU the server, PostgreSQL and this client used.
//!
//!   spindle-national generate --database postgres://… --scale 0.01
//!   spindle-national rollup --database postgres://…
//!   spindle-national measure --base http://127.0.0.1:PORT --scale 0.01 --rate 50 --secs 20 --server-pid PID

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde_json::json;
use spindle::calendar::Day;
use spindle::db::Db;
use spindle::http::web::escape_html;
use spindle::usage::{DAY_MS, rollup};
use spindle_integrations::isbn::Isbn;
use sqlx::PgPool;
use sqlx::postgres::PgPoolCopyExt;

mod titles;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Generate {
        #[arg(long)]
        database: String,
        #[arg(long)]
        scale: f64,
    },
    Rollup {
        #[arg(long)]
        database: String,
    },
    Measure {
        #[arg(long)]
        base: String,
        #[arg(long)]
        scale: f64,
        #[arg(long, default_value_t = 50)]
        rate: u32,
        #[arg(long, default_value_t = 20)]
        secs: u64,
        /// The Spindle server's process, for its CPU time
        #[arg(long)]
        server_pid: u32,
    },
}

/// The full size: the issue's national consortium.
const MEMBERS: f64 = 1_800.0;
const DISCS: f64 = 2_500_000.0;
const EVENTS: f64 = 40_000_000.0;
/// Distinct images per disc (a fifth of the discs are another library's copy).
const IMAGES_PER_DISC: f64 = 0.8;
/// The Zipf exponent of further copies over books (see [`disc_book`]): with 0.6 the commonest
/// book is on ~490 discs at the full size, ~120 at 1/10 (of 1,800 and 180 members).
const HOLDERS_ZIPF: f64 = 0.6;
/// Generated ids start here, above anything the template run created.
const FIRST_ID: i64 = 1_000;

struct Size {
    members: i64,
    discs: i64,
    images: i64,
    events: i64,
}

impl Size {
    fn at(scale: f64) -> Self {
        let discs = (DISCS * scale).round().max(100.0) as i64;
        Size {
            members: (MEMBERS * scale).round().max(18.0) as i64,
            discs,
            images: (discs as f64 * IMAGES_PER_DISC) as i64,
            events: (EVENTS * scale).round() as i64,
        }
    }
}

/// splitmix64: the same numbers every run, so `measure` can ask for what `generate` wrote.
fn h(n: i64, salt: u64) -> u64 {
    let mut z = (n as u64)
        .wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<'a>(list: &[&'a str], n: i64, salt: u64) -> &'a str {
    list[(h(n, salt) % list.len() as u64) as usize]
}

const ZH_SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
];
const ZH_GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "志强", "晓东", "海燕", "文", "华",
    "红梅",
];
const EN_GIVEN: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Susan",
    "Richard",
    "Karen",
    "Thomas",
    "Sarah",
];
const EN_SURNAMES: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Martin", "Thompson", "White", "Harris", "Clark", "Lewis",
];
const ZH_PUBLISHERS: &[&str] = &[
    "高等教育出版社",
    "清华大学出版社",
    "机械工业出版社",
    "人民邮电出版社",
    "电子工业出版社",
    "外语教学与研究出版社",
    "上海外语教育出版社",
    "科学出版社",
    "人民卫生出版社",
    "北京大学出版社",
    "中国人民大学出版社",
    "化学工业出版社",
];
const EN_PUBLISHERS: &[&str] = &[
    "Pearson",
    "McGraw-Hill",
    "Wiley",
    "Springer",
    "Cengage Learning",
    "Oxford University Press",
    "Cambridge University Press",
];
const PLACES: &[&str] = &[
    "北京",
    "上海",
    "天津",
    "重庆",
    "南京",
    "武汉",
    "广州",
    "成都",
    "西安",
    "杭州",
    "长沙",
    "沈阳",
    "哈尔滨",
    "长春",
    "济南",
    "青岛",
    "郑州",
    "合肥",
    "福州",
    "厦门",
    "南昌",
    "昆明",
    "贵阳",
    "南宁",
    "兰州",
    "太原",
    "石家庄",
    "呼和浩特",
    "乌鲁木齐",
    "银川",
    "西宁",
    "拉萨",
    "海口",
    "大连",
    "苏州",
    "宁波",
];
const KINDS: &[&str] = &[
    "大学",
    "师范大学",
    "理工大学",
    "医科大学",
    "财经大学",
    "外国语大学",
    "农业大学",
    "科技大学",
    "交通大学",
    "工业大学",
    "职业技术学院",
    "城市学院",
];
const TOPICS: &[&str] = &[
    "习题答案",
    "课件",
    "教学大纲",
    "实验",
    "案例",
    "阅读材料",
    "参考文献",
    "思考题",
];

/// What a book (one distinct image) is: everything its record and search text say.
struct Book {
    zh: bool,
    title: String,
    authors: Vec<String>,
    publisher: &'static str,
    year: i64,
    isbn: String,
    /// The program on its disc, a code unique to the book (`K3F9QZ2.EXE`).
    code: String,
}

/// A valid ISBN-13 for book `n`, hyphenated as a catalogue might hold it.
fn isbn_of(n: i64) -> String {
    let digits = Isbn::complete(&format!("9787{:08}", n % 100_000_000))
        .map(|i| i.isbn13())
        .unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        &digits[..3],
        &digits[3..4],
        &digits[4..8],
        &digits[8..12],
        &digits[12..]
    )
}

fn book(n: i64) -> Book {
    let zh = h(n, 1) % 10 < 6;
    let title = titles::title(n, zh);
    let publisher = if zh {
        pick(ZH_PUBLISHERS, n, 8)
    } else {
        pick(EN_PUBLISHERS, n, 8)
    };
    let (surnames, given, sep) = if zh {
        (ZH_SURNAMES, ZH_GIVEN, "")
    } else {
        (EN_SURNAMES, EN_GIVEN, ", ")
    };
    let authors = (0..1 + h(n, 5) % 3)
        .map(|a| {
            let k = n * 7 + a as i64;
            format!("{}{sep}{}", pick(surnames, k, 6), pick(given, k, 7))
        })
        .collect();
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut c = h(n, 9);
    let code = (0..7)
        .map(|_| {
            let ch = ALPHABET[(c % 32) as usize] as char;
            c /= 32;
            ch
        })
        .collect();
    Book {
        zh,
        title,
        authors,
        publisher,
        year: 1998 + (h(n, 10) % 27) as i64,
        isbn: isbn_of(n),
        code,
    }
}

fn sha_of(n: i64) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!(
        "spindle-national-image-{n}"
    )))
}

/// One entry of a book's file tree: path, dir, name, kind, size.
type Entry = (String, String, String, &'static str, i64);

fn tree(n: i64, b: &Book) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::with_capacity(25);
    let mut add = |dir: &str, name: String, kind: &'static str, size: i64| {
        let path = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        out.push((path, dir.to_string(), name, kind, size));
    };
    add("", "AUTORUN.INF".into(), "file", 64);
    add("", "SETUP.EXE".into(), "file", 1_200_000);
    add("", "README.TXT".into(), "file", 3_000);
    add("", "AUDIO".into(), "dir", 2_048);
    add("", "DOCS".into(), "dir", 2_048);
    add("", "SOFTWARE".into(), "dir", 2_048);
    for u in 1..=8 {
        let size = 2_000_000 + (h(n * 8 + u, 11) % 6_000_000) as i64;
        add("AUDIO", format!("Unit{u:02}.mp3"), "file", size);
    }
    for c in 1..=8 {
        let topic = pick(TOPICS, n * 8 + c, 12);
        let name = if b.zh {
            format!("第{c:02}章 {topic}.pdf")
        } else {
            format!("Chapter{c:02}_{topic}.pdf")
        };
        add(
            "DOCS",
            name,
            "file",
            300_000 + (h(n * 8 + c, 13) % 900_000) as i64,
        );
    }
    add("SOFTWARE", format!("{}.EXE", b.code), "file", 4_000_000);
    add("SOFTWARE", format!("{}.DAT", b.code), "file", 60_000_000);
    add("SOFTWARE", "SETUP.INI".into(), "file", 512);
    out
}

/// Disc `i` (0-based): the book it holds, its member and whether it is open.
///
/// Every book is on one disc at least (disc `i` < images holds book `i`); the other discs are
/// further copies, and who holds a copy follows a Zipf law over the books (exponent
/// [`HOLDERS_ZIPF`]): a few textbooks are held by hundreds of libraries at the full size, most
/// books by one.
fn disc_book(i: i64, size: &Size) -> i64 {
    if i < size.images {
        return i;
    }
    titles::zipf(i, 22, size.images as usize, HOLDERS_ZIPF) as i64
}
fn disc_member(i: i64, size: &Size) -> i64 {
    // A few large libraries hold most discs, as in the seed consortium.
    let u = (h(i, 20) % 1_000_000) as f64 / 1_000_000.0;
    FIRST_ID + ((u * u) * size.members as f64) as i64
}
fn disc_open(i: i64) -> bool {
    h(i, 21) % 10 < 7
}
fn disc_id(i: i64) -> i64 {
    FIRST_ID + i
}

/// A COPY in progress: text format, one buffer flushed every megabyte.
struct Copy {
    copy: sqlx::postgres::PgCopyIn<sqlx::pool::PoolConnection<sqlx::Postgres>>,
    buf: Vec<u8>,
    rows: u64,
}

enum V<'a> {
    S(&'a str),
    I(i64),
    B(bool),
    N,
}

impl Copy {
    async fn start(pool: &PgPool, table: &str) -> Result<Self> {
        let copy = pool
            .copy_in_raw(&format!("COPY {table} FROM STDIN"))
            .await
            .with_context(|| format!("COPY {table}"))?;
        Ok(Copy {
            copy,
            buf: Vec::with_capacity(1 << 21),
            rows: 0,
        })
    }

    async fn row(&mut self, values: &[V<'_>]) -> Result<()> {
        for (k, v) in values.iter().enumerate() {
            if k > 0 {
                self.buf.push(b'\t');
            }
            match v {
                V::S(s) => {
                    for b in s.bytes() {
                        match b {
                            b'\\' => self.buf.extend_from_slice(b"\\\\"),
                            b'\t' => self.buf.extend_from_slice(b"\\t"),
                            b'\n' => self.buf.extend_from_slice(b"\\n"),
                            b'\r' => self.buf.extend_from_slice(b"\\r"),
                            b => self.buf.push(b),
                        }
                    }
                }
                V::I(i) => self.buf.extend_from_slice(i.to_string().as_bytes()),
                V::B(b) => self.buf.push(if *b { b't' } else { b'f' }),
                V::N => self.buf.extend_from_slice(b"\\N"),
            }
        }
        self.buf.push(b'\n');
        self.rows += 1;
        if self.buf.len() >= 1 << 20 {
            self.copy.send(std::mem::take(&mut self.buf)).await?;
            self.buf.reserve(1 << 21);
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<u64> {
        if !self.buf.is_empty() {
            self.copy.send(std::mem::take(&mut self.buf)).await?;
        }
        self.copy.finish().await?;
        Ok(self.rows)
    }
}

/// The indexed image the script uploaded: what every generated image copies.
#[derive(sqlx::FromRow)]
struct Template {
    formats: Option<String>,
    view: Option<String>,
    content_class: Option<String>,
    layout: Option<String>,
    source: i64,
}

async fn connect(database: &str) -> Result<(spindle::app::App, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let mut config = spindle::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    config.database.url = Some(database.to_string());
    config.database.max_connections = 4;
    Ok((spindle::app::App::start(config).await?, dir))
}

/// Tables the generator fills, whose secondary indexes are dropped while it does.
const BULK_TABLES: &[&str] = &[
    "members",
    "blobs",
    "blob_holders",
    "images",
    "image_files",
    "discs",
    "bib_records",
    "disc_links",
    "search_text",
    "search_isbns",
    "search_discs",
    "usage_events",
];

fn step(name: &str, rows: u64, t: Instant) {
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"step": name, "rows": rows, "secs": (secs * 10.0).round() / 10.0})
    );
}

async fn generate(database: String, scale: f64) -> Result<()> {
    // Migrated by Spindle itself; then a pool of our own whose sessions skip the per-row
    // reference checks: the generated rows refer to each other by construction.
    let (app, _dir) = connect(&database).await?;
    if !matches!(app.db, Db::Postgres(_)) {
        bail!("the national simulation runs on PostgreSQL");
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .after_connect(|c, _| {
            Box::pin(async move {
                sqlx::query("SET session_replication_role = replica")
                    .execute(c)
                    .await?;
                Ok(())
            })
        })
        .connect(&database)
        .await?;
    let size = Size::at(scale);
    let template: Template = sqlx::query_as(
        "SELECT i.formats, i.view, i.content_class, i.layout,
                COALESCE((SELECT f.source FROM image_files f WHERE f.image_sha256 = i.sha256 LIMIT 1), 0) AS source
         FROM images i WHERE i.status = 'indexed' ORDER BY i.created_at LIMIT 1",
    )
    .fetch_optional(&pool)
    .await?
    .context("no indexed image to copy: upload and index one first (loadtests/national.sh does)")?;
    let taken: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM discs")
        .fetch_one(&pool)
        .await?;
    if taken >= FIRST_ID {
        bail!("this database already holds generated discs");
    }
    println!(
        "{}",
        json!({"scale": scale, "members": size.members, "discs": size.discs,
               "images": size.images, "files": size.images * 25, "events": size.events})
    );

    let all = Instant::now();
    let t = Instant::now();
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes
         WHERE schemaname = 'public' AND tablename = ANY($1)
           AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .bind(BULK_TABLES)
    .fetch_all(&pool)
    .await?;
    for (name, _) in &indexes {
        sqlx::query(&format!("DROP INDEX {name}"))
            .execute(&pool)
            .await?;
    }
    step("drop secondary indexes", indexes.len() as u64, t);
    let now = spindle::db::now();
    let year_ago = now - 400 * 86_400;

    let t = Instant::now();
    let mut c = Copy::start(&pool, "members (id, code, name, created_at)").await?;
    for m in 0..size.members {
        let place = pick(PLACES, m, 30);
        let kind = KINDS[(m as usize / PLACES.len()) % KINDS.len()];
        let nth = m as usize / (PLACES.len() * KINDS.len());
        let name = if nth == 0 {
            format!("{place}{kind}图书馆")
        } else {
            format!("{place}{kind}第{}校区图书馆", nth + 1)
        };
        c.row(&[
            V::I(FIRST_ID + m),
            V::S(&format!("M{:04}", m + 1)),
            V::S(&name),
            V::I(year_ago),
        ])
        .await?;
    }
    step("members", c.finish().await?, t);

    let t = Instant::now();
    let mut blobs = Copy::start(&pool, "blobs (sha256, size, created_at, verified_at)").await?;
    let mut images = Copy::start(
        &pool,
        "images (sha256, status, formats, view, volume_label, bootable, file_count, dir_count,
                 files_size, content_class, layout, index_millis, ranged_reads, indexed_at, created_at)",
    )
    .await?;
    let mut n = 0;
    while n < size.images {
        let sha = sha_of(n);
        let b = book(n);
        let files_size: i64 = tree(n, &b).iter().map(|e| e.4).sum();
        let dvd = h(n, 14).is_multiple_of(5);
        let bytes = if dvd {
            1_000_000_000 + (h(n, 15) % 3_700_000_000) as i64
        } else {
            files_size.max(200_000_000) + (h(n, 15) % 500_000_000) as i64
        };
        blobs
            .row(&[V::S(&sha), V::I(bytes), V::I(year_ago), V::I(now)])
            .await?;
        let label = format!("BOOKCD_{}", b.code);
        images
            .row(&[
                V::S(&sha),
                V::S("indexed"),
                template.formats.as_deref().map_or(V::N, V::S),
                template.view.as_deref().map_or(V::N, V::S),
                V::S(&label),
                V::B(false),
                V::I(22),
                V::I(3),
                V::I(files_size),
                template.content_class.as_deref().map_or(V::N, V::S),
                template.layout.as_deref().map_or(V::N, V::S),
                V::I(40),
                V::I(12),
                V::I(year_ago),
                V::I(year_ago),
            ])
            .await?;
        n += 1;
    }
    let rows = blobs.finish().await?;
    images.finish().await?;
    step("blobs and images", rows, t);

    let t = Instant::now();
    let mut files = Copy::start(
        &pool,
        "image_files (image_sha256, path, dir, name, kind, size, mtime, source, extents, target)",
    )
    .await?;
    for n in 0..size.images {
        let sha = sha_of(n);
        let b = book(n);
        let mut lba: i64 = 300;
        for (path, dir, name, kind, bytes) in tree(n, &b) {
            let extents = format!("[[{},{}]]", lba * 2048, bytes);
            lba += (bytes + 2047) / 2048;
            files
                .row(&[
                    V::S(&sha),
                    V::S(&path),
                    V::S(&dir),
                    V::S(&name),
                    V::S(kind),
                    V::I(bytes),
                    V::I(year_ago),
                    V::I(template.source),
                    V::S(&extents),
                    V::N,
                ])
                .await?;
        }
    }
    step("image_files", files.finish().await?, t);

    let t = Instant::now();
    let mut discs = Copy::start(
        &pool,
        "discs (id, member_id, sha256, filename, label, isbn, barcode, record_id, disc_number,
                is_open, created_at, link_status, linked_at, image_indexed_at, searched_at)",
    )
    .await?;
    let mut records = Copy::start(
        &pool,
        "bib_records (id, member_id, record_id, flavour, title, year, isbns, disc_count, disc_kind,
                      deleted, summary, marc, fetched_at)",
    )
    .await?;
    let mut links = Copy::start(
        &pool,
        "disc_links (disc_id, bib_record_id, state, score, method, query, explanation, created_at, updated_at)",
    )
    .await?;
    let mut holders = Copy::start(&pool, "blob_holders (sha256, member_id, since)").await?;
    let mut text = Copy::start(&pool, "search_text (disc_id, field, text)").await?;
    let mut isbns = Copy::start(&pool, "search_isbns (isbn, disc_id)").await?;
    let mut listed = Copy::start(
        &pool,
        "search_discs (disc_id, member_id, is_open, disc_number, content_class, title)",
    )
    .await?;
    let mut held = std::collections::HashSet::new();
    for i in 0..size.discs {
        let n = disc_book(i, &size);
        let b = book(n);
        let sha = sha_of(n);
        let id = disc_id(i);
        let member = disc_member(i, &size);
        let barcode = format!("{:04}{:08}", member - FIRST_ID + 1, i);
        let record_id = format!("{}", 100_000 + i);
        discs
            .row(&[
                V::I(id),
                V::I(member),
                V::S(&sha),
                V::S(&format!("{barcode}.iso")),
                V::N,
                V::S(&b.isbn),
                V::S(&barcode),
                V::S(&record_id),
                V::I(1),
                V::B(disc_open(i)),
                V::I(year_ago),
                V::S("linked"),
                V::I(year_ago),
                V::I(year_ago),
                V::I(now),
            ])
            .await?;
        if held.insert((n, member)) {
            holders
                .row(&[V::S(&sha), V::I(member), V::I(year_ago)])
                .await?;
        }
        let isbn_digits: String = b.isbn.chars().filter(char::is_ascii_digit).collect();
        let summary = json!({
            "flavour": if b.zh { "cnmarc" } else { "marc21" },
            "id": record_id, "koha_id": null, "deleted": false, "disc_record": false,
            "isbns": [{"value": b.isbn, "qualifier": null, "valid": true}],
            "title": b.title, "title_vernacular": null, "title_pinyin": null,
            "authors": b.authors, "responsibility": b.authors.join("; "),
            "publisher": b.publisher, "year": b.year, "edition": null, "series": [],
            "subjects": [], "classification": [],
            "holdings": [{"barcode": barcode, "call_number": null, "location": "光盘库",
                          "materials": "1 CD-ROM", "disc": true}],
            "host": null, "discs": {"count": 1, "kind": "cd"},
        })
        .to_string();
        let marc = format!(
            "<record xmlns=\"http://www.loc.gov/MARC21/slim\"><leader>00000nam a2200000 a 4500</leader>\
             <controlfield tag=\"001\">{record_id}</controlfield></record>"
        );
        records
            .row(&[
                V::I(id),
                V::I(member),
                V::S(&record_id),
                V::S(if b.zh { "cnmarc" } else { "marc21" }),
                V::S(&b.title),
                V::I(b.year),
                V::S(&isbn_digits),
                V::I(1),
                V::S("cd"),
                V::B(false),
                V::S(&summary),
                V::S(&marc),
                V::I(year_ago),
            ])
            .await?;
        links
            .row(&[
                V::I(id),
                V::I(id),
                V::S("linked"),
                V::I(100),
                V::S("barcode"),
                V::S(&barcode),
                V::S("the record's item barcode is the disc's"),
                V::I(year_ago),
                V::I(year_ago),
            ])
            .await?;
        // What `search::refresh_disc` writes for this disc, by the same function.
        let names: Vec<String> = {
            let mut t = tree(n, &b);
            t.sort_by(|a, b| a.0.cmp(&b.0));
            t.into_iter().map(|e| e.2).collect()
        };
        let sources = spindle::search::TextSources {
            label: None,
            title_hint: None,
            isbn: Some(&b.isbn),
            barcode: Some(&barcode),
            summaries: std::slice::from_ref(&summary),
            files: &names,
        };
        let rows = spindle::search::text_rows(&sources);
        for (field, value) in &rows {
            text.row(&[V::I(id), V::S(field), V::S(value)]).await?;
        }
        for isbn in spindle::db::search::isbn_keys(&rows) {
            isbns.row(&[V::S(isbn), V::I(id)]).await?;
        }
        listed
            .row(&[
                V::I(id),
                V::I(member),
                V::B(disc_open(i)),
                V::I(1),
                template.content_class.as_deref().map_or(V::N, V::S),
                V::S(&b.title),
            ])
            .await?;
    }
    let rows = discs.finish().await?;
    records.finish().await?;
    links.finish().await?;
    holders.finish().await?;
    step(
        "discs, records, links, search text",
        text.finish().await? + isbns.finish().await? + listed.finish().await? + rows,
        t,
    );

    let t = Instant::now();
    let rows = events(&pool, &size).await?;
    step("usage_events", rows, t);

    let t = Instant::now();
    for (_, def) in &indexes {
        sqlx::query(def).execute(&pool).await?;
    }
    step("rebuild secondary indexes", indexes.len() as u64, t);
    let t = Instant::now();
    for table in ["members", "discs", "bib_records"] {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
        ))
        .execute(&pool)
        .await?;
    }
    sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
    step("vacuum analyze", 0, t);
    step("generate (all)", 0, all);
    shape(&pool).await
}

/// How the catalogue is shaped: distinct titles against books, how many titles are one
/// book's own, and the largest groups (discs of one title, discs of one image).
async fn shape(pool: &PgPool) -> Result<()> {
    let (books, titles, once, top_title): (i64, i64, i64, i64) = sqlx::query_as(
        "WITH t AS (SELECT r.title, COUNT(DISTINCT d.sha256) AS books
                    FROM discs d JOIN disc_links l ON l.disc_id = d.id
                    JOIN bib_records r ON r.id = l.bib_record_id GROUP BY r.title)
         SELECT COALESCE(SUM(books), 0)::BIGINT, COUNT(*),
                COUNT(*) FILTER (WHERE books = 1), COALESCE(MAX(books), 0) FROM t",
    )
    .fetch_one(pool)
    .await?;
    let top_image: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM discs GROUP BY sha256) c",
    )
    .fetch_one(pool)
    .await?;
    println!(
        "{}",
        json!({"step": "shape", "books": books, "titles": titles, "titles_of_one_book": once,
               "books_of_commonest_title": top_title, "discs_of_commonest_book": top_image})
    );
    Ok(())
}

/// A year of readers: most use the discs of their own library, popular discs far more
/// than the rest, more on weekdays; 2 % robots.
async fn events(pool: &PgPool, size: &Size) -> Result<u64> {
    let mut c = Copy::start(
        pool,
        "usage_events (ts_ms, action, disc_id, file_path, url_key, status, members, dc_key,
                       dc_key_prev, session_key, robot, access_type)",
    )
    .await?;
    let today = Day::of_ms(spindle::usage::now_ms()).start_ms();
    let first = today - 365 * DAY_MS;
    let per_day = size.events / 365;
    let mut k: i64 = 0;
    for d in 0..365i64 {
        let day_start = first + d * DAY_MS;
        let weekday = (day_start / DAY_MS + 4) % 7; // 0 = Sunday
        let count = if weekday == 0 || weekday == 6 {
            per_day * 6 / 10
        } else {
            per_day * 116 / 100
        };
        for _ in 0..count {
            k += 1;
            let u = (h(k, 40) % 1_000_000) as f64 / 1_000_000.0;
            let i = ((u * u * u) * size.discs as f64) as i64;
            let id = disc_id(i);
            let member = disc_member(i, size);
            let session = h(k / 6, 41);
            let ts = day_start + (h(k, 42) % DAY_MS as u64) as i64;
            let (action, path) = match h(k, 43) % 100 {
                0..45 => ("landing", format!("/discs/{id}")),
                45..65 => ("browse", format!("/discs/{id}/browse/DOCS")),
                65..85 => ("file", format!("/api/v1/discs/{id}/files/AUDIO/Unit01.mp3")),
                85..93 => ("image", format!("/api/v1/discs/{id}/image")),
                93..97 => ("launch", format!("/api/v1/discs/{id}/launch")),
                _ => ("search", "/search".to_string()),
            };
            let disc = (action != "search").then_some(id);
            let file = (action == "file").then_some("AUDIO/Unit01.mp3");
            let dc = format!("{:016x}{:016x}", session, h(k, 44) % 4);
            let sk = format!("{:016x}{:016x}", session, ts / 3_600_000);
            let members = format!(",{member},");
            c.row(&[
                V::I(ts),
                V::S(action),
                disc.map_or(V::N, V::I),
                file.map_or(V::N, V::S),
                V::S(&path),
                V::I(if action == "launch" { 303 } else { 200 }),
                V::S(&members),
                V::S(&dc),
                V::N,
                V::S(&sk),
                V::B(h(k, 45).is_multiple_of(50)),
                V::S(if disc_open(i) {
                    "Free_To_Read"
                } else {
                    "Controlled"
                }),
            ])
            .await?;
        }
    }
    c.finish().await
}

async fn rollup_all(database: String) -> Result<()> {
    let (app, _dir) = connect(&database).await?;
    let today = Day::of_ms(spindle::usage::now_ms()).start_ms();
    let zone = app.config.stats.time_zone.clone();
    let mut secs = Vec::new();
    let mut facts = 0;
    let all = Instant::now();
    for d in (1..=366i64).rev() {
        let day = Day::of_ms(today - d * DAY_MS);
        let t = Instant::now();
        facts += rollup::rollup_day(&app.db, &zone, day).await?.facts;
        secs.push(t.elapsed().as_secs_f64());
    }
    let total = all.elapsed().as_secs_f64();
    secs.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({"step": "rollup", "days": secs.len(), "facts": facts, "secs": total,
               "day_median_secs": secs[secs.len() / 2], "day_max_secs": secs[secs.len() - 1]})
    );
    Ok(())
}

/// User and system CPU seconds of a process (and, with `children`, of every process whose
/// name is `children`), from /proc.
fn cpu_secs(pid: Option<u32>, name: Option<&str>) -> f64 {
    let tick = 100.0;
    let of = |stat: &str| -> f64 {
        let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        let ut: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let st: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        (ut + st) / tick
    };
    match (pid, name) {
        (Some(p), _) => std::fs::read_to_string(format!("/proc/{p}/stat"))
            .map(|s| of(&s))
            .unwrap_or(0.0),
        (None, Some(n)) => std::fs::read_dir("/proc")
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
                    .filter(|s| s.contains(&format!("({n})")))
                    .map(|s| of(&s))
                    .sum()
            })
            .unwrap_or(0.0),
        _ => 0.0,
    }
}

/// One kind of request: its URL for the k-th request, and what its answer must hold.
fn request(kind: &str, k: i64, size: &Size) -> (String, String) {
    // An open disc, drawn afresh for each request.
    let mut i = (h(k, 60) % size.discs as u64) as i64;
    while !disc_open(i) {
        i = (i + 1) % size.discs;
    }
    let n = disc_book(i, size);
    let b = book(n);
    let id = disc_id(i);
    let q = |s: &str| {
        reqwest::Url::parse_with_params("http://x/search", [("q", s)])
            .map(|u| u.query().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    match kind {
        // A popular book is on hundreds of discs, so its file or ISBN may list this disc on a
        // later page: the answer must list the book (its title as a hit).
        "search title" => (format!("/search?{}", q(&b.title)), "id=\"hits\"".into()),
        "search file" => (
            format!("/search?{}", q(&format!("{}.EXE", b.code))),
            format!(">{}</a>", escape_html(&b.title)),
        ),
        "search isbn" => {
            let digits: String = b.isbn.chars().filter(char::is_ascii_digit).collect();
            (
                format!("/search?q={digits}"),
                format!(">{}</a>", escape_html(&b.title)),
            )
        }
        "disc page" => (format!("/discs/{id}"), escape_html(&b.title)),
        "folder" => (
            format!("/discs/{id}/browse/DOCS"),
            if b.zh { "第08章" } else { "Chapter08_" }.into(),
        ),
        _ => unreachable!("kinds are listed in measure"),
    }
}

async fn measure(base: String, scale: f64, rate: u32, secs: u64, server_pid: u32) -> Result<()> {
    let size = Size::at(scale);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?;
    let me = std::process::id();
    for (kn, kind) in [
        "search title",
        "search file",
        "search isbn",
        "disc page",
        "folder",
    ]
    .into_iter()
    .enumerate()
    {
        let total = (u64::from(rate) * secs) as i64;
        let cpu_now = || {
            (
                cpu_secs(Some(server_pid), None),
                cpu_secs(None, Some("postgres")),
                cpu_secs(Some(me), None),
            )
        };
        let cpu0 = cpu_now();
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(total as usize);
        for k in 0..total {
            let due = start + Duration::from_secs_f64(k as f64 / f64::from(rate));
            tokio::time::sleep_until(due.into()).await;
            let (path, want) = request(kind, k + 1_000_000 * kn as i64, &size);
            let (client, url) = (client.clone(), format!("{base}{path}"));
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let outcome = match client.get(&url).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body = r.text().await.unwrap_or_default();
                        if status == 200 && body.contains(&want) {
                            "ok".to_string()
                        } else {
                            format!("{status} without {want:?}: {url}")
                        }
                    }
                    Err(e) => format!("error {e}: {url}"),
                };
                (t.elapsed().as_secs_f64() * 1000.0, outcome)
            }));
        }
        let mut results = Vec::with_capacity(tasks.len());
        for t in tasks {
            results.push(t.await?);
        }
        let wall = start.elapsed().as_secs_f64();
        let cpu1 = cpu_now();
        let cpu = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1, cpu1.2 - cpu0.2);
        let mut ms: Vec<f64> = results.iter().map(|r| r.0).collect();
        ms.sort_by(f64::total_cmp);
        let pct = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1];
        let wrong: Vec<&String> = results
            .iter()
            .map(|r| &r.1)
            .filter(|o| *o != "ok")
            .collect();
        let mut why: BTreeMap<String, usize> = BTreeMap::new();
        for w in &wrong {
            *why.entry(w.chars().take(120).collect()).or_default() += 1;
        }
        println!(
            "{}",
            json!({"kind": kind, "requests": ms.len(), "rate": rate, "wall_secs": wall,
                   "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": pct(1.0),
                   "wrong": wrong.len(), "first_wrong": why.keys().take(3).collect::<Vec<_>>(),
                   "cpu_secs": {"spindle": cpu.0, "postgres": cpu.1, "client": cpu.2}})
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    spindle_storage::install_tls_provider();
    match Args::parse().command {
        Command::Generate { database, scale } => generate(database, scale).await,
        Command::Rollup { database } => rollup_all(database).await,
        Command::Measure {
            base,
            scale,
            rate,
            secs,
            server_pid,
        } => measure(base, scale, rate, secs, server_pid).await,
    }
}

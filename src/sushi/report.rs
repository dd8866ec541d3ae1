//! A report (CoP §3.3 and Appendix E): its header, and its items built from the monthly
//! figures, as serde types in COUNTER's own member names.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::Service;
use super::auth::{Customer, authorize};
use super::request::{
    Attributes, DATA_TYPES, Filters, Params, Request, parse_month, parse_request,
};
use super::{Exception, InstitutionId, Report, available};
use crate::calendar::{Day, Month};
use crate::db::{self, usage::Fact};
use crate::usage::{DAY_MS, now_ms};

/// A metric's figures by month (`yyyy-mm`), or by the span's first month for totals.
pub type Performance = BTreeMap<String, BTreeMap<String, i64>>;

#[derive(Debug, Serialize)]
pub struct Document {
    #[serde(rename = "Report_Header")]
    pub header: Header,
    #[serde(rename = "Report_Items")]
    pub items: Vec<Items>,
}

/// A report's answer: one document, or an Item Report's header with its items spooled to a
/// file (a consortium's year runs to hundreds of thousands of items: held whole, they took
/// hundreds of megabytes of memory per report).
pub enum Answer {
    Document(Box<Document>),
    Spooled(Spooled),
}

/// The parts of an Item Report's JSON, in order: `head`, the items file's bytes, `TAIL`.
pub struct Spooled {
    /// `{"Report_Header":{…},"Report_Items":[{"Items":[`
    pub head: Vec<u8>,
    /// The items as JSON objects separated by commas, in a temporary file (unlinked: gone when
    /// closed), read from its start.
    pub items: std::fs::File,
    pub items_len: u64,
}

impl Spooled {
    pub const TAIL: &'static [u8] = b"]}]}";
}

#[derive(Debug, Serialize)]
pub struct Header {
    #[serde(rename = "Release")]
    pub release: &'static str,
    #[serde(rename = "Report_ID")]
    pub report_id: &'static str,
    #[serde(rename = "Report_Name")]
    pub report_name: &'static str,
    #[serde(rename = "Created")]
    pub created: String,
    #[serde(rename = "Created_By")]
    pub created_by: String,
    #[serde(rename = "Institution_Name")]
    pub institution_name: String,
    #[serde(rename = "Institution_ID")]
    pub institution_id: InstitutionId,
    #[serde(rename = "Registry_Record")]
    pub registry_record: &'static str,
    #[serde(rename = "Report_Filters")]
    pub filters: ReportFilters,
    #[serde(rename = "Report_Attributes", skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
    #[serde(rename = "Exceptions", skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<Exception>,
}

#[derive(Debug, Serialize)]
pub struct ReportFilters {
    #[serde(rename = "Begin_Date")]
    pub begin_date: Day,
    #[serde(rename = "End_Date")]
    pub end_date: Day,
    #[serde(flatten)]
    pub chosen: Filters,
}

/// The items of a document: the platform's (PR, PR_P1). An Item Report's are written as
/// `{"Items": [item, …]}` into a [`Spooled`] answer.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Items {
    Platform(PlatformUsage),
}

#[derive(Debug, Serialize)]
pub struct PlatformUsage {
    #[serde(rename = "Platform")]
    pub platform: String,
    #[serde(rename = "Attribute_Performance")]
    pub performance: Vec<AttributePerformance>,
}

#[derive(Debug, Serialize)]
pub struct Item {
    #[serde(rename = "Item")]
    pub item: String,
    #[serde(rename = "Publisher")]
    pub publisher: &'static str,
    #[serde(rename = "Platform")]
    pub platform: String,
    #[serde(rename = "Item_ID")]
    pub item_id: ItemId,
    #[serde(rename = "Attribute_Performance")]
    pub performance: Vec<AttributePerformance>,
}

#[derive(Debug, Serialize)]
pub struct ItemId {
    #[serde(rename = "Proprietary")]
    pub proprietary: String,
    #[serde(rename = "URI")]
    pub uri: String,
}

/// One combination of attributes and its metrics' figures.
#[derive(Debug, Serialize)]
pub struct AttributePerformance {
    #[serde(rename = "Data_Type")]
    pub data_type: String,
    #[serde(rename = "YOP", skip_serializing_if = "Option::is_none")]
    pub yop: Option<String>,
    #[serde(rename = "Access_Type", skip_serializing_if = "Option::is_none")]
    pub access_type: Option<String>,
    #[serde(rename = "Access_Method", skip_serializing_if = "Option::is_none")]
    pub access_method: Option<&'static str>,
    #[serde(rename = "Performance")]
    pub performance: Performance,
}

pub async fn report(
    svc: &Service<'_>,
    report: Report,
    params: &Params,
) -> Result<Answer, Exception> {
    let customer = authorize(svc, params).await?;
    let (begin, end) = match (params.get("begin_date"), params.get("end_date")) {
        (Some(b), Some(e)) => (b, e),
        _ => {
            return Err(Exception::with(
                1030,
                "begin_date and end_date are required",
            ));
        }
    };
    let (Some(begin), Some(end)) = (parse_month(begin), parse_month(end)) else {
        return Err(Exception::with(3020, "dates are yyyy-mm-dd or yyyy-mm"));
    };
    if end < begin {
        return Err(Exception::with(3020, "end_date before begin_date"));
    }
    if begin >= svc.config.stats.time_zone.month() {
        return Err(Exception::with(
            3020,
            "begin_date is in the current month or later",
        ));
    }
    let mut req = parse_request(report, params, &svc.config.stats.platform_id);
    let (first, last) = available(svc).await?;
    let mut from = begin;
    let mut to = end;
    if from < first {
        let gone_to = if end < first { end } else { first.prev() };
        req.exceptions.push(Exception::with(
            3032,
            format!("usage is available from {first}; {from} to {gone_to} is not"),
        ));
        from = first;
    }
    if to > last {
        let missing_from = if from > last { from } else { last.next() };
        req.exceptions.push(Exception::with(
            3031,
            format!("usage is only available up to {last}; {missing_from} to {end} is not ready"),
        ));
        to = last;
    }
    let mut header_end = end.last_day();
    if end > last && last >= begin {
        header_end = last.last_day();
    }
    let (items, spooled) = match (from <= to, report) {
        (false, _) => (Vec::new(), None),
        (true, Report::Pr | Report::PrP1) => {
            (platform_items(svc, &customer, &req, from, to).await?, None)
        }
        (true, Report::Ir | Report::IrM1) => (
            Vec::new(),
            spool_items(svc, &customer, &req, from, to).await?,
        ),
    };
    let covered_by_303x = from > to;
    if items.is_empty() && spooled.is_none() && !covered_by_303x {
        req.exceptions.push(Exception::new(3030));
    }
    req.exceptions.sort_by_key(|e| e.code);
    let attributes = (!req.attributes.is_empty() && !report.standard_view())
        .then(|| std::mem::take(&mut req.attributes));
    let header = Header {
        release: "5.1",
        report_id: report.id(),
        report_name: report.name(),
        created: rfc3339(now_ms()),
        created_by: svc.config.stats.created_by.clone(),
        institution_name: customer.name.clone(),
        institution_id: InstitutionId::of(svc, &customer.customer_id),
        registry_record: "",
        filters: ReportFilters {
            begin_date: begin.first_day(),
            end_date: header_end,
            chosen: std::mem::take(&mut req.filters),
        },
        attributes,
        exceptions: req.exceptions,
    };
    let Some((items_file, items_len)) = spooled else {
        return Ok(Answer::Document(Box::new(Document { header, items })));
    };
    let mut head = br#"{"Report_Header":"#.to_vec();
    serde_json::to_writer(&mut head, &header).map_err(|e| spool_failed(&e))?;
    head.extend_from_slice(br#","Report_Items":[{"Items":["#);
    Ok(Answer::Spooled(Spooled {
        head,
        items: items_file,
        items_len,
    }))
}

fn spool_failed(e: &dyn std::fmt::Display) -> Exception {
    Exception::from(crate::error::AppError::internal(
        "spooling an Item Report",
        e,
    ))
}

/// RFC 3339 in UTC with a `Z`, to the second.
fn rfc3339(ms: i64) -> String {
    let day = Day::of_ms(ms);
    let secs = ms.rem_euclid(DAY_MS) / 1000;
    format!(
        "{day}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn keep(req: &Request, f: &Fact) -> bool {
    let yop_ok = req.yops.as_ref().is_none_or(|ranges| {
        f.yop
            .parse::<u32>()
            .is_ok_and(|y| ranges.iter().any(|(a, b)| (*a..=*b).contains(&y)))
    });
    req.data_types
        .as_ref()
        .is_none_or(|d| d.contains(&f.data_type.as_str()))
        && req
            .access_types
            .as_ref()
            .is_none_or(|a| a.contains(&f.access_type.as_str()))
        && req.item.is_none_or(|i| i == f.disc_id)
        && yop_ok
        && DATA_TYPES.contains(&f.data_type.as_str())
}

/// An attribute's value when the request shows it and it has one.
fn shown(req: &Request, attribute: &str, value: &str) -> Option<String> {
    (req.show.contains(&attribute) && !value.is_empty()).then(|| value.to_string())
}

fn metric_value(f: &Fact, metric: &str) -> i64 {
    match metric {
        "Total_Item_Investigations" => f.tii,
        "Total_Item_Requests" => f.tir,
        "Unique_Item_Investigations" => f.uii,
        "Unique_Item_Requests" => f.uir,
        "No_License" => f.no_license,
        "Limit_Exceeded" => f.limit_exceeded,
        _ => 0,
    }
}

fn add(counts: &mut Performance, metric: &str, month: &str, n: i64) {
    if n > 0 {
        *counts
            .entry(metric.to_string())
            .or_default()
            .entry(month.to_string())
            .or_default() += n;
    }
}

/// A Platform Report's items: the platform table holds its sums (a few rows a day), where
/// the per-disc rows of a consortium's year run to millions; it has no item, YOP or
/// Access_Type filter.
async fn platform_items(
    svc: &Service<'_>,
    customer: &Customer,
    req: &Request,
    from: Month,
    to: Month,
) -> Result<Vec<Items>, Exception> {
    let (first_day, last_day) = (from.first_day().to_string(), to.last_day().to_string());
    let facts = db::usage::monthly_platform(svc.db, customer.scope, &first_day, &last_day).await?;
    let month = |m: &str| month_shown(req, from, m);
    let mut by_type: BTreeMap<String, Performance> = BTreeMap::new();
    for f in facts.iter().filter(|f| keep(req, f)) {
        let counts = by_type.entry(f.data_type.clone()).or_default();
        for metric in &req.metrics {
            add(counts, metric, &month(&f.day), metric_value(f, metric));
        }
    }
    let wants_platform = req
        .data_types
        .as_ref()
        .is_none_or(|d| d.contains(&"Platform"));
    if req.metrics.contains(&"Searches_Platform") && wants_platform && req.item.is_none() {
        let counts = by_type.entry("Platform".into()).or_default();
        let searches =
            db::usage::monthly_searches(svc.db, customer.scope, &first_day, &last_day).await?;
        for (m, n) in searches {
            add(counts, "Searches_Platform", &month(&m), n);
        }
    }
    let access_method = req.show.contains(&"Access_Method").then_some("Regular");
    let performance: Vec<AttributePerformance> = by_type
        .into_iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(data_type, performance)| AttributePerformance {
            data_type,
            yop: None,
            access_type: None,
            access_method,
            performance,
        })
        .collect();
    Ok(if performance.is_empty() {
        Vec::new()
    } else {
        vec![Items::Platform(PlatformUsage {
            platform: svc.config.stats.platform.clone(),
            performance,
        })]
    })
}

/// The month a figure is shown under: its own, or the span's first for totals.
fn month_shown(req: &Request, from: Month, m: &str) -> String {
    if req.total {
        from.to_string()
    } else {
        m.to_string()
    }
}

/// A disc's figures by the attributes shown (Data_Type, YOP, Access_Type).
type Groups = BTreeMap<(String, Option<String>, Option<String>), Performance>;

/// Items whose names are asked together (one query per this many).
const ITEMS_PER_BATCH: usize = 1000;

/// An Item Report's items, written one disc at a time (the rows come in disc order) to an
/// unlinked temporary file beside the upload staging: memory holds one batch of items, whatever
/// the report's size. None when no disc has a figure to show.
async fn spool_items(
    svc: &Service<'_>,
    customer: &Customer,
    req: &Request,
    from: Month,
    to: Month,
) -> Result<Option<(std::fs::File, u64)>, Exception> {
    use futures::TryStreamExt;
    let (first_day, last_day) = (from.first_day().to_string(), to.last_day().to_string());
    let dir = svc.config.local_staging_path();
    let file = std::fs::create_dir_all(&dir)
        .and_then(|()| tempfile::tempfile_in(&dir))
        .map_err(|e| spool_failed(&e))?;
    let mut out = Spool {
        file: std::io::BufWriter::with_capacity(256 * 1024, file),
        written: 0,
    };
    let mut batch: Vec<(i64, Groups)> = Vec::new();
    let mut current: Option<(i64, Groups)> = None;
    let mut rows = db::usage::monthly_by_disc(svc.db, customer.scope, &first_day, &last_day);
    while let Some(f) = rows.try_next().await? {
        if current.as_ref().is_some_and(|(id, _)| *id != f.disc_id) {
            batch.extend(current.take().and_then(shown_disc));
            if batch.len() >= ITEMS_PER_BATCH {
                out.items(svc, req, &mut batch).await?;
            }
        }
        if !keep(req, &f) {
            continue;
        }
        let groups = &mut current.get_or_insert_with(|| (f.disc_id, Groups::new())).1;
        let attrs = (
            f.data_type.clone(),
            shown(req, "YOP", &f.yop),
            shown(req, "Access_Type", &f.access_type),
        );
        let counts = groups.entry(attrs).or_default();
        for metric in &req.metrics {
            add(
                counts,
                metric,
                &month_shown(req, from, &f.day),
                metric_value(&f, metric),
            );
        }
    }
    drop(rows);
    batch.extend(current.take().and_then(shown_disc));
    out.items(svc, req, &mut batch).await?;
    if out.written == 0 {
        return Ok(None);
    }
    let mut file = out.file.into_inner().map_err(|e| spool_failed(&e))?;
    let len = std::io::Seek::stream_position(&mut file)
        .and_then(|len| std::io::Seek::rewind(&mut file).map(|()| len))
        .map_err(|e| spool_failed(&e))?;
    Ok(Some((file, len)))
}

/// A finished disc as an item: without its attribute groups that count nothing, and None when
/// none is left.
fn shown_disc((id, mut groups): (i64, Groups)) -> Option<(i64, Groups)> {
    groups.retain(|_, c| !c.is_empty());
    (!groups.is_empty()).then_some((id, groups))
}

/// The items file being written, and how many items it holds.
struct Spool {
    file: std::io::BufWriter<std::fs::File>,
    written: usize,
}

impl Spool {
    /// Writes `batch`'s discs as items (their names asked in one query), emptying it.
    async fn items(
        &mut self,
        svc: &Service<'_>,
        req: &Request,
        batch: &mut Vec<(i64, Groups)>,
    ) -> Result<(), Exception> {
        use std::io::Write;
        if batch.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
        let mut names: HashMap<i64, (String, Option<String>)> = db::usage::disc_names(svc.db, &ids)
            .await?
            .into_iter()
            .map(|(id, name, title)| (id, (name, title)))
            .collect();
        let base = svc.config.public_url();
        let access_method = req.show.contains(&"Access_Method").then_some("Regular");
        for (id, groups) in batch.drain(..) {
            let (name, title) = names.remove(&id).unwrap_or_default();
            let item = Item {
                item: match title {
                    Some(t) => format!("Disc accompanying: {t}"),
                    None => name,
                },
                publisher: "",
                platform: svc.config.stats.platform.clone(),
                item_id: ItemId {
                    proprietary: format!("{}:disc-{id}", svc.config.stats.platform_id),
                    uri: format!("{base}/api/v1/discs/{id}"),
                },
                performance: groups
                    .into_iter()
                    .map(
                        |((data_type, yop, access_type), performance)| AttributePerformance {
                            data_type,
                            yop,
                            access_type,
                            access_method,
                            performance,
                        },
                    )
                    .collect(),
            };
            if self.written > 0 {
                self.file.write_all(b",").map_err(|e| spool_failed(&e))?;
            }
            serde_json::to_writer(&mut self.file, &item).map_err(|e| spool_failed(&e))?;
            self.written += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(86_399_999), "1970-01-01T23:59:59Z");
    }
}

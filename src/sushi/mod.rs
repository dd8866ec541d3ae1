//! COUNTER_SUSHI R5.1: the four reports a Multimedia host owes (PR, PR_P1, IR, IR_M1),
//! built from the daily figures, with the API's filters, attributes and exceptions. Times
//! are UTC; a month is reported once every one of its days has been rolled up.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::app::App;
use crate::auth::{Staff, hash_token};
use crate::calendar::{Day, Month};
use crate::db::{self, usage::Fact};
use crate::error::{AppError, AppResult};
use crate::usage::count::CONSORTIUM;
use crate::usage::{DAY_MS, now_ms, rollup};

/// The global report's customer id (usage attributed to no institution): not offered.
const GLOBAL: &str = "0000000000000000";

/// A COUNTER exception: a non-200 answer's whole body, or an entry in a report's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub code: u16,
    pub data: Option<String>,
}

impl Exception {
    pub fn new(code: u16) -> Self {
        Self { code, data: None }
    }

    pub fn with(code: u16, data: impl Into<String>) -> Self {
        Self {
            code,
            data: Some(data.into()),
        }
    }

    /// The message COUNTER fixes for the code, and the HTTP status it travels with.
    pub fn message_and_status(&self) -> (&'static str, StatusCode) {
        match self.code {
            1000 => ("Service Not Available", StatusCode::SERVICE_UNAVAILABLE),
            1010 => ("Service Busy", StatusCode::SERVICE_UNAVAILABLE),
            1020 => (
                "Client has made too many requests",
                StatusCode::TOO_MANY_REQUESTS,
            ),
            1030 => (
                "Insufficient Information to Process Request",
                StatusCode::BAD_REQUEST,
            ),
            2000 => (
                "Requestor Not Authorized to Access Service",
                StatusCode::UNAUTHORIZED,
            ),
            2010 => (
                "Requestor is Not Authorized to Access Usage for Institution",
                StatusCode::FORBIDDEN,
            ),
            2011 => ("Global Reports Not Supported", StatusCode::FORBIDDEN),
            2020 => ("APIKey Invalid", StatusCode::UNAUTHORIZED),
            3020 => ("Invalid Date Arguments", StatusCode::BAD_REQUEST),
            3030 => ("No Usage Available for Requested Dates", StatusCode::OK),
            3031 => ("Usage Not Ready for Requested Dates", StatusCode::OK),
            3032 => (
                "Usage No Longer Available for Requested Dates",
                StatusCode::OK,
            ),
            3040 => ("Partial Data Returned", StatusCode::OK),
            3050 => ("Parameter Not Recognized in this Context", StatusCode::OK),
            3060 => ("Invalid ReportFilter Value", StatusCode::OK),
            3061 => ("Incongruous ReportFilter Value", StatusCode::OK),
            3062 => ("Invalid ReportAttribute Value", StatusCode::OK),
            3063 => ("Components Not Supported", StatusCode::OK),
            _ => ("Service Not Available", StatusCode::SERVICE_UNAVAILABLE),
        }
    }

    pub fn to_json(&self) -> Value {
        let (message, _) = self.message_and_status();
        let mut v = json!({"Code": self.code, "Message": message});
        if let Some(d) = &self.data {
            v["Data"] = json!(d);
        }
        v
    }
}

impl From<AppError> for Exception {
    fn from(e: AppError) -> Self {
        tracing::warn!(error = %e.message(), "SUSHI request failed");
        Exception::new(1000)
    }
}

impl From<db::DbError> for Exception {
    fn from(e: db::DbError) -> Self {
        Exception::from(AppError::from(e))
    }
}

/// Whose usage a request is for.
#[derive(Debug, Clone)]
pub struct Customer {
    pub customer_id: String,
    pub name: String,
    /// The figures' scope: a member id, or 0 for the consortium.
    pub scope: i64,
}

pub type Params = HashMap<String, String>;

/// `customer_id` + `api_key` (CoP §8.2; no IP authentication). A member's key opens its own
/// usage; the consortium's key opens the consortium's and every member's.
pub async fn authorize(app: &App, params: &Params) -> Result<Customer, Exception> {
    let customer_id = params
        .get("customer_id")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Exception::with(1030, "customer_id is required"))?;
    let holder = match params
        .get("api_key")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        Some(key) => db::usage::sushi_key(&app.db, &hash_token(key))
            .await?
            .ok_or_else(|| Exception::new(2020))?,
        None if params.contains_key("requestor_id") => {
            return Err(Exception::with(
                2000,
                "this platform authenticates with api_key",
            ));
        }
        None => return Err(Exception::with(2020, "api_key is required")),
    };
    if customer_id == GLOBAL {
        return Err(Exception::new(2011));
    }
    let stats = &app.config.stats;
    if customer_id == stats.consortium_customer_id {
        return match holder {
            None => Ok(Customer {
                customer_id: customer_id.to_string(),
                name: stats.consortium_name.clone(),
                scope: CONSORTIUM,
            }),
            Some(_) => Err(Exception::with(2010, customer_id.to_string())),
        };
    }
    let member = db::members::by_code(&app.db, customer_id)
        .await?
        .ok_or_else(|| Exception::with(2010, customer_id.to_string()))?;
    if holder.is_some_and(|m| m != member.id) {
        return Err(Exception::with(2010, customer_id.to_string()));
    }
    Ok(Customer {
        customer_id: member.code,
        name: member.name,
        scope: member.id,
    })
}

fn institution_id(app: &App, customer: &Customer) -> Value {
    json!({"Proprietary": [format!("{}:{}", app.config.stats.platform_id, customer.customer_id)]})
}

pub async fn status(app: &App) -> Value {
    let active = app.db.ping().await.is_ok();
    json!([{
        "Service_Active": active,
        "Description": format!("{}: COUNTER R5.1 usage of the consortium's disc images", app.config.stats.platform),
        "Registry_Record": "",
        "Note": "Days, months and sessions are in UTC. A month is reported once all of its days are processed (within a day of its end).",
    }])
}

pub async fn members(app: &App, params: &Params) -> Result<Value, Exception> {
    let customer = authorize(app, params).await?;
    let entry = |id: &str, name: &str| {
        json!({"Customer_ID": id, "Institution_Name": name,
               "Institution_ID": {"Proprietary": [format!("{}:{}", app.config.stats.platform_id, id)]}})
    };
    if customer.scope != CONSORTIUM {
        return Ok(json!([entry(&customer.customer_id, &customer.name)]));
    }
    let mut out = vec![entry(&customer.customer_id, &customer.name)];
    for m in db::members::list(&app.db).await? {
        out.push(entry(&m.code, &m.name));
    }
    Ok(Value::Array(out))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Pr,
    PrP1,
    Ir,
    IrM1,
}

impl Report {
    pub const ALL: [Report; 4] = [Report::Pr, Report::PrP1, Report::Ir, Report::IrM1];

    pub fn from_path(p: &str) -> Option<Self> {
        Some(match p {
            "pr" => Report::Pr,
            "pr_p1" => Report::PrP1,
            "ir" => Report::Ir,
            "ir_m1" => Report::IrM1,
            _ => return None,
        })
    }

    fn id(self) -> &'static str {
        match self {
            Report::Pr => "PR",
            Report::PrP1 => "PR_P1",
            Report::Ir => "IR",
            Report::IrM1 => "IR_M1",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Report::Pr => "Platform Report",
            Report::PrP1 => "Platform Usage",
            Report::Ir => "Item Report",
            Report::IrM1 => "Multimedia Item Requests",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Report::Pr => "Usage of the platform by Data_Type and Access_Method, with searches.",
            Report::PrP1 => "Standard View: requests and searches on the platform.",
            Report::Ir => "Usage of each disc, with its Data_Type, YOP, Access_Type and denials.",
            Report::IrM1 => {
                "Standard View: requests for each audiovisual, sound and multimedia disc."
            }
        }
    }

    fn metrics(self) -> &'static [&'static str] {
        match self {
            Report::Pr => &[
                "Searches_Platform",
                "Total_Item_Investigations",
                "Total_Item_Requests",
                "Unique_Item_Investigations",
                "Unique_Item_Requests",
                "Unique_Title_Investigations",
                "Unique_Title_Requests",
            ],
            Report::PrP1 => &[
                "Searches_Platform",
                "Total_Item_Requests",
                "Unique_Item_Requests",
                "Unique_Title_Requests",
            ],
            Report::Ir => &[
                "Total_Item_Investigations",
                "Total_Item_Requests",
                "Unique_Item_Investigations",
                "Unique_Item_Requests",
                "Limit_Exceeded",
                "No_License",
            ],
            Report::IrM1 => &["Total_Item_Requests", "Unique_Item_Requests"],
        }
    }

    fn standard_view(self) -> bool {
        matches!(self, Report::PrP1 | Report::IrM1)
    }
}

pub async fn list(app: &App, params: &Params) -> Result<Value, Exception> {
    authorize(app, params).await?;
    let (first, last) = available(app).await?;
    Ok(Value::Array(
        Report::ALL
            .iter()
            .map(|r| {
                json!({"Report_Name": r.name(), "Report_ID": r.id(), "Release": "5.1",
                       "Report_Description": r.description(),
                       "Path": format!("/r51/reports/{}", r.id().to_lowercase()),
                       "First_Month_Available": first, "Last_Month_Available": last})
            })
            .collect(),
    ))
}

/// (first, last) months that can be reported; before anything is processed, last month.
async fn available(app: &App) -> Result<(Month, Month), Exception> {
    Ok(match rollup::months_available(app).await? {
        Some(m) => m,
        None => {
            let prev = Month::current().prev();
            (prev, prev)
        }
    })
}

/// `yyyy-mm` or `yyyy-mm-dd` to its month.
fn parse_month(raw: &str) -> Option<Month> {
    Month::parse(raw.trim())
}

const COMMON: [&str; 6] = [
    "customer_id",
    "requestor_id",
    "api_key",
    "platform",
    "begin_date",
    "end_date",
];

fn split(v: &str) -> Vec<String> {
    v.split('|')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Picks the canonical spellings of `given` among `allowed` (case-insensitively); the rest
/// are returned as invalid.
fn canonical(given: &[String], allowed: &[&'static str]) -> (Vec<&'static str>, Vec<String>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for g in given {
        match allowed.iter().find(|a| a.eq_ignore_ascii_case(g)) {
            Some(a) if !ok.contains(a) => ok.push(*a),
            Some(_) => {}
            None => bad.push(g.clone()),
        }
    }
    (ok, bad)
}

const DATA_TYPES: [&str; 3] = ["Audiovisual", "Multimedia", "Sound"];
const ALL_DATA_TYPES_IR: [&str; 19] = [
    "Article",
    "Audiovisual",
    "Book_Segment",
    "Conference_Item",
    "Database_Full_Item",
    "Dataset",
    "Image",
    "Interactive_Resource",
    "Multimedia",
    "News_Item",
    "Other",
    "Patent",
    "Reference_Item",
    "Report",
    "Software",
    "Sound",
    "Standard",
    "Thesis_or_Dissertation",
    "Unspecified",
];
const IR_M1_TYPES: [&str; 5] = [
    "Audiovisual",
    "Image",
    "Interactive_Resource",
    "Multimedia",
    "Sound",
];

struct Request {
    report: Report,
    metrics: Vec<&'static str>,
    data_types: Option<Vec<&'static str>>,
    access_types: Option<Vec<&'static str>>,
    yops: Option<Vec<(u32, u32)>>,
    item: Option<i64>,
    show: Vec<&'static str>,
    total: bool,
    filters: Map<String, Value>,
    attributes: Map<String, Value>,
    exceptions: Vec<Exception>,
}

fn parse_request(report: Report, params: &Params, platform_id: &str) -> Request {
    let mut r = Request {
        report,
        metrics: report.metrics().to_vec(),
        data_types: None,
        access_types: None,
        yops: None,
        item: None,
        show: Vec::new(),
        total: false,
        filters: Map::new(),
        attributes: Map::new(),
        exceptions: Vec::new(),
    };
    let mut unknown: Vec<String> = Vec::new();
    let mut bad_filters: Vec<String> = Vec::new();
    let mut bad_attributes: Vec<String> = Vec::new();
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    for key in keys {
        let value = &params[key];
        let k = key.as_str();
        if COMMON.contains(&k) {
            continue;
        }
        let ir = report == Report::Ir;
        let pr = report == Report::Pr;
        match k {
            "metric_type" if pr || ir => {
                let (ok, bad) = canonical(&split(value), report.metrics());
                bad_filters.extend(bad.iter().map(|b| format!("metric_type={b}")));
                if !ok.is_empty() {
                    r.filters.insert("Metric_Type".into(), json!(ok));
                    r.metrics = ok;
                }
            }
            "data_type" if pr || ir => {
                let mut allowed: Vec<&'static str> = ALL_DATA_TYPES_IR.to_vec();
                if pr {
                    allowed.extend([
                        "Platform",
                        "Book",
                        "Conference",
                        "Journal",
                        "Newspaper_or_Newsletter",
                        "Reference_Work",
                    ]);
                }
                let (ok, bad) = canonical(&split(value), &allowed);
                bad_filters.extend(bad.iter().map(|b| format!("data_type={b}")));
                if !ok.is_empty() {
                    r.filters.insert("Data_Type".into(), json!(ok));
                    r.data_types = Some(ok);
                }
            }
            "access_method" if pr || ir => {
                let (ok, bad) = canonical(&split(value), &["Regular", "TDM"]);
                bad_filters.extend(bad.iter().map(|b| format!("access_method={b}")));
                if !ok.is_empty() && ok != ["Regular", "TDM"] && ok != ["TDM", "Regular"] {
                    r.filters.insert("Access_Method".into(), json!(ok));
                    if !ok.contains(&"Regular") {
                        // Spindle has no text and data mining usage.
                        r.metrics.clear();
                    }
                }
            }
            "access_type" if ir => {
                let (ok, bad) = canonical(&split(value), &["Controlled", "Open", "Free_To_Read"]);
                bad_filters.extend(bad.iter().map(|b| format!("access_type={b}")));
                if !ok.is_empty() {
                    r.filters.insert("Access_Type".into(), json!(ok));
                    r.access_types = Some(ok);
                }
            }
            "yop" if ir => {
                let mut ranges = Vec::new();
                let mut shown = Vec::new();
                for v in split(value) {
                    let parsed = match v.split_once('-') {
                        Some((a, b)) => a.parse::<u32>().ok().zip(b.parse::<u32>().ok()),
                        None => v.parse::<u32>().ok().map(|y| (y, y)),
                    };
                    match parsed {
                        Some((a, b)) if a <= b && b <= 9999 && (v.len() == 4 || v.len() == 9) => {
                            ranges.push((a, b));
                            shown.push(v);
                        }
                        _ => bad_filters.push(format!("yop={v}")),
                    }
                }
                if !ranges.is_empty() {
                    r.filters.insert("YOP".into(), json!(shown));
                    r.yops = Some(ranges);
                }
            }
            "item_id" if ir => {
                let prefix = format!("{platform_id}:disc-");
                match value
                    .trim()
                    .strip_prefix(&prefix)
                    .and_then(|n| n.parse().ok())
                {
                    Some(id) => {
                        r.filters.insert("Item_ID".into(), json!(value.trim()));
                        r.item = Some(id);
                    }
                    None => bad_filters.push(format!("item_id={value}")),
                }
            }
            "attributes_to_show" if pr || ir => {
                let allowed: &[&'static str] = if pr {
                    &["Access_Method"]
                } else {
                    &["YOP", "Access_Type", "Access_Method"]
                };
                let (ok, bad) = canonical(&split(value), allowed);
                bad_attributes.extend(bad.iter().map(|b| format!("attributes_to_show={b}")));
                if !ok.is_empty() {
                    r.attributes.insert("Attributes_To_Show".into(), json!(ok));
                    r.show = ok;
                }
            }
            "granularity" if pr || ir => match value.trim().to_ascii_lowercase().as_str() {
                "month" => {}
                "total" | "totals" => {
                    r.total = true;
                    r.attributes.insert("Granularity".into(), json!("Total"));
                }
                _ => bad_attributes.push(format!("granularity={value}")),
            },
            "include_parent_details" if ir => match value.trim().to_ascii_lowercase().as_str() {
                // Discs have no parents in COUNTER's sense (CoP Table 3.q).
                "false" | "true" => {}
                _ => bad_attributes.push(format!("include_parent_details={value}")),
            },
            "include_component_details" if ir => match value.trim().to_ascii_lowercase().as_str() {
                "false" => {}
                "true" => r.exceptions.push(Exception::new(3063)),
                _ => bad_attributes.push(format!("include_component_details={value}")),
            },
            _ => unknown.push(key.clone()),
        }
    }
    if report == Report::PrP1 {
        r.filters.insert("Access_Method".into(), json!(["Regular"]));
        r.filters
            .insert("Metric_Type".into(), json!(report.metrics()));
    }
    if report == Report::IrM1 {
        r.filters.insert("Access_Method".into(), json!(["Regular"]));
        r.filters.insert("Data_Type".into(), json!(IR_M1_TYPES));
        r.filters
            .insert("Metric_Type".into(), json!(report.metrics()));
        r.data_types = Some(IR_M1_TYPES.to_vec());
    }
    if !unknown.is_empty() {
        r.exceptions.push(Exception::with(3050, unknown.join(", ")));
    }
    if !bad_filters.is_empty() {
        r.exceptions
            .push(Exception::with(3060, bad_filters.join(", ")));
    }
    if !bad_attributes.is_empty() {
        r.exceptions
            .push(Exception::with(3062, bad_attributes.join(", ")));
    }
    r
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

type Counts = BTreeMap<String, BTreeMap<String, i64>>;

fn add(counts: &mut Counts, metric: &str, month: &str, n: i64) {
    if n > 0 {
        *counts
            .entry(metric.to_string())
            .or_default()
            .entry(month.to_string())
            .or_default() += n;
    }
}

fn performance(counts: Counts) -> Value {
    Value::Object(
        counts
            .into_iter()
            .map(|(metric, months)| (metric, json!(months)))
            .collect(),
    )
}

pub async fn report(app: &App, report: Report, params: &Params) -> Result<Value, Exception> {
    let customer = authorize(app, params).await?;
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
    if begin >= Month::current() {
        return Err(Exception::with(
            3020,
            "begin_date is in the current month or later",
        ));
    }
    let mut req = parse_request(report, params, &app.config.stats.platform_id);
    let (first, last) = available(app).await?;
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
    let items = if from <= to {
        build_items(app, &customer, &req, from, to).await?
    } else {
        Vec::new()
    };
    let covered_by_303x = from > to;
    if items.is_empty() && !covered_by_303x {
        req.exceptions.push(Exception::new(3030));
    }
    req.exceptions.sort_by_key(|e| e.code);
    let mut filters = Map::new();
    filters.insert("Begin_Date".into(), json!(begin.first_day()));
    filters.insert("End_Date".into(), json!(header_end));
    filters.extend(std::mem::take(&mut req.filters));
    let mut header = json!({
        "Release": "5.1",
        "Report_ID": report.id(),
        "Report_Name": report.name(),
        "Created": httpdate_rfc3339(now_ms()),
        "Created_By": app.config.stats.created_by,
        "Institution_Name": customer.name,
        "Institution_ID": institution_id(app, &customer),
        "Registry_Record": "",
        "Report_Filters": filters,
    });
    if !req.attributes.is_empty() && !report.standard_view() {
        header["Report_Attributes"] = Value::Object(std::mem::take(&mut req.attributes));
    }
    if !req.exceptions.is_empty() {
        header["Exceptions"] = json!(
            req.exceptions
                .iter()
                .map(Exception::to_json)
                .collect::<Vec<_>>()
        );
    }
    Ok(json!({"Report_Header": header, "Report_Items": items}))
}

/// RFC 3339 in UTC with a `Z`, to the second.
fn httpdate_rfc3339(ms: i64) -> String {
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

async fn build_items(
    app: &App,
    customer: &Customer,
    req: &Request,
    from: Month,
    to: Month,
) -> Result<Vec<Value>, Exception> {
    let facts = db::usage::monthly(
        &app.db,
        customer.scope,
        &from.first_day().to_string(),
        &to.last_day().to_string(),
    )
    .await?;
    let facts: Vec<Fact> = facts.into_iter().filter(|f| keep(req, f)).collect();
    let month = |m: &str| {
        if req.total {
            from.to_string()
        } else {
            m.to_string()
        }
    };
    let platform = &app.config.stats.platform;
    match req.report {
        Report::Pr | Report::PrP1 => {
            let mut by_type: BTreeMap<String, Counts> = BTreeMap::new();
            for f in &facts {
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
                for (m, n) in db::usage::monthly_searches(
                    &app.db,
                    customer.scope,
                    &from.first_day().to_string(),
                    &to.last_day().to_string(),
                )
                .await?
                {
                    add(counts, "Searches_Platform", &month(&m), n);
                }
            }
            let show_method = req.show.contains(&"Access_Method");
            let performances: Vec<Value> = by_type
                .into_iter()
                .filter(|(_, c)| !c.is_empty())
                .map(|(data_type, counts)| {
                    let mut ap = json!({"Data_Type": data_type});
                    if show_method {
                        ap["Access_Method"] = json!("Regular");
                    }
                    ap["Performance"] = performance(counts);
                    ap
                })
                .collect();
            Ok(if performances.is_empty() {
                Vec::new()
            } else {
                vec![json!({"Platform": platform, "Attribute_Performance": performances})]
            })
        }
        Report::Ir | Report::IrM1 => {
            let mut by_item: BTreeMap<i64, BTreeMap<(String, String, String), Counts>> =
                BTreeMap::new();
            for f in &facts {
                let attrs = (
                    f.data_type.clone(),
                    if req.show.contains(&"YOP") {
                        f.yop.clone()
                    } else {
                        String::new()
                    },
                    if req.show.contains(&"Access_Type") {
                        f.access_type.clone()
                    } else {
                        String::new()
                    },
                );
                let counts = by_item
                    .entry(f.disc_id)
                    .or_default()
                    .entry(attrs)
                    .or_default();
                for metric in &req.metrics {
                    add(counts, metric, &month(&f.day), metric_value(f, metric));
                }
            }
            by_item.retain(|_, groups| {
                groups.retain(|_, c| !c.is_empty());
                !groups.is_empty()
            });
            let ids: Vec<i64> = by_item.keys().copied().collect();
            let names: HashMap<i64, (String, Option<String>)> =
                db::usage::disc_names(&app.db, &ids)
                    .await?
                    .into_iter()
                    .map(|(id, name, title)| (id, (name, title)))
                    .collect();
            let base = app.config.public_url();
            let items: Vec<Value> = by_item
                .into_iter()
                .map(|(id, groups)| {
                    let (name, title) = names.get(&id).cloned().unwrap_or_default();
                    let item_name = match title {
                        Some(t) => format!("Disc accompanying: {t}"),
                        None => name,
                    };
                    let performances: Vec<Value> = groups
                        .into_iter()
                        .map(|((data_type, yop, access_type), counts)| {
                            let mut ap = json!({"Data_Type": data_type});
                            if !yop.is_empty() {
                                ap["YOP"] = json!(yop);
                            }
                            if !access_type.is_empty() {
                                ap["Access_Type"] = json!(access_type);
                            }
                            if req.show.contains(&"Access_Method") {
                                ap["Access_Method"] = json!("Regular");
                            }
                            ap["Performance"] = performance(counts);
                            ap
                        })
                        .collect();
                    json!({
                        "Item": item_name,
                        "Publisher": "",
                        "Platform": platform,
                        "Item_ID": {
                            "Proprietary": format!("{}:disc-{id}", app.config.stats.platform_id),
                            "URI": format!("{base}/api/v1/discs/{id}"),
                        },
                        "Attribute_Performance": performances,
                    })
                })
                .collect();
            Ok(if items.is_empty() {
                Vec::new()
            } else {
                vec![json!({"Items": items})]
            })
        }
    }
}

/// A new SUSHI API key for a member's usage (a librarian's own, or any for an admin) or, with
/// no member, the consortium's (admins only). Answers the key (shown once; only its hash is
/// kept) and the member it opens.
pub async fn create_key(
    app: &App,
    staff: &Staff,
    member: Option<&str>,
) -> AppResult<(String, Option<String>)> {
    let code = member.or(staff.member_code.as_deref());
    let member_id = match code {
        Some(code) => {
            let m = crate::members::get(app, code).await?;
            if !staff.may_act_for(m.id) {
                return Err(AppError::forbidden("another member's usage"));
            }
            Some(m.id)
        }
        None if staff.role == crate::auth::Role::Admin => None,
        None => return Err(AppError::forbidden("the consortium's key is for admins")),
    };
    let (key, hash) = crate::auth::generate_token();
    db::usage::insert_sushi_key(&app.db, member_id, &hash).await?;
    Ok((key, code.map(str::to_string)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        let month = |m: &str| parse_month(m).map(|m| m.to_string());
        assert_eq!(month("2025-01"), Some("2025-01".into()));
        assert_eq!(month(" 2025-02-17"), Some("2025-02".into()));
        assert_eq!(month("2025-02-30"), None);
        assert_eq!(month("2025-1"), None);
        assert_eq!(httpdate_rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn filters_are_case_insensitive_and_echoed_canonically() {
        let mut p = Params::new();
        p.insert("attributes_to_show".into(), "yop|access_type|Bogus".into());
        p.insert("metric_type".into(), "total_item_requests|Nope".into());
        p.insert("foo".into(), "bar".into());
        let r = parse_request(Report::Ir, &p, "spindle");
        assert_eq!(r.show, vec!["YOP", "Access_Type"]);
        assert_eq!(r.metrics, vec!["Total_Item_Requests"]);
        let codes: Vec<u16> = r.exceptions.iter().map(|e| e.code).collect();
        assert_eq!(codes, vec![3050, 3060, 3062]);
        // Standard Views take no filters at all.
        let r = parse_request(Report::IrM1, &p, "spindle");
        assert_eq!(r.exceptions[0].code, 3050);
        assert_eq!(
            r.exceptions[0].data.as_deref(),
            Some("attributes_to_show, foo, metric_type")
        );
    }
}

//! A report request's parameters (CoP §8.3): filters and attributes read case-insensitively
//! and echoed in their canonical spelling, everything not understood turned into the
//! exceptions COUNTER names for it (3050, 3060, 3062, 3063) rather than a refusal.

use std::collections::HashMap;

use serde::Serialize;

use super::{Exception, Report};
use crate::calendar::Month;

/// Query parameters, names lower-cased.
pub type Params = HashMap<String, String>;

/// Parameters every path takes; never reported as unrecognised.
const COMMON: [&str; 6] = [
    "customer_id",
    "requestor_id",
    "api_key",
    "platform",
    "begin_date",
    "end_date",
];

/// The Data_Types Spindle's usage can have: discs are audiovisual, sound or multimedia.
pub(super) const DATA_TYPES: [&str; 3] = ["Audiovisual", "Multimedia", "Sound"];
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
const PR_ONLY_DATA_TYPES: [&str; 6] = [
    "Platform",
    "Book",
    "Conference",
    "Journal",
    "Newspaper_or_Newsletter",
    "Reference_Work",
];
const IR_M1_TYPES: [&str; 5] = [
    "Audiovisual",
    "Image",
    "Interactive_Resource",
    "Multimedia",
    "Sound",
];

/// The filters a report applied, as its header's `Report_Filters` echoes them (after the
/// dates, which the report adds).
#[derive(Debug, Default, Serialize)]
pub struct Filters {
    #[serde(rename = "Metric_Type", skip_serializing_if = "Option::is_none")]
    pub metric_type: Option<Vec<&'static str>>,
    #[serde(rename = "Data_Type", skip_serializing_if = "Option::is_none")]
    pub data_type: Option<Vec<&'static str>>,
    #[serde(rename = "Access_Method", skip_serializing_if = "Option::is_none")]
    pub access_method: Option<Vec<&'static str>>,
    #[serde(rename = "Access_Type", skip_serializing_if = "Option::is_none")]
    pub access_type: Option<Vec<&'static str>>,
    #[serde(rename = "YOP", skip_serializing_if = "Option::is_none")]
    pub yop: Option<Vec<String>>,
    #[serde(rename = "Item_ID", skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
}

/// The attributes a report applied (`Report_Attributes`; never on a Standard View).
#[derive(Debug, Default, Serialize)]
pub struct Attributes {
    #[serde(rename = "Attributes_To_Show", skip_serializing_if = "Option::is_none")]
    pub attributes_to_show: Option<Vec<&'static str>>,
    #[serde(rename = "Granularity", skip_serializing_if = "Option::is_none")]
    pub granularity: Option<&'static str>,
}

impl Attributes {
    pub fn is_empty(&self) -> bool {
        self.attributes_to_show.is_none() && self.granularity.is_none()
    }
}

/// What a report request asks for, once read.
#[derive(Debug)]
pub struct Request {
    pub metrics: Vec<&'static str>,
    pub data_types: Option<Vec<&'static str>>,
    pub access_types: Option<Vec<&'static str>>,
    pub yops: Option<Vec<(u32, u32)>>,
    pub item: Option<i64>,
    pub show: Vec<&'static str>,
    /// `granularity=totals`: one column for the whole span instead of one per month.
    pub total: bool,
    pub filters: Filters,
    pub attributes: Attributes,
    pub exceptions: Vec<Exception>,
}

/// `yyyy-mm` or `yyyy-mm-dd` to its month.
pub fn parse_month(raw: &str) -> Option<Month> {
    Month::parse(raw.trim())
}

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

/// A year of publication filter: `yyyy` or `yyyy-yyyy`, several joined by `|`.
fn year_range(v: &str) -> Option<(u32, u32)> {
    let (a, b) = match v.split_once('-') {
        Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
        None => {
            let y = v.parse::<u32>().ok()?;
            (y, y)
        }
    };
    (a <= b && b <= 9999 && (v.len() == 4 || v.len() == 9)).then_some((a, b))
}

/// A true/false attribute COUNTER allows; `Err` when the value is neither.
fn flag(value: &str) -> Result<bool, ()> {
    match value.trim().to_ascii_lowercase().as_str() {
        "false" => Ok(false),
        "true" => Ok(true),
        _ => Err(()),
    }
}

pub fn parse_request(report: Report, params: &Params, platform_id: &str) -> Request {
    let mut r = Request {
        metrics: report.metrics().to_vec(),
        data_types: None,
        access_types: None,
        yops: None,
        item: None,
        show: Vec::new(),
        total: false,
        filters: Filters::default(),
        attributes: Attributes::default(),
        exceptions: Vec::new(),
    };
    let mut unknown: Vec<String> = Vec::new();
    let mut bad_filters: Vec<String> = Vec::new();
    let mut bad_attributes: Vec<String> = Vec::new();
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    let ir = report == Report::Ir;
    let pr = report == Report::Pr;
    for key in keys {
        let value = &params[key];
        let k = key.as_str();
        if COMMON.contains(&k) {
            continue;
        }
        let checked = |name: &str, allowed: &[&'static str], bad: &mut Vec<String>| {
            let (ok, wrong) = canonical(&split(value), allowed);
            bad.extend(wrong.iter().map(|b| format!("{name}={b}")));
            (!ok.is_empty()).then_some(ok)
        };
        match k {
            "metric_type" if pr || ir => {
                if let Some(ok) = checked(k, report.metrics(), &mut bad_filters) {
                    r.filters.metric_type = Some(ok.clone());
                    r.metrics = ok;
                }
            }
            "data_type" if pr || ir => {
                let mut allowed: Vec<&'static str> = ALL_DATA_TYPES_IR.to_vec();
                if pr {
                    allowed.extend(PR_ONLY_DATA_TYPES);
                }
                if let Some(ok) = checked(k, &allowed, &mut bad_filters) {
                    r.filters.data_type = Some(ok.clone());
                    r.data_types = Some(ok);
                }
            }
            "access_method" if pr || ir => {
                if let Some(ok) = checked(k, &["Regular", "TDM"], &mut bad_filters)
                    && ok.len() == 1
                {
                    if ok != ["Regular"] {
                        // Spindle has no text and data mining usage.
                        r.metrics.clear();
                    }
                    r.filters.access_method = Some(ok);
                }
            }
            "access_type" if ir => {
                let allowed = ["Controlled", "Open", "Free_To_Read"];
                if let Some(ok) = checked(k, &allowed, &mut bad_filters) {
                    r.filters.access_type = Some(ok.clone());
                    r.access_types = Some(ok);
                }
            }
            "yop" if ir => {
                let mut ranges = Vec::new();
                let mut shown = Vec::new();
                for v in split(value) {
                    match year_range(&v) {
                        Some(range) => {
                            ranges.push(range);
                            shown.push(v);
                        }
                        None => bad_filters.push(format!("yop={v}")),
                    }
                }
                if !ranges.is_empty() {
                    r.filters.yop = Some(shown);
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
                        r.filters.item_id = Some(value.trim().to_string());
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
                if let Some(ok) = checked(k, allowed, &mut bad_attributes) {
                    r.attributes.attributes_to_show = Some(ok.clone());
                    r.show = ok;
                }
            }
            "granularity" if pr || ir => match value.trim().to_ascii_lowercase().as_str() {
                "month" => {}
                "total" | "totals" => {
                    r.total = true;
                    r.attributes.granularity = Some("Total");
                }
                _ => bad_attributes.push(format!("granularity={value}")),
            },
            // Discs have no parents in COUNTER's sense (CoP Table 3.q).
            "include_parent_details" if ir => {
                if flag(value).is_err() {
                    bad_attributes.push(format!("include_parent_details={value}"));
                }
            }
            "include_component_details" if ir => match flag(value) {
                Ok(false) => {}
                Ok(true) => r.exceptions.push(Exception::new(3063)),
                Err(()) => bad_attributes.push(format!("include_component_details={value}")),
            },
            _ => unknown.push(key.clone()),
        }
    }
    // Standard Views are fixed filters of their master report, echoed as such.
    if report.standard_view() {
        r.filters.access_method = Some(vec!["Regular"]);
        r.filters.metric_type = Some(report.metrics().to_vec());
    }
    if report == Report::IrM1 {
        r.filters.data_type = Some(IR_M1_TYPES.to_vec());
        r.data_types = Some(IR_M1_TYPES.to_vec());
    }
    for (code, list) in [(3050, unknown), (3060, bad_filters), (3062, bad_attributes)] {
        if !list.is_empty() {
            r.exceptions.push(Exception::with(code, list.join(", ")));
        }
    }
    r
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
    }

    #[test]
    fn years_of_publication() {
        assert_eq!(year_range("2001"), Some((2001, 2001)));
        assert_eq!(year_range("1999-2003"), Some((1999, 2003)));
        assert_eq!(year_range("2003-1999"), None);
        assert_eq!(year_range("99"), None);
        assert_eq!(year_range("1999-20030"), None);
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
        assert_eq!(
            r.filters.metric_type.as_deref(),
            Some(&["Total_Item_Requests"][..])
        );
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

    #[test]
    fn access_methods() {
        let mut p = Params::new();
        p.insert("access_method".into(), "tdm".into());
        let r = parse_request(Report::Pr, &p, "spindle");
        assert!(r.metrics.is_empty(), "no TDM usage");
        assert_eq!(r.filters.access_method.as_deref(), Some(&["TDM"][..]));
        // Both methods is no filter at all.
        p.insert("access_method".into(), "TDM|regular".into());
        let r = parse_request(Report::Pr, &p, "spindle");
        assert!(!r.metrics.is_empty());
        assert!(r.filters.access_method.is_none());
    }
}

//! COUNTER_SUSHI R5.1: the four reports a Multimedia host owes (PR, PR_P1, IR, IR_M1),
//! built from the daily figures, with the API's filters, attributes and exceptions. Times
//! are UTC; a month is reported once every one of its days has been rolled up.
//!
//! `auth` finds whose usage a request is for, `request` reads a report's parameters,
//! `report` builds it; the answers are serde types in COUNTER's own member names.

mod auth;
mod exception;
mod report;
mod request;

use serde::Serialize;

use auth::authorize;
pub use auth::create_key;
pub use exception::Exception;
pub use report::{Answer, Document, Spooled, report};
pub use request::Params;

use crate::calendar::Month;
use crate::db;
use crate::usage::count::CONSORTIUM;
use crate::usage::rollup;

/// What the SUSHI service reads: the statistics in the database and the server's settings
/// (the statistics section and the public address).
pub struct Service<'a> {
    pub db: &'a crate::db::Db,
    pub config: &'a crate::config::Config,
}

/// `{"Proprietary": ["platform:customer"]}`.
#[derive(Debug, Serialize)]
pub struct InstitutionId {
    #[serde(rename = "Proprietary")]
    pub proprietary: [String; 1],
}

impl InstitutionId {
    fn of(svc: &Service<'_>, customer_id: &str) -> Self {
        Self {
            proprietary: [format!("{}:{customer_id}", svc.config.stats.platform_id)],
        }
    }
}

/// The answer to `/status`.
#[derive(Debug, Serialize)]
pub struct Status {
    #[serde(rename = "Service_Active")]
    pub active: bool,
    #[serde(rename = "Description")]
    pub description: String,
    /// The platform's COUNTER Registry record; without one the element is omitted, as the
    /// API requires (a platform must not send an empty one).
    #[serde(rename = "Registry_Record", skip_serializing_if = "Option::is_none")]
    pub registry_record: Option<&'static str>,
    #[serde(rename = "Note")]
    pub note: &'static str,
}

/// One institution of the answer to `/members`.
#[derive(Debug, Serialize)]
pub struct Institution {
    #[serde(rename = "Customer_ID")]
    pub customer_id: String,
    #[serde(rename = "Institution_Name")]
    pub name: String,
    #[serde(rename = "Institution_ID")]
    pub institution_id: InstitutionId,
}

/// One report of the answer to `/reports`.
#[derive(Debug, Serialize)]
pub struct Listed {
    #[serde(rename = "Report_Name")]
    pub name: &'static str,
    #[serde(rename = "Report_ID")]
    pub id: &'static str,
    #[serde(rename = "Release")]
    pub release: &'static str,
    #[serde(rename = "Report_Description")]
    pub description: &'static str,
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "First_Month_Available")]
    pub first: Month,
    #[serde(rename = "Last_Month_Available")]
    pub last: Month,
}

pub async fn status(svc: &Service<'_>) -> Vec<Status> {
    vec![Status {
        active: svc.db.ping().await.is_ok(),
        description: format!(
            "{}: COUNTER R5.1 usage of the consortium's disc images",
            svc.config.stats.platform
        ),
        registry_record: None,
        note: "Days, months and sessions are in UTC. A month is reported once all of its days are processed (within a day of its end).",
    }]
}

pub async fn members(svc: &Service<'_>, params: &Params) -> Result<Vec<Institution>, Exception> {
    let customer = authorize(svc, params).await?;
    let entry = |id: &str, name: &str| Institution {
        customer_id: id.to_string(),
        name: name.to_string(),
        institution_id: InstitutionId::of(svc, id),
    };
    let mut out = vec![entry(&customer.customer_id, &customer.name)];
    if customer.scope == CONSORTIUM {
        for m in db::members::list(svc.db).await? {
            out.push(entry(&m.code, &m.name));
        }
    }
    Ok(out)
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

pub async fn list(svc: &Service<'_>, params: &Params) -> Result<Vec<Listed>, Exception> {
    authorize(svc, params).await?;
    let (first, last) = available(svc).await?;
    Ok(Report::ALL
        .iter()
        .map(|r| Listed {
            name: r.name(),
            id: r.id(),
            release: "5.1",
            description: r.description(),
            path: format!("/r51/reports/{}", r.id().to_lowercase()),
            first,
            last,
        })
        .collect())
}

/// (first, last) months that can be reported; before anything is processed, last month.
async fn available(svc: &Service<'_>) -> Result<(Month, Month), Exception> {
    Ok(match rollup::months_available(svc.db).await? {
        Some(m) => m,
        None => {
            let prev = svc.config.stats.time_zone.month().prev();
            (prev, prev)
        }
    })
}

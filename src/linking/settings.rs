//! A member's catalogue settings (checked before they are saved) and the catalogue client
//! (SRU or Z39.50) each member's linking shares.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use spindle_integrations::egress::Egress;
use spindle_integrations::lookup::{Catalogue, LookupError};
use spindle_integrations::oai::{OaiClient, OaiConfig};
use spindle_integrations::sru::{SruClient, SruConfig, SruError};
use spindle_integrations::z3950::{Z3950Client, Z3950Config, Z3950Error};

use super::Linking;
use crate::auth::Staff;
use crate::db::{self};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};

/// A member's catalogue as configured through the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueSettings {
    /// `sru` (Koha/Zebra, Evergreen, FOLIO mod-z3950, Alma and any YAZ-based server) or
    /// `z3950` (汇文 Libsys, 图创 Interlib, ILAS, 金盘 GDLIS, Aleph: most Chinese systems).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sru: Option<SruConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z3950: Option<Z3950Config>,
    /// The member's OPAC record page, with `{id}` for the record id, e.g.
    /// `https://opac.example.edu/cgi-bin/koha/opac-detail.pl?biblionumber={id}`.
    pub opac_record_url: Option<String>,
    /// An OAI-PMH provider for the same records (Koha's oai.pl, FOLIO edge-oai-pmh): the
    /// re-sync then harvests changes incrementally instead of asking for each record.
    #[serde(default)]
    pub oai: Option<OaiConfig>,
}

/// One catalogue client per member (so its concurrency limit and its Z39.50 connections are
/// per catalogue), rebuilt when the stored settings change.
#[derive(Default)]
pub struct Clients(Mutex<HashMap<i64, (String, String, Catalogue)>>);

/// A client for stored settings of `kind`.
fn client_for(kind: &str, stored: &str, egress: &Egress) -> Result<Catalogue, LookupError> {
    Ok(match kind {
        "z3950" => {
            let c: Z3950Config =
                serde_json::from_str(stored).map_err(|e| Z3950Error::Config(e.to_string()))?;
            Catalogue::Z3950(Z3950Client::new(c, egress)?)
        }
        _ => {
            let c: SruConfig =
                serde_json::from_str(stored).map_err(|e| SruError::Config(e.to_string()))?;
            Catalogue::Sru(SruClient::new(c, egress)?)
        }
    })
}

impl Clients {
    pub(super) fn get(
        &self,
        member_id: i64,
        kind: &str,
        stored: &str,
        egress: &Egress,
    ) -> Result<Catalogue, LookupError> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, s, c)) = map.get(&member_id)
            && k == kind
            && s == stored
        {
            return Ok(c.clone());
        }
        let client = client_for(kind, stored, egress)?;
        map.insert(
            member_id,
            (kind.to_string(), stored.to_string(), client.clone()),
        );
        Ok(client)
    }
}

fn invalid(e: impl std::fmt::Display) -> AppError {
    AppError::unprocessable(
        ErrorCode::InvalidCatalogue,
        detail!("err_catalogue", reason = e),
    )
}

fn check_template(t: &str) -> AppResult<()> {
    if !(t.starts_with("http://") || t.starts_with("https://")) || !t.contains("{id}") {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidCatalogue,
            detail!("err_opac_url"),
        ));
    }
    Ok(())
}

pub async fn put_catalogue(
    linking: &Linking,
    staff: &Staff,
    code: &str,
    settings: CatalogueSettings,
) -> AppResult<u64> {
    let member = member_for(linking, staff, code).await?;
    let mut settings = settings;
    // A Z39.50 password is never answered back, so a PUT without one (the settings page
    // after a GET) keeps the stored one for the same host and user.
    if let Some(z) = settings.z3950.as_mut()
        && z.password.is_none()
        && let Some(row) = db::catalogue::get(&linking.db, member.id).await?
        && row.kind == "z3950"
        && let Ok(old) = serde_json::from_str::<Z3950Config>(&row.settings)
        && old.host == z.host
        && old.user == z.user
    {
        z.password = old.password;
    }
    let json = match (settings.kind.as_str(), &settings.sru, &settings.z3950) {
        ("sru", Some(c), None) => {
            SruClient::new(c.clone(), &linking.egress).map_err(invalid)?;
            serde_json::to_string(c)
        }
        ("z3950", None, Some(c)) => {
            Z3950Client::new(c.clone(), &linking.egress).map_err(invalid)?;
            serde_json::to_string(c)
        }
        ("sru" | "z3950", _, _) => {
            return Err(AppError::unprocessable(
                ErrorCode::InvalidCatalogue,
                detail!("err_catalogue_block", kind = &settings.kind),
            ));
        }
        _ => {
            return Err(AppError::unprocessable(
                ErrorCode::InvalidCatalogue,
                detail!("err_catalogue_kind", kind = &settings.kind),
            ));
        }
    }
    .map_err(|e| AppError::internal("catalogue json", &e))?;
    if let Some(t) = &settings.opac_record_url {
        check_template(t)?;
    }
    let oai = match &settings.oai {
        Some(o) => {
            OaiClient::new(o.clone(), &linking.egress).map_err(|e| {
                AppError::unprocessable(
                    ErrorCode::InvalidCatalogue,
                    detail!("err_catalogue", reason = e),
                )
            })?;
            Some(serde_json::to_string(o).map_err(|e| AppError::internal("catalogue json", &e))?)
        }
        None => None,
    };
    let queued = db::catalogue::put(
        &linking.db,
        member.id,
        &settings.kind,
        &json,
        settings.opac_record_url.as_deref(),
        oai.as_deref(),
    )
    .await?;
    linking.wake();
    Ok(queued)
}

/// The member's stored catalogue row, for staff who may see it (404 when none is saved).
async fn stored_row(
    linking: &Linking,
    staff: &Staff,
    code: &str,
) -> AppResult<db::catalogue::CatalogueRow> {
    let member = member_for(linking, staff, code).await?;
    db::catalogue::get(&linking.db, member.id)
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::CatalogueNotFound,
                detail!("err_no_catalogue", member = code),
            )
        })
}

/// Checks the member's stored catalogue settings against the catalogue itself (see
/// [`Catalogue::probe`]): what answers, which indexes or attributes work, the record syntax.
pub async fn check_catalogue(
    linking: &Linking,
    staff: &Staff,
    code: &str,
) -> AppResult<spindle_integrations::lookup::ProbeReport> {
    let row = stored_row(linking, staff, code).await?;
    let client = client_for(&row.kind, &row.settings, &linking.egress).map_err(invalid)?;
    Ok(client.probe().await)
}

pub async fn get_catalogue(
    linking: &Linking,
    staff: &Staff,
    code: &str,
) -> AppResult<CatalogueSettings> {
    let row = stored_row(linking, staff, code).await?;
    let stored = |e: serde_json::Error| AppError::internal("stored catalogue", &e);
    let (sru, z3950) = match row.kind.as_str() {
        "z3950" => {
            let mut c: Z3950Config = serde_json::from_str(&row.settings).map_err(stored)?;
            c.password = None; // never answered back
            (None, Some(c))
        }
        _ => (
            Some(serde_json::from_str(&row.settings).map_err(stored)?),
            None,
        ),
    };
    Ok(CatalogueSettings {
        kind: row.kind,
        sru,
        z3950,
        opac_record_url: row.opac_record_url,
        oai: match row.oai_settings {
            Some(o) => Some(
                serde_json::from_str(&o).map_err(|e| AppError::internal("stored catalogue", &e))?,
            ),
            None => None,
        },
    })
}

pub(super) async fn member_for(
    linking: &Linking,
    staff: &Staff,
    code: &str,
) -> AppResult<db::members::Member> {
    let member = db::members::by_code(&linking.db, code)
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::MemberNotFound,
                detail!("err_no_member", code = code),
            )
        })?;
    if !staff.may_act_for(member.id) {
        return Err(AppError::forbidden(detail!("err_manage_own")));
    }
    Ok(member)
}

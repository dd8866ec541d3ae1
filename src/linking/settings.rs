//! A member's catalogue settings (checked before they are saved) and the SRU client each
//! member's linking shares.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use spindle_integrations::egress::Egress;
use spindle_integrations::oai::{OaiClient, OaiConfig};
use spindle_integrations::sru::{SruClient, SruConfig, SruError};

use super::Linking;
use crate::auth::Staff;
use crate::db::{self};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};

/// A member's catalogue as configured through the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueSettings {
    /// `sru` (Koha/Zebra, Evergreen, FOLIO mod-z3950, Alma and any YAZ-based server).
    pub kind: String,
    pub sru: SruConfig,
    /// The member's OPAC record page, with `{id}` for the record id, e.g.
    /// `https://opac.example.edu/cgi-bin/koha/opac-detail.pl?biblionumber={id}`.
    pub opac_record_url: Option<String>,
    /// An OAI-PMH provider for the same records (Koha's oai.pl, FOLIO edge-oai-pmh): the
    /// re-sync then harvests changes incrementally instead of asking for each record.
    #[serde(default)]
    pub oai: Option<OaiConfig>,
}

/// One SRU client per member (so its concurrency limit is per catalogue), rebuilt when the
/// stored settings change.
#[derive(Default)]
pub struct Clients(Mutex<HashMap<i64, (String, SruClient)>>);

impl Clients {
    pub(super) fn get(
        &self,
        member_id: i64,
        stored: &str,
        egress: &Egress,
    ) -> Result<SruClient, SruError> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, c)) = map.get(&member_id)
            && s == stored
        {
            return Ok(c.clone());
        }
        let settings: SruConfig =
            serde_json::from_str(stored).map_err(|e| SruError::Config(e.to_string()))?;
        let client = SruClient::new(settings, egress)?;
        map.insert(member_id, (stored.to_string(), client.clone()));
        Ok(client)
    }
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
    if settings.kind != "sru" {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidCatalogue,
            detail!("err_catalogue_kind", kind = &settings.kind),
        ));
    }
    SruClient::new(settings.sru.clone(), &linking.egress).map_err(|e| {
        AppError::unprocessable(
            ErrorCode::InvalidCatalogue,
            detail!("err_catalogue", reason = e),
        )
    })?;
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
    let json = serde_json::to_string(&settings.sru)
        .map_err(|e| AppError::internal("catalogue json", &e))?;
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

pub async fn get_catalogue(
    linking: &Linking,
    staff: &Staff,
    code: &str,
) -> AppResult<CatalogueSettings> {
    let member = member_for(linking, staff, code).await?;
    let row = db::catalogue::get(&linking.db, member.id)
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::CatalogueNotFound,
                detail!("err_no_catalogue", member = code),
            )
        })?;
    Ok(CatalogueSettings {
        kind: row.kind,
        sru: serde_json::from_str(&row.settings)
            .map_err(|e| AppError::internal("stored catalogue", &e))?,
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

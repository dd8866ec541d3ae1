//! Librarian pages (signed in with the staff session cookie; every form carries the
//! session's form token): a member's discs with their uploads, reading and linking status;
//! the member's settings (catalogue connector, OPAC template, network ranges); and the MARC
//! export with 856 links.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::staff::one_member;
use crate::app::AppState;
use crate::auth::Role;
use crate::dashboard::bytes_text;
use crate::discs::StaffFilter;
use crate::http::web::{self, Lang, StaffPage, render};
use crate::linking::{self, CatalogueSettings};
use crate::members::Member;
use crate::opac::Format;
use crate::state::ImageStatus;

/// Discs per page of the list.
const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/discs", get(discs))
        .route("/staff/settings", get(settings))
        .route("/staff/settings/catalogue", post(save_catalogue))
        .route("/staff/settings/networks", post(save_networks))
        .route("/staff/settings/off-campus", post(save_off_campus))
        .route("/staff/settings/sign-on", post(save_sign_on))
        .route("/staff/export", get(export_page))
        .route("/staff/export/{file}", get(export_file))
}

/// What every librarian page shows on top: whose page it is, the picker for admins, the
/// language switch back to the same page.
async fn frame(
    state: &AppState,
    page: &StaffPage,
    member: &Member,
    path: &str,
) -> Result<Value, Response> {
    let members = if page.staff.role == Role::Admin {
        crate::members::list(&state.db)
            .await
            .map_err(IntoResponse::into_response)?
    } else {
        Vec::new()
    };
    let other = if page.lang == Lang::Zh { "en" } else { "zh" };
    Ok(json!({
        "csrf": page.csrf,
        "member": member.code,
        "member_name": member.name,
        "members": members,
        "admin": page.staff.role == Role::Admin,
        "picker_action": crate::site::here(path),
        "lang_url": crate::site::here(format!("{path}?member={}&lang={other}", crate::opac::enc(&member.code))),
    }))
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

#[derive(Deserialize)]
struct DiscsQuery {
    member: Option<String>,
    show: Option<String>,
    page: Option<i64>,
}

fn word(words: &Value, key: &str) -> String {
    words[key].as_str().unwrap_or(key).to_string()
}

async fn discs(
    State(state): State<AppState>,
    page: StaffPage,
    Query(q): Query<DiscsQuery>,
) -> Response {
    let member = match one_member(&state, &page, q.member.as_deref()).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let (filter, show) = match q.show.as_deref() {
        Some("attention") => (StaffFilter::Attention, "attention"),
        Some("waiting") => (StaffFilter::Waiting, "waiting"),
        _ => (StaffFilter::All, "all"),
    };
    let page_no = q.page.unwrap_or(1).clamp(1, 1_000_000);
    let overview =
        crate::discs::staff_overview(&state.db, member.id, filter, (page_no - 1) * PAGE, PAGE)
            .await;
    let crate::discs::StaffOverview {
        discs: rows,
        total,
        counts,
        uploads,
    } = match overview {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let words = page.lang.words();
    let mut summary = std::collections::BTreeMap::<String, i64>::new();
    for (link, image, n) in &counts {
        *summary.entry(format!("link_{link}")).or_default() += n;
        let image = image.map_or("none", ImageStatus::as_str);
        *summary.entry(format!("image_{image}")).or_default() += n;
        *summary.entry("total".into()).or_default() += n;
    }
    let zone = &state.config.stats.time_zone;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|d| {
            let attention =
                d.link_status.wants_attention() || d.image_status == Some(ImageStatus::Failed);
            let image = d.image_status.map_or("none", ImageStatus::as_str);
            json!({
                "id": d.id,
                "title": d.title.clone().or(d.label.clone()).unwrap_or_else(|| d.filename.clone()),
                "filename": d.filename,
                "isbn": d.isbn,
                "barcode": d.barcode,
                "disc_number": d.disc_number,
                "size": bytes_text(d.size),
                "registered": zone.when(d.created_at),
                "format": d.formats,
                "files": d.file_count,
                "image_status": word(&words, &format!("image_{image}")),
                "image_error": d.image_error,
                "link_status": word(&words, &format!("link_{}", d.link_status)),
                "link_code": d.link_status,
                "link_error": d.link_error,
                "attention": attention,
            })
        })
        .collect();
    let uploads: Vec<Value> = uploads
        .into_iter()
        .map(|u| {
            json!({
                "id": u.id,
                "filename": u.filename.unwrap_or_default(),
                "size": bytes_text(u.length),
                "percent": if u.length > 0 { u.upload_offset * 100 / u.length } else { 100 },
                "received": bytes_text(u.upload_offset),
                "state": u.state,
                "failure": u.failure,
                "updated": zone.when(u.updated_at),
                "expires": zone.when(u.expires_at),
            })
        })
        .collect();
    let pages = (total + PAGE - 1) / PAGE;
    let link = |p: i64| {
        crate::site::here(format!(
            "/staff/discs?member={}&show={show}&page={p}",
            crate::opac::enc(&member.code)
        ))
    };
    let ctx = merge(
        match frame(&state, &page, &member, "/staff/discs").await {
            Ok(f) => f,
            Err(r) => return r,
        },
        json!({
            "summary": summary,
            "show": show,
            "discs": rows,
            "total": total,
            "uploads": uploads,
            "page": page_no,
            "pages": pages,
            "prev": (page_no > 1).then(|| link(page_no - 1)),
            "next": (page_no < pages).then(|| link(page_no + 1)),
            "tab_all": crate::site::here(format!("/staff/discs?member={}", crate::opac::enc(&member.code))),
            "tab_attention": crate::site::here(format!("/staff/discs?member={}&show=attention", crate::opac::enc(&member.code))),
            "tab_waiting": crate::site::here(format!("/staff/discs?member={}&show=waiting", crate::opac::enc(&member.code))),
        }),
    );
    render(StatusCode::OK, "discs.html", page.lang, ctx)
}

#[derive(Deserialize)]
struct SettingsQuery {
    member: Option<String>,
    saved: Option<String>,
    queued: Option<u64>,
}

/// The fields of the catalogue form; the others (timeouts, index names, limits) keep their
/// stored or default values.
#[derive(Deserialize, Default, serde::Serialize)]
struct CatalogueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    member: String,
    /// `sru` or `z3950` (an empty field is SRU, as before Z39.50 was offered).
    #[serde(default)]
    kind: String,
    #[serde(default)]
    sru_url: String,
    #[serde(default)]
    sru_version: String,
    #[serde(default)]
    record_schema: String,
    /// The CQL index of item barcodes (`dc.barcode`, `local.barcode`…); empty or `none`: no
    /// barcode lookup.
    #[serde(default)]
    sru_barcode: String,
    #[serde(default)]
    opac_record_url: String,
    #[serde(default)]
    oai_url: String,
    #[serde(default)]
    oai_prefix: String,
    #[serde(default)]
    oai_set: String,
    #[serde(default)]
    z_host: String,
    #[serde(default)]
    z_port: String,
    #[serde(default)]
    z_database: String,
    #[serde(default)]
    z_syntax: String,
    /// The Bib-1 use attribute of the barcode index; empty: no barcode lookup.
    #[serde(default)]
    z_barcode: String,
    #[serde(default)]
    z_user: String,
    /// Empty keeps the stored password.
    #[serde(default)]
    z_password: String,
}

impl CatalogueForm {
    fn of(settings: &CatalogueSettings) -> Self {
        let sru = settings.sru.clone().unwrap_or_default();
        let z = settings.z3950.clone().unwrap_or_default();
        let version = sru.version.as_str().to_string();
        let syntax = z.syntax.name().to_string();
        Self {
            kind: settings.kind.clone(),
            sru_url: sru.url.clone(),
            sru_version: version,
            record_schema: sru.record_schema.clone(),
            sru_barcode: if sru.indexes.barcode == "none" {
                String::new()
            } else {
                sru.indexes.barcode.clone()
            },
            z_host: z.host.clone(),
            z_port: if settings.z3950.is_some() {
                z.port.to_string()
            } else {
                String::new()
            },
            z_database: z.database.clone(),
            z_syntax: syntax,
            z_barcode: z
                .attributes
                .barcode
                .map(|b| b.to_string())
                .unwrap_or_default(),
            z_user: z.user.clone().unwrap_or_default(),
            opac_record_url: settings.opac_record_url.clone().unwrap_or_default(),
            oai_url: settings
                .oai
                .as_ref()
                .map(|o| o.url.clone())
                .unwrap_or_default(),
            oai_prefix: settings
                .oai
                .as_ref()
                .map(|o| o.metadata_prefix.clone())
                .unwrap_or_default(),
            oai_set: settings
                .oai
                .as_ref()
                .and_then(|o| o.set.clone())
                .unwrap_or_default(),
            ..Self::default()
        }
    }

    /// The stored settings (or the defaults) with this form's fields put in.
    fn apply(&self, stored: Option<CatalogueSettings>) -> Result<CatalogueSettings, String> {
        let mut s = stored.unwrap_or_else(|| CatalogueSettings {
            kind: "sru".into(),
            sru: None,
            z3950: None,
            opac_record_url: None,
            oai: None,
        });
        if self.kind.trim() == "z3950" {
            let mut z = s.z3950.take().unwrap_or_default();
            z.host = self.z_host.trim().to_string();
            if z.host.is_empty() || self.z_database.trim().is_empty() {
                return Err("The Z39.50 host and database are needed: they are where Spindle finds the records.".into());
            }
            let port = self.z_port.trim();
            z.port = if port.is_empty() {
                210
            } else {
                port.parse()
                    .map_err(|_| "The Z39.50 port is a number from 1 to 65535.".to_string())?
            };
            z.database = self.z_database.trim().to_string();
            z.syntax = serde_json::from_value(json!(self.z_syntax.trim()))
                .map_err(|_| "The record syntax is usmarc, unimarc or xml.".to_string())?;
            let barcode = self.z_barcode.trim();
            z.attributes.barcode = if barcode.is_empty() {
                None
            } else {
                Some(barcode.parse().map_err(|_| {
                    "The barcode attribute is a Bib-1 use attribute number, or empty.".to_string()
                })?)
            };
            let user = self.z_user.trim();
            z.user = (!user.is_empty()).then(|| user.to_string());
            let password = self.z_password.trim();
            z.password = (!password.is_empty()).then(|| password.to_string());
            s.kind = "z3950".into();
            s.sru = None;
            s.z3950 = Some(z);
        } else {
            let mut sru = s.sru.take().unwrap_or_default();
            let url = self.sru_url.trim();
            if url.is_empty() {
                return Err(
                    "The SRU address is needed: it is where Spindle finds the records.".into(),
                );
            }
            sru.url = url.to_string();
            sru.version = serde_json::from_value(json!(self.sru_version.trim()))
                .map_err(|_| "The SRU version is 1.1, 1.2 or 2.0.".to_string())?;
            let schema = self.record_schema.trim();
            if !schema.is_empty() {
                sru.record_schema = schema.to_string();
            }
            let barcode = self.sru_barcode.trim();
            sru.indexes.barcode = if barcode.is_empty() {
                "none".into()
            } else {
                barcode.to_string()
            };
            s.kind = "sru".into();
            s.sru = Some(sru);
            s.z3950 = None;
        }
        let opac = self.opac_record_url.trim();
        s.opac_record_url = (!opac.is_empty()).then(|| opac.to_string());
        let oai = self.oai_url.trim();
        s.oai = if oai.is_empty() {
            None
        } else {
            let mut o = s.oai.take().unwrap_or_default();
            o.url = oai.to_string();
            let prefix = self.oai_prefix.trim();
            if !prefix.is_empty() {
                o.metadata_prefix = prefix.to_string();
            }
            let set = self.oai_set.trim();
            o.set = (!set.is_empty()).then(|| set.to_string());
            Some(o)
        };
        Ok(s)
    }
}

async fn stored_catalogue(
    state: &AppState,
    page: &StaffPage,
    member: &Member,
) -> Result<Option<CatalogueSettings>, Response> {
    match linking::get_catalogue(&state.linking, &page.staff, &member.code).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.status() == StatusCode::NOT_FOUND => Ok(None),
        Err(e) => Err(e.into_response()),
    }
}

#[derive(Default)]
struct SettingsView {
    status: StatusCode,
    form: Option<CatalogueForm>,
    cidrs_text: Option<String>,
    off_campus: Option<crate::members::OffCampus>,
    error: Option<String>,
    notice: Option<String>,
    /// What checking the catalogue just saved found.
    check: Option<spindle_integrations::lookup::ProbeReport>,
    /// The sign-on form as posted (after a refusal); else the stored sign-on is shown.
    sign_on: Option<SignOnForm>,
}

async fn settings_page(
    state: &AppState,
    page: &StaffPage,
    member: &Member,
    view: SettingsView,
) -> Response {
    let stored = match stored_catalogue(state, page, member).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form = view
        .form
        .unwrap_or_else(|| stored.as_ref().map(CatalogueForm::of).unwrap_or_default());
    let cidrs = match crate::members::networks(&state.db, member.id).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let off_campus = match view.off_campus {
        Some(o) => o,
        None => match crate::db::members::off_campus(&state.db, member.id).await {
            Ok(o) => o,
            Err(e) => return crate::error::AppError::from(e).into_response(),
        },
    };
    let stored_sign_on = match crate::identity::configured(&state.db, member.id).await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let sign_on_service = stored_sign_on
        .as_ref()
        .map(|id| super::sso::service_url(state, &member.code, id.kind));
    let sign_on_configured = stored_sign_on.is_some();
    let sign_on = view.sign_on.unwrap_or_else(|| {
        stored_sign_on
            .as_ref()
            .map(SignOnForm::of)
            .unwrap_or_default()
    });
    let base = state.config.public_url();
    let ctx = merge(
        match frame(state, page, member, "/staff/settings").await {
            Ok(f) => f,
            Err(r) => return r,
        },
        json!({
            "configured": stored.is_some(),
            "form": form,
            "cidrs": cidrs,
            "cidrs_text": view.cidrs_text.unwrap_or_else(|| cidrs.join("\n")),
            "off_campus": off_campus,
            "error": view.error,
            "notice": view.notice,
            "check": view.check,
            "sign_on": sign_on,
            "sign_on_configured": sign_on_configured,
            "sign_on_service": sign_on_service,
            "proxy_available": !state.config.auth.proxy.user_header.is_empty(),
            "resolver_record": format!("{base}/r/{}/record/{{id}}", member.code),
            "resolver_isbn": format!("{base}/r/isbn/{{isbn}}"),
            "widget": format!("<script src=\"{base}/widget.js\" async data-member=\"{}\" data-record=\"RECORD-ID\"></script>", member.code),
        }),
    );
    render(view.status, "settings.html", page.lang, ctx)
}

async fn settings(
    State(state): State<AppState>,
    page: StaffPage,
    Query(q): Query<SettingsQuery>,
) -> Response {
    let member = match one_member(&state, &page, q.member.as_deref()).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let words = page.lang.words();
    let notice = match q.saved.as_deref() {
        Some("catalogue") => Some(format!(
            "{} {}",
            word(&words, "saved_catalogue"),
            word(&words, "discs_queued").replace("{n}", &q.queued.unwrap_or(0).to_string())
        )),
        Some("networks") => Some(word(&words, "saved_networks")),
        Some("off-campus") => Some(word(&words, "saved_off_campus")),
        Some("sign-on") => Some(word(&words, "saved_sign_on")),
        Some("sign-on-removed") => Some(word(&words, "removed_sign_on")),
        _ => None,
    };
    // Just saved: try the settings against the catalogue before the librarian leaves.
    let check = if q.saved.as_deref() == Some("catalogue") {
        linking::check_catalogue(&state.linking, &page.staff, &member.code)
            .await
            .ok()
    } else {
        None
    };
    settings_page(
        &state,
        &page,
        &member,
        SettingsView {
            notice,
            check,
            ..SettingsView::default()
        },
    )
    .await
}

/// The member a settings form was posted for, once its form token is the session's.
async fn posted_for(
    state: &AppState,
    page: &StaffPage,
    csrf: &str,
    member: &str,
) -> Result<Member, Response> {
    if let Some(refused) = page.form_refusal(csrf) {
        return Err(refused);
    }
    one_member(state, page, Some(member)).await
}

async fn save_catalogue(
    State(state): State<AppState>,
    page: StaffPage,
    Form(form): Form<CatalogueForm>,
) -> Response {
    let member = match posted_for(&state, &page, &form.csrf, &form.member).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let stored = match stored_catalogue(&state, &page, &member).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let refused = |error: String, form: CatalogueForm| SettingsView {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        form: Some(form),
        error: Some(error),
        ..SettingsView::default()
    };
    let settings = match form.apply(stored) {
        Ok(s) => s,
        Err(e) => return settings_page(&state, &page, &member, refused(e, form)).await,
    };
    match linking::put_catalogue(&state.linking, &page.staff, &member.code, settings).await {
        Ok(queued) => saved(&member, &format!("catalogue&queued={queued}")),
        Err(e) if e.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            settings_page(
                &state,
                &page,
                &member,
                refused(e.detail(page.lang.code()), form),
            )
            .await
        }
        Err(e) => web::message_for(page.lang, &e),
    }
}

/// Back to the settings page, saying what was saved.
fn saved(member: &Member, what: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            format!(
                "/staff/settings?member={}&saved={what}",
                crate::opac::enc(&member.code)
            ),
        )],
    )
        .into_response()
}

#[derive(Deserialize)]
struct NetworksForm {
    csrf: String,
    member: String,
    cidrs: String,
}

async fn save_networks(
    State(state): State<AppState>,
    page: StaffPage,
    Form(form): Form<NetworksForm>,
) -> Response {
    let member = match posted_for(&state, &page, &form.csrf, &form.member).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let given: Vec<String> = form
        .cidrs
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    match crate::members::replace_networks(
        &state.db,
        &state.usage,
        &page.staff,
        &member.code,
        &given,
    )
    .await
    {
        Ok(_) => saved(&member, "networks"),
        Err(e) if e.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            settings_page(
                &state,
                &page,
                &member,
                SettingsView {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    cidrs_text: Some(form.cidrs),
                    error: Some(e.detail(page.lang.code())),
                    ..SettingsView::default()
                },
            )
            .await
        }
        Err(e) => web::message_for(page.lang, &e),
    }
}

#[derive(Deserialize)]
struct MemberQuery {
    member: Option<String>,
    /// The ISO 2709 export's character set (`utf-8` or `gb18030`).
    charset: Option<String>,
}

async fn export_page(
    State(state): State<AppState>,
    page: StaffPage,
    Query(q): Query<MemberQuery>,
) -> Response {
    let member = match one_member(&state, &page, q.member.as_deref()).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let linked = match crate::discs::linked_count(&state.db, member.id).await {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let code = crate::opac::enc(&member.code);
    let ctx = merge(
        match frame(&state, &page, &member, "/staff/export").await {
            Ok(f) => f,
            Err(r) => return r,
        },
        json!({
            "linked": linked,
            "xml_url": crate::site::here(format!("/staff/export/marcxml.xml?member={code}")),
            "mrc_url": crate::site::here(format!("/staff/export/iso2709.mrc?member={code}")),
            "mrc_gb_url": crate::site::here(format!("/staff/export/iso2709.mrc?member={code}&charset=gb18030")),
            "resolver": format!("{}/r/{}/record/", state.config.public_url(), member.code),
        }),
    );
    render(StatusCode::OK, "export.html", page.lang, ctx)
}

/// The export files themselves, for a signed-in librarian (the API's are for tokens).
async fn export_file(
    State(state): State<AppState>,
    page: StaffPage,
    Path(file): Path<String>,
    Query(q): Query<MemberQuery>,
) -> Response {
    let format = match file.as_str() {
        "marcxml.xml" => Format::MarcXml,
        "iso2709.mrc" => match crate::opac::export_charset(q.charset.as_deref()) {
            Ok(set) => Format::Iso2709(set),
            Err(e) => return e.into_response(),
        },
        _ => {
            return web::message(
                StatusCode::NOT_FOUND,
                page.lang,
                "404",
                "The export is marcxml.xml or iso2709.mrc.",
            );
        }
    };
    let member = match one_member(&state, &page, q.member.as_deref()).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match super::opac::export(state, page.staff, member.code, format).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct OffCampusForm {
    csrf: String,
    member: String,
    proxy_prefix: String,
    vpn_url: String,
    contact: String,
}

async fn save_off_campus(
    State(state): State<AppState>,
    page: StaffPage,
    Form(form): Form<OffCampusForm>,
) -> Response {
    let member = match posted_for(&state, &page, &form.csrf, &form.member).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let given = crate::members::OffCampus {
        proxy_prefix: Some(form.proxy_prefix),
        vpn_url: Some(form.vpn_url),
        contact: Some(form.contact),
    };
    match crate::members::set_off_campus(&state.db, &page.staff, &member.code, given.clone()).await
    {
        Ok(_) => saved(&member, "off-campus"),
        Err(e) if e.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            settings_page(
                &state,
                &page,
                &member,
                SettingsView {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    off_campus: Some(given),
                    error: Some(e.detail(page.lang.code())),
                    ..SettingsView::default()
                },
            )
            .await
        }
        Err(e) => web::message_for(page.lang, &e),
    }
}

/// The sign-on section of the settings page: the kind's fields side by side (the kind chosen
/// says which are used), the staff rules one a line, and whether readers sign in. The OpenID
/// client secret is never filled in: left empty, the stored one is kept.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct SignOnForm {
    #[serde(skip_serializing)]
    csrf: String,
    #[serde(skip_serializing)]
    member: String,
    kind: String,
    cas_url: String,
    cas_protocol: String,
    oidc_issuer: String,
    oidc_client_id: String,
    #[serde(skip_serializing)]
    oidc_secret: String,
    oidc_scopes: String,
    proxy_scope: String,
    rules: String,
    readers: Option<String>,
    #[serde(skip_serializing)]
    action: String,
}

impl SignOnForm {
    fn of(id: &crate::identity::Identity) -> Self {
        use crate::identity::Provider;
        let mut form = SignOnForm {
            kind: id.kind.as_str().to_string(),
            rules: crate::identity::rules_text(&id.staff),
            readers: id.readers.then(|| "on".to_string()),
            ..SignOnForm::default()
        };
        match id.provider() {
            Some(Provider::Cas(cas)) => {
                form.cas_url.clone_from(&cas.base_url);
                form.cas_protocol.clone_from(&cas.protocol);
            }
            Some(Provider::Oidc(oidc)) => {
                form.oidc_issuer.clone_from(&oidc.issuer);
                form.oidc_client_id.clone_from(&oidc.client_id);
                form.oidc_scopes = oidc
                    .scopes
                    .iter()
                    .filter(|s| *s != "openid")
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            Some(Provider::Proxy(proxy)) => form.proxy_scope.clone_from(&proxy.scope),
            None => {}
        }
        form
    }

    /// The sign-on this form asks for, in the API's shape (checked further by
    /// [`crate::identity::set`]).
    fn identity(&self) -> crate::error::AppResult<crate::identity::Identity> {
        use crate::identity::{Cas, Identity, Kind, Oidc, ProxySignOn};
        let mut id = Identity {
            kind: Kind::Cas,
            cas: None,
            oidc: None,
            proxy: None,
            staff: crate::identity::parse_rules(&self.rules)?,
            readers: self.readers.is_some(),
        };
        match self.kind.as_str() {
            "oidc" => {
                id.kind = Kind::Oidc;
                id.oidc = Some(Oidc {
                    issuer: self.oidc_issuer.clone(),
                    client_id: self.oidc_client_id.clone(),
                    client_secret: Some(self.oidc_secret.clone()),
                    scopes: self
                        .oidc_scopes
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                });
            }
            "proxy" => {
                id.kind = Kind::Proxy;
                id.proxy = Some(ProxySignOn {
                    scope: self.proxy_scope.clone(),
                });
            }
            _ => {
                id.cas = Some(Cas {
                    base_url: self.cas_url.clone(),
                    protocol: if self.cas_protocol.is_empty() {
                        "3.0".to_string()
                    } else {
                        self.cas_protocol.clone()
                    },
                });
            }
        }
        Ok(id)
    }
}

async fn save_sign_on(
    State(state): State<AppState>,
    page: StaffPage,
    Form(form): Form<SignOnForm>,
) -> Response {
    let member = match posted_for(&state, &page, &form.csrf, &form.member).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if form.action == "remove" {
        return match crate::identity::remove(&state.db, &page.staff, &member.code).await {
            Ok(_) => saved(&member, "sign-on-removed"),
            Err(e) => web::message_for(page.lang, &e),
        };
    }
    let done = match form.identity() {
        Ok(id) => {
            crate::identity::set(
                &state.db,
                &state.config.auth.proxy,
                &page.staff,
                &member.code,
                id,
            )
            .await
        }
        Err(e) => Err(e),
    };
    match done {
        Ok(_) => saved(&member, "sign-on"),
        Err(e) if e.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            settings_page(
                &state,
                &page,
                &member,
                SettingsView {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    error: Some(e.detail(page.lang.code())),
                    sign_on: Some(form),
                    ..SettingsView::default()
                },
            )
            .await
        }
        Err(e) => web::message_for(page.lang, &e),
    }
}

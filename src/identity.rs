//! Campus sign-on: each member may name its university's identity provider (CAS, or OpenID
//! Connect: see [`crate::oidc`]), and rules that say which of the people signing in with it are
//! the member's librarians or the consortium's admins. Staff who sign in are kept as people (with no rights until a rule or an
//! admin grants them); readers who sign in are not kept at all: their session names only the
//! member, for access to its closed discs and for COUNTER's institution.
//!
//! CAS (Apereo CAS protocol 2.0 and 3.0): the browser goes to `{cas}/login?service=S`, comes
//! back to S with a ticket, and Spindle validates the ticket at `{cas}/serviceValidate` (2.0)
//! or `{cas}/p3/serviceValidate` (3.0) for that same S. A ticket is good once. The CAS server
//! ends sessions by POSTing a `logoutRequest` naming the ticket to S (single logout).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::{Role, Staff};
use crate::db::{self, Db};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::members;

/// A member's sign-on as staff set it (the secret kept out of what is answered back).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas: Option<Cas>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<Oidc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySignOn>,
    /// Who among the people signing in are staff.
    #[serde(default)]
    pub staff: Vec<Rule>,
    /// Whether the member's readers may sign in (off campus) to open its closed discs.
    #[serde(default)]
    pub readers: bool,
}

/// The provider a member's sign-on names, of its kind.
pub enum Provider<'a> {
    Cas(&'a Cas),
    Oidc(&'a Oidc),
    Proxy(&'a ProxySignOn),
}

impl Identity {
    pub fn provider(&self) -> Option<Provider<'_>> {
        match self.kind {
            Kind::Cas => self.cas.as_ref().map(Provider::Cas),
            Kind::Oidc => self.oidc.as_ref().map(Provider::Oidc),
            Kind::Proxy => self.proxy.as_ref().map(Provider::Proxy),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Cas,
    Oidc,
    Proxy,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Cas => "cas",
            Kind::Oidc => "oidc",
            Kind::Proxy => "proxy",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Kind::Cas, Kind::Oidc, Kind::Proxy]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cas {
    /// The CAS server's base, e.g. `https://cas.example.edu.cn/cas` (`/login` is appended).
    pub base_url: String,
    /// "2.0" (`/serviceValidate`) or "3.0" (`/p3/serviceValidate`, attributes standard).
    #[serde(default = "cas_protocol_default")]
    pub protocol: String,
}

fn cas_protocol_default() -> String {
    "3.0".to_string()
}

/// An OpenID Connect provider and Spindle's client there. The secret is kept, never answered:
/// an update that leaves it out (the settings page does) keeps the one stored for the same
/// issuer and client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Oidc {
    /// The issuer exactly as the provider names itself (its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// Absent for a public client (PKCE alone).
    #[serde(default, skip_serializing)]
    pub client_secret: Option<String>,
    /// Asked for besides `openid`, for the claims the staff rules read.
    #[serde(default = "oidc_scopes_default")]
    pub scopes: Vec<String>,
}

fn oidc_scopes_default() -> Vec<String> {
    vec!["openid".into(), "profile".into()]
}

/// Sign-on through the proxy in front (`[auth.proxy]`, e.g. a Shibboleth SP in CARSI): the
/// proxy has authenticated the person and says who they are in headers; they are this
/// member's when the member attribute holds this scope (`student@pku.edu.cn` or `pku.edu.cn`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProxySignOn {
    pub scope: String,
}

impl ProxySignOn {
    /// Whether one of the person's `attribute` values names this member's scope.
    pub fn vouches(&self, person: &Person, attribute: &str) -> bool {
        person.attributes.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case(attribute)
                && value
                    .rsplit_once('@')
                    .map_or(value.as_str(), |(_, scope)| scope)
                    .eq_ignore_ascii_case(&self.scope)
        })
    }
}

/// Who the proxy's headers say signed in, if its user header is there and sane: the user and
/// each attribute header's values (`;`-separated, as a Shibboleth SP sends several).
pub fn proxy_person(
    config: &crate::config::ProxyAuthConfig,
    headers: &axum::http::HeaderMap,
) -> Option<Person> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if config.user_header.is_empty() {
        return None;
    }
    let user = text(&config.user_header).filter(|u| u.len() <= 255)?;
    let attributes = config
        .attribute_headers
        .iter()
        .filter_map(|name| Some((name, text(name)?)))
        .flat_map(|(name, values)| {
            values
                .split(';')
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.len() <= 300)
                .take(50)
                .map(move |v| (name.clone(), v.to_string()))
        })
        .collect();
    Some(Person {
        user: user.to_string(),
        attributes,
    })
}

/// Checks an identity provider's address: http(s), a host, no query or fragment.
fn provider_url(name: &str, value: &mut String, example: &str) -> AppResult<()> {
    *value = value.trim().trim_end_matches('/').to_string();
    let url =
        reqwest::Url::parse(value).map_err(|e| invalid(format!("{name} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.has_host()
        || url.query().is_some()
        || url.fragment().is_some()
        || value.len() > 500
    {
        return Err(invalid(format!(
            "{name} must be an http(s) address without a query, such as {example}"
        )));
    }
    Ok(())
}

/// One way of being staff: a user name, or an attribute holding a value, grants a role.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub role: Role,
}

/// Who the identity provider says signed in: their user name and released attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    pub user: String,
    pub attributes: Vec<(String, String)>,
}

impl Person {
    /// A name to show staff: `displayName`, `cn` or `name` when released, else the user.
    pub fn display_name(&self) -> String {
        ["displayName", "cn", "name"]
            .iter()
            .find_map(|k| {
                self.attributes
                    .iter()
                    .find(|(n, v)| n == k && !v.trim().is_empty())
            })
            .map_or_else(|| self.user.clone(), |(_, v)| v.trim().to_string())
    }
}

/// The highest role any rule gives this person, if any does.
pub fn role_for(rules: &[Rule], person: &Person) -> Option<Role> {
    rules
        .iter()
        .filter(|r| match (&r.user, &r.attribute, &r.value) {
            (Some(u), None, None) => *u == person.user,
            (None, Some(a), Some(v)) => person.attributes.iter().any(|(n, x)| n == a && x == v),
            _ => false,
        })
        .map(|r| r.role)
        .max()
}

const MAX_RULES: usize = 200;

/// The staff rules as the settings page writes them, one a line: `librarian wang.lib` (a user)
/// or `admin affiliation=library-admins` (an attribute and its value).
pub fn rules_text(rules: &[Rule]) -> String {
    rules
        .iter()
        .map(|r| match (&r.user, &r.attribute, &r.value) {
            (Some(u), _, _) => format!("{} {u}", r.role.as_str()),
            (None, Some(a), Some(v)) => format!("{} {a}={v}", r.role.as_str()),
            _ => String::new(),
        })
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads the settings page's rules (see [`rules_text`]); blank lines are skipped.
pub fn parse_rules(text: &str) -> AppResult<Vec<Rule>> {
    let mut rules = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = || {
            AppError::unprocessable(
                ErrorCode::InvalidIdentity,
                detail!("err_sign_on_rule", line = i + 1),
            )
        };
        let (role, who) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
        let role = Role::parse(role).ok_or_else(bad)?;
        let who = who.trim();
        let rule = match who.split_once('=') {
            Some((a, v)) if !a.trim().is_empty() && !v.trim().is_empty() => Rule {
                user: None,
                attribute: Some(a.trim().to_string()),
                value: Some(v.trim().to_string()),
                role,
            },
            None if !who.is_empty() => Rule {
                user: Some(who.to_string()),
                attribute: None,
                value: None,
                role,
            },
            _ => return Err(bad()),
        };
        rules.push(rule);
    }
    Ok(rules)
}

fn invalid(reason: impl Into<String>) -> AppError {
    AppError::unprocessable(
        ErrorCode::InvalidIdentity,
        detail!("err_identity", reason = reason.into()),
    )
}

impl Identity {
    /// Checks and tidies what staff sent: a usable CAS address and protocol, and rules that
    /// each name a user, or an attribute and its value.
    fn validated(mut self, proxy_config: &crate::config::ProxyAuthConfig) -> AppResult<Self> {
        match self.kind {
            Kind::Cas => {
                let Some(cas) = self.cas.as_mut() else {
                    return Err(invalid("kind \"cas\" needs a \"cas\" object with base_url"));
                };
                provider_url(
                    "cas.base_url",
                    &mut cas.base_url,
                    "https://cas.example.edu.cn/cas",
                )?;
                if !matches!(cas.protocol.as_str(), "2.0" | "3.0") {
                    return Err(invalid("cas.protocol is \"2.0\" or \"3.0\""));
                }
                self.oidc = None;
                self.proxy = None;
            }
            Kind::Oidc => {
                let Some(oidc) = self.oidc.as_mut() else {
                    return Err(invalid(
                        "kind \"oidc\" needs an \"oidc\" object with issuer and client_id",
                    ));
                };
                provider_url(
                    "oidc.issuer",
                    &mut oidc.issuer,
                    "https://sso.example.edu.cn/oidc",
                )?;
                oidc.client_id = oidc.client_id.trim().to_string();
                oidc.client_secret = oidc.client_secret.take().filter(|s| !s.is_empty());
                let token = |s: &str| {
                    !s.is_empty() && s.len() <= 300 && s.bytes().all(|b| b.is_ascii_graphic())
                };
                if !token(&oidc.client_id) || !oidc.client_secret.as_deref().is_none_or(token) {
                    return Err(invalid(
                        "oidc.client_id (and client_secret, when the client has one) are printable ASCII of at most 300 characters",
                    ));
                }
                let mut scopes = vec!["openid".to_string()];
                for s in oidc.scopes.iter().map(|s| s.trim()) {
                    if !token(s) || s.contains('"') || s.contains('\\') {
                        return Err(invalid(format!("oidc.scopes: \"{s}\" is not a scope")));
                    }
                    if !scopes.iter().any(|x| x == s) {
                        scopes.push(s.to_string());
                    }
                }
                if scopes.len() > 20 {
                    return Err(invalid("at most 20 oidc.scopes"));
                }
                oidc.scopes = scopes;
                self.cas = None;
                self.proxy = None;
            }
            Kind::Proxy => {
                if proxy_config.user_header.is_empty() {
                    return Err(invalid(
                        "kind \"proxy\" needs the server's [auth.proxy] user_header and member_attribute (an operator sets them)",
                    ));
                }
                let Some(proxy) = self.proxy.as_mut() else {
                    return Err(invalid(
                        "kind \"proxy\" needs a \"proxy\" object with the member's scope, such as \"pku.edu.cn\"",
                    ));
                };
                proxy.scope = proxy.scope.trim().to_ascii_lowercase();
                let scope_ok = !proxy.scope.is_empty()
                    && proxy.scope.len() <= 253
                    && proxy
                        .scope
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
                if !scope_ok {
                    return Err(invalid(
                        "proxy.scope is the member's scope, a domain such as \"pku.edu.cn\"",
                    ));
                }
                self.cas = None;
                self.oidc = None;
            }
        }
        if self.staff.len() > MAX_RULES {
            return Err(invalid(format!("at most {MAX_RULES} staff rules")));
        }
        for (i, r) in self.staff.iter_mut().enumerate() {
            let clean = |v: &mut Option<String>| {
                *v = v
                    .take()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty());
            };
            clean(&mut r.user);
            clean(&mut r.attribute);
            clean(&mut r.value);
            let shaped = matches!(
                (&r.user, &r.attribute, &r.value),
                (Some(_), None, None) | (None, Some(_), Some(_))
            );
            let sane = [&r.user, &r.attribute, &r.value]
                .iter()
                .flat_map(|v| v.as_deref())
                .all(|s| s.len() <= 300 && !s.chars().any(char::is_control));
            if !shaped || !sane {
                return Err(invalid(format!(
                    "staff rule {} must name a \"user\", or an \"attribute\" and its \"value\"",
                    i + 1
                )));
            }
        }
        Ok(self)
    }
}

/// The member's sign-on, if it has one (for its staff and admins).
pub async fn get(db: &Db, staff: &Staff, code: &str) -> AppResult<Option<Identity>> {
    let m = members::get(db, code).await?;
    if !staff.may_act_for(m.id) {
        return Err(AppError::forbidden(detail!("err_other_members_settings")));
    }
    configured(db, m.id).await
}

/// The member's sign-on as stored, if it has one.
pub async fn configured(db: &Db, member_id: i64) -> AppResult<Option<Identity>> {
    let Some(row) = db::identity::provider(db, member_id).await? else {
        return Ok(None);
    };
    let rules: Vec<Rule> = serde_json::from_str(&row.staff_rules).unwrap_or_default();
    let kind = Kind::parse(&row.kind).unwrap_or(Kind::Cas);
    fn settings<T: serde::de::DeserializeOwned>(on: bool, json: &str) -> Option<T> {
        on.then(|| serde_json::from_str(json).ok()).flatten()
    }
    Ok(Some(Identity {
        kind,
        cas: settings(kind == Kind::Cas, &row.settings),
        oidc: settings(kind == Kind::Oidc, &row.settings),
        proxy: settings(kind == Kind::Proxy, &row.settings),
        staff: rules,
        readers: row.readers,
    }))
}

/// Sets a member's sign-on (consortium admins only: its rules can make admins).
pub async fn set(
    db: &Db,
    proxy_config: &crate::config::ProxyAuthConfig,
    staff: &Staff,
    code: &str,
    given: Identity,
) -> AppResult<Identity> {
    if staff.role != Role::Admin {
        return Err(AppError::forbidden(detail!("err_identity_admins")));
    }
    let m = members::get(db, code).await?;
    let mut id = given.validated(proxy_config)?;
    if let Some(oidc) = id.oidc.as_mut().filter(|o| o.client_secret.is_none()) {
        let before = configured(db, m.id).await?.and_then(|i| i.oidc);
        if let Some(b) = before.filter(|b| b.issuer == oidc.issuer && b.client_id == oidc.client_id)
        {
            oidc.client_secret = b.client_secret;
        }
    }
    let settings = match id.provider() {
        Some(Provider::Cas(cas)) => serde_json::to_value(cas).unwrap_or_default(),
        Some(Provider::Oidc(oidc)) => {
            let mut v = serde_json::to_value(oidc).unwrap_or_default();
            v["client_secret"] = serde_json::json!(oidc.client_secret);
            v
        }
        Some(Provider::Proxy(proxy)) => serde_json::to_value(proxy).unwrap_or_default(),
        None => serde_json::json!({}),
    }
    .to_string();
    let rules = serde_json::to_string(&id.staff).unwrap_or_else(|_| "[]".to_string());
    db::identity::set_provider(db, m.id, id.kind.as_str(), &settings, &rules, id.readers).await?;
    Ok(id)
}

/// Removes a member's sign-on (admins) and ends the sessions opened with it; its people keep
/// what an admin granted them.
pub async fn remove(db: &Db, staff: &Staff, code: &str) -> AppResult<bool> {
    if staff.role != Role::Admin {
        return Err(AppError::forbidden(detail!("err_identity_admins")));
    }
    let m = members::get(db, code).await?;
    Ok(db::identity::delete_provider(db, m.id).await?)
}

/// A person the member's sign-on vouched for, signing in as staff: recorded (with the role the
/// rules give now), and the staff member they act as, through their sign-on token for the
/// higher of that role and the one an admin granted. With neither, their tokens are revoked and
/// the answer says they have no rights yet.
pub async fn staff_signed_in(
    db: &Db,
    member: &members::Member,
    id: &Identity,
    person: &Person,
) -> AppResult<Staff> {
    let by_rule = role_for(&id.staff, person);
    let row = db::identity::signed_in(
        db,
        member.id,
        &person.user,
        &person.display_name(),
        by_rule.map(Role::as_str),
    )
    .await?;
    let granted = row.granted_role.as_deref().and_then(Role::parse);
    let Some(role) = by_rule.max(granted) else {
        db::identity::revoke_tokens_of(db, row.id).await?;
        return Err(AppError::forbidden(detail!(
            "err_sign_on_no_rights",
            user = &person.user,
            member = &member.name
        )));
    };
    // An admin acts for the consortium, a librarian for the member.
    let member_id = (role == Role::Librarian).then_some(member.id);
    // The token is never shown: sessions act through it, so its secret is thrown away.
    let (_, unused_hash) = crate::auth::generate_token();
    let token_id = db::identity::sign_on_token(
        db,
        row.id,
        role.as_str(),
        member_id,
        &format!("sign-on: {}@{}", person.user, member.code),
        &unused_hash,
    )
    .await?;
    Ok(Staff {
        token_id,
        role,
        member_id,
        member_code: member_id.map(|_| member.code.clone()),
    })
}

/// Where a reader signs in with the member's campus sign-on and comes back to `back` (a path
/// of Spindle's), when its sign-on lets readers in.
pub async fn reader_sign_on_url(
    db: &Db,
    member_id: i64,
    code: &str,
    back: &str,
) -> AppResult<Option<String>> {
    Ok(db::identity::provider(db, member_id)
        .await?
        .filter(|p| p.readers)
        .map(|_| {
            crate::site::here(format!(
                "/sso/{}/sign-in?as=reader&next={}",
                crate::opac::enc(code),
                crate::opac::enc(back)
            ))
        }))
}

/// The people who signed in as staff: a librarian sees their own member's, an admin
/// everyone's or, with `member`, one member's.
pub async fn people(
    db: &Db,
    staff: &Staff,
    member: Option<&str>,
) -> AppResult<Vec<db::identity::PersonRow>> {
    let member_id = match (staff.role, member) {
        (Role::Admin, None) => None,
        (_, Some(code)) => {
            let m = members::get(db, code).await?;
            if !staff.may_act_for(m.id) {
                return Err(AppError::forbidden(detail!("err_other_members_settings")));
            }
            Some(m.id)
        }
        (Role::Librarian, None) => staff.member_id,
    };
    Ok(db::identity::people(db, member_id).await?)
}

/// An admin grants a person a role, or takes back what was granted (`None`); the person's
/// sessions end, so their next sign-in acts with the role they have then.
pub async fn grant(
    db: &Db,
    staff: &Staff,
    person_id: i64,
    role: Option<Role>,
) -> AppResult<db::identity::PersonRow> {
    if staff.role != Role::Admin {
        return Err(AppError::forbidden(detail!("err_grant_admins")));
    }
    let row = db::identity::set_granted(db, person_id, role.map(Role::as_str))
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::NotFound,
                detail!("err_no_person", id = person_id),
            )
        })?;
    db::identity::revoke_tokens_of(db, person_id).await?;
    Ok(row)
}

/// What the CAS server answered about a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasAnswer {
    Success(Person),
    /// The server refused the ticket: its code (`INVALID_TICKET`, `INVALID_SERVICE`…) and text.
    Failure(String, String),
}

/// Reads a `/serviceValidate` answer (CAS 2.0 and 3.0 share the XML; 3.0 adds attributes,
/// which many 2.0 servers send as well).
pub fn parse_service_response(xml: &str) -> Result<CasAnswer, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "serviceResponse" {
        return Err(format!(
            "expected cas:serviceResponse, found {}",
            root.tag_name().name()
        ));
    }
    for child in root.children().filter(roxmltree::Node::is_element) {
        match child.tag_name().name() {
            "authenticationSuccess" => {
                let mut person = Person::default();
                for el in child.children().filter(roxmltree::Node::is_element) {
                    match el.tag_name().name() {
                        "user" => person.user = el.text().unwrap_or("").trim().to_string(),
                        "attributes" => {
                            for a in el.children().filter(roxmltree::Node::is_element) {
                                let value = a.text().unwrap_or("").trim().to_string();
                                person
                                    .attributes
                                    .push((a.tag_name().name().to_string(), value));
                            }
                        }
                        _ => {}
                    }
                }
                if person.user.is_empty() {
                    return Err("authenticationSuccess without a user".into());
                }
                return Ok(CasAnswer::Success(person));
            }
            "authenticationFailure" => {
                let code = child.attribute("code").unwrap_or("").to_string();
                let text = child.text().unwrap_or("").trim().to_string();
                return Ok(CasAnswer::Failure(code, text));
            }
            _ => {}
        }
    }
    Err("neither authenticationSuccess nor authenticationFailure".into())
}

/// The ticket a single-logout request names (`<samlp:SessionIndex>`), if it is one.
pub fn logout_ticket(xml: &str) -> Option<String> {
    if xml.len() > 16 * 1024 {
        return None;
    }
    let doc = roxmltree::Document::parse(xml).ok()?;
    let root = doc.root_element();
    if root.tag_name().name() != "LogoutRequest" {
        return None;
    }
    root.descendants()
        .find(|n| n.tag_name().name() == "SessionIndex")
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

/// The HTTP client that validates CAS tickets and redeems OpenID Connect codes, and the
/// OpenID providers' metadata and keys.
pub struct SignOn {
    client: reqwest::Client,
    providers: crate::oidc::Providers,
}

impl Default for SignOn {
    fn default() -> Self {
        Self::new()
    }
}

impl SignOn {
    pub fn new() -> Self {
        spindle_storage::install_tls_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            client,
            providers: crate::oidc::Providers::default(),
        }
    }

    /// Asks the CAS server whether `ticket` was issued for `service`.
    pub async fn validate(&self, cas: &Cas, service: &str, ticket: &str) -> AppResult<CasAnswer> {
        let path = if cas.protocol == "2.0" {
            "serviceValidate"
        } else {
            "p3/serviceValidate"
        };
        let mut url = reqwest::Url::parse(&format!("{}/{path}", cas.base_url))
            .map_err(|e| provider_unreachable(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("service", service)
            .append_pair("ticket", ticket);
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| provider_unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(provider_unreachable(format!("HTTP {}", response.status())));
        }
        let body = response
            .text()
            .await
            .map_err(|e| provider_unreachable(e.to_string()))?;
        parse_service_response(&body).map_err(provider_unreachable)
    }

    /// Where the browser goes to sign in at the OpenID provider: the authorization endpoint
    /// with the code flow's parameters, this sign-in's state and nonce, and the PKCE challenge.
    pub async fn oidc_authorize_url(
        &self,
        oidc: &Oidc,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        challenge: &str,
    ) -> AppResult<String> {
        let found = self
            .providers
            .get(&self.client, &oidc.issuer, false)
            .await?;
        let mut url = reqwest::Url::parse(&found.meta.authorization_endpoint)
            .map_err(|e| provider_unreachable(format!("authorization_endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &oidc.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &oidc.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Redeems the code the provider sent the browser back with, and answers the person the
    /// ID token names once it holds up (see [`crate::oidc`]), with the claims of the token and
    /// of the userinfo endpoint as attributes.
    pub async fn oidc_person(
        &self,
        oidc: &Oidc,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> AppResult<Person> {
        use crate::oidc;
        let found = self
            .providers
            .get(&self.client, &oidc.issuer, false)
            .await?;
        let tokens = oidc::redeem(
            &self.client,
            &found.meta,
            &oidc.client_id,
            oidc.client_secret.as_deref(),
            code,
            redirect_uri,
            verifier,
        )
        .await?;
        if let Some(error) = tokens.error {
            return Err(refused(
                &error,
                tokens.error_description.as_deref().unwrap_or(""),
            ));
        }
        let Some(id_token) = tokens.id_token else {
            return Err(refused("-", "the provider answered no ID token"));
        };
        let claims = match oidc::verify_signature(&id_token, &found.keys) {
            Err(oidc::TokenError::UnknownKey(_)) => {
                // The provider may have rolled its keys since they were fetched.
                let fresh = self.providers.get(&self.client, &oidc.issuer, true).await?;
                oidc::verify_signature(&id_token, &fresh.keys)
            }
            other => other,
        }
        .map_err(|e| refused("id_token", &e.to_string()))?;
        let want = oidc::Expected {
            issuer: &oidc.issuer,
            client_id: &oidc.client_id,
            nonce,
            now: crate::db::now(),
        };
        let user =
            oidc::check_claims(&claims, &want).map_err(|e| refused("id_token", &e.to_string()))?;
        let mut person = Person {
            user,
            attributes: Vec::new(),
        };
        oidc::attributes(&claims, &mut person.attributes);
        if let (Some(endpoint), Some(access)) =
            (&found.meta.userinfo_endpoint, &tokens.access_token)
        {
            let info = oidc::userinfo(&self.client, endpoint, access).await?;
            // Core 5.3.2: userinfo about anyone but the token's subject is not used.
            if info.get("sub").and_then(serde_json::Value::as_str) != Some(person.user.as_str()) {
                return Err(refused("userinfo", "its sub is not the ID token's"));
            }
            oidc::attributes(&info, &mut person.attributes);
        }
        Ok(person)
    }
}

impl From<crate::oidc::Unreachable> for AppError {
    fn from(e: crate::oidc::Unreachable) -> Self {
        provider_unreachable(e.0)
    }
}

/// The identity provider could not be asked, or answered something unusable.
fn provider_unreachable(reason: String) -> AppError {
    AppError::new(
        axum::http::StatusCode::BAD_GATEWAY,
        ErrorCode::SignOnUnavailable,
        detail!("err_sign_on_unavailable", reason = reason),
    )
}

/// The identity provider, or what it sent, does not vouch for anyone.
pub fn refused(code: &str, reason: &str) -> AppError {
    AppError::unauthenticated(
        ErrorCode::SignOnRefused,
        detail!("err_sign_on_refused", code = code, reason = reason),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(user: &str, attrs: &[(&str, &str)]) -> Person {
        Person {
            user: user.into(),
            attributes: attrs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn rules_give_the_highest_matching_role_and_nothing_otherwise() {
        let rules: Vec<Rule> = serde_json::from_value(serde_json::json!([
            {"user": "wang.lib", "role": "librarian"},
            {"attribute": "affiliation", "value": "library-admins", "role": "admin"},
            {"attribute": "affiliation", "value": "staff", "role": "librarian"},
        ]))
        .expect("rules");
        assert_eq!(
            role_for(&rules, &person("wang.lib", &[])),
            Some(Role::Librarian)
        );
        assert_eq!(
            role_for(
                &rules,
                &person(
                    "li",
                    &[("affiliation", "staff"), ("affiliation", "library-admins")]
                )
            ),
            Some(Role::Admin)
        );
        assert_eq!(
            role_for(&rules, &person("x", &[("affiliation", "student")])),
            None
        );
        assert_eq!(
            role_for(&rules, &person("WANG.LIB", &[])),
            None,
            "exact match"
        );
        assert_eq!(
            role_for(&rules, &person("x", &[("mail", "library-admins")])),
            None,
            "the value must be in the named attribute"
        );
    }

    #[test]
    fn validation_refuses_shapeless_rules_and_bad_addresses() {
        let ok = |v: serde_json::Value| {
            serde_json::from_value::<Identity>(v)
                .map_err(|e| e.to_string())
                .and_then(|i| {
                    i.validated(&crate::config::ProxyAuthConfig::default())
                        .map_err(|e| e.detail("en"))
                })
        };
        let good = ok(serde_json::json!({"kind": "cas", "cas": {"base_url": " https://cas.example.edu.cn/cas/ "}, "staff": [{"user": " w ", "role": "admin"}]}))
            .expect("valid");
        assert_eq!(
            good.cas.as_ref().map(|c| c.base_url.as_str()),
            Some("https://cas.example.edu.cn/cas")
        );
        assert_eq!(good.cas.map(|c| c.protocol), Some("3.0".into()));
        assert_eq!(good.staff[0].user.as_deref(), Some("w"));
        for bad in [
            serde_json::json!({"kind": "cas"}),
            serde_json::json!({"kind": "cas", "cas": {"base_url": "ftp://x/cas"}}),
            serde_json::json!({"kind": "cas", "cas": {"base_url": "https://x/cas?a=1"}}),
            serde_json::json!({"kind": "cas", "cas": {"base_url": "https://x/cas", "protocol": "1.0"}}),
            serde_json::json!({"kind": "cas", "cas": {"base_url": "https://x/cas"}, "staff": [{"role": "admin"}]}),
            serde_json::json!({"kind": "cas", "cas": {"base_url": "https://x/cas"}, "staff": [{"user": "a", "attribute": "b", "value": "c", "role": "admin"}]}),
            serde_json::json!({"kind": "cas", "cas": {"base_url": "https://x/cas"}, "staff": [{"attribute": "b", "role": "admin"}]}),
            serde_json::json!({"kind": "cas", "cas": {"base_url": "https://x/cas"}, "staff": [{"user": "a", "role": "owner"}]}),
            serde_json::json!({"kind": "saml"}),
            // No [auth.proxy] on this server.
            serde_json::json!({"kind": "proxy", "proxy": {"scope": "pku.edu.cn"}}),
        ] {
            assert!(ok(bad.clone()).is_err(), "{bad}");
        }
    }

    fn proxy_config() -> crate::config::ProxyAuthConfig {
        crate::config::ProxyAuthConfig {
            user_header: "X-Remote-User".into(),
            attribute_headers: vec!["eduPersonScopedAffiliation".into(), "displayName".into()],
            member_attribute: "eduPersonScopedAffiliation".into(),
        }
    }

    #[test]
    fn rules_are_written_and_read_one_a_line() {
        let text = "librarian wang.lib\n\n  admin  affiliation = library-admins \n";
        let rules = parse_rules(text).expect("rules");
        assert_eq!(
            rules,
            vec![
                Rule {
                    user: Some("wang.lib".into()),
                    attribute: None,
                    value: None,
                    role: Role::Librarian
                },
                Rule {
                    user: None,
                    attribute: Some("affiliation".into()),
                    value: Some("library-admins".into()),
                    role: Role::Admin
                },
            ]
        );
        assert_eq!(
            rules_text(&rules),
            "librarian wang.lib\nadmin affiliation=library-admins"
        );
        assert_eq!(parse_rules(&rules_text(&rules)).expect("again"), rules);
        for (bad, line) in [
            ("wang.lib", 1),
            ("librarian wang.lib\nowner x", 2),
            ("admin =x", 1),
            ("admin a=", 1),
        ] {
            let e = parse_rules(bad).expect_err(bad);
            assert!(
                e.detail("en").contains(&format!("line {line}")),
                "{bad}: {}",
                e.detail("en")
            );
        }
    }

    #[test]
    fn proxy_sign_on_needs_a_scope_and_the_servers_headers() {
        let check = |v: serde_json::Value| {
            serde_json::from_value::<Identity>(v)
                .map_err(|e| e.to_string())
                .and_then(|i| i.validated(&proxy_config()).map_err(|e| e.detail("en")))
        };
        let good = check(serde_json::json!({"kind": "proxy", "proxy": {"scope": " PKU.edu.cn "}, "cas": {"base_url": "https://x/cas"}}))
            .expect("valid");
        assert_eq!(good.proxy.map(|p| p.scope), Some("pku.edu.cn".into()));
        assert_eq!(good.cas, None, "the other kinds' settings are dropped");
        for bad in [
            serde_json::json!({"kind": "proxy"}),
            serde_json::json!({"kind": "proxy", "proxy": {"scope": ""}}),
            serde_json::json!({"kind": "proxy", "proxy": {"scope": "a b"}}),
            serde_json::json!({"kind": "proxy", "proxy": {"scope": "x@pku.edu.cn"}}),
            serde_json::json!({"kind": "proxy", "proxy": {"scope": "pku", "header": "x"}}),
        ] {
            assert!(check(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn proxy_headers_make_a_person_of_the_scope_they_name() {
        let config = proxy_config();
        let mut headers = axum::http::HeaderMap::new();
        assert_eq!(proxy_person(&config, &headers), None, "no user header");
        headers.insert("x-remote-user", "  ".parse().expect("header"));
        assert_eq!(proxy_person(&config, &headers), None, "an empty user");
        headers.insert("x-remote-user", "zhang@pku.edu.cn".parse().expect("header"));
        headers.insert(
            "edupersonscopedaffiliation",
            "student@pku.edu.cn; member@pku.edu.cn;;"
                .parse()
                .expect("header"),
        );
        headers.insert("mail", "z@pku.edu.cn".parse().expect("header"));
        let p = proxy_person(&config, &headers).expect("a person");
        assert_eq!(p.user, "zhang@pku.edu.cn");
        assert_eq!(
            p.attributes,
            vec![
                (
                    "eduPersonScopedAffiliation".to_string(),
                    "student@pku.edu.cn".to_string()
                ),
                (
                    "eduPersonScopedAffiliation".to_string(),
                    "member@pku.edu.cn".to_string()
                ),
            ],
            "each value its own attribute; headers not configured are not read"
        );
        let pku = ProxySignOn {
            scope: "pku.edu.cn".into(),
        };
        let thu = ProxySignOn {
            scope: "thu.edu.cn".into(),
        };
        assert!(pku.vouches(&p, &config.member_attribute));
        assert!(!thu.vouches(&p, &config.member_attribute));
        assert!(!pku.vouches(&p, "displayName"), "only the member attribute");
        let bare = Person {
            user: "u".into(),
            attributes: vec![("eduPersonScopedAffiliation".into(), "PKU.EDU.CN".into())],
        };
        assert!(pku.vouches(&bare, &config.member_attribute));
        let sub = Person {
            user: "u".into(),
            attributes: vec![(
                "eduPersonScopedAffiliation".into(),
                "student@evil.pku.edu.cn".into(),
            )],
        };
        assert!(
            !pku.vouches(&sub, &config.member_attribute),
            "a scope is matched whole"
        );
        let mut off = config.clone();
        off.user_header.clear();
        assert_eq!(proxy_person(&off, &headers), None, "proxy sign-on off");
    }

    #[test]
    fn cas_answers_are_read_and_junk_is_an_error() {
        let ok = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess><cas:user>li.admin</cas:user><cas:attributes><cas:affiliation>staff</cas:affiliation><cas:affiliation>library-admins</cas:affiliation><cas:displayName>李 管理员</cas:displayName></cas:attributes></cas:authenticationSuccess></cas:serviceResponse>"#;
        let Ok(CasAnswer::Success(p)) = parse_service_response(ok) else {
            panic!("success expected");
        };
        assert_eq!(p.user, "li.admin");
        assert_eq!(p.attributes.len(), 3);
        assert_eq!(p.display_name(), "李 管理员");
        let fail = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationFailure code="INVALID_TICKET">ticket ST-1 has already been used</cas:authenticationFailure></cas:serviceResponse>"#;
        assert_eq!(
            parse_service_response(fail),
            Ok(CasAnswer::Failure(
                "INVALID_TICKET".into(),
                "ticket ST-1 has already been used".into()
            ))
        );
        for junk in [
            "",
            "<html>login</html>",
            "<cas:serviceResponse xmlns:cas=\"x\"/>",
            "<cas:serviceResponse xmlns:cas=\"x\"><cas:authenticationSuccess/></cas:serviceResponse>",
        ] {
            assert!(parse_service_response(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn logout_requests_name_their_ticket() {
        let xml = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="LR-1" Version="2.0" IssueInstant="2026-12-04T19:00:00Z"><saml:NameID>@NOT_USED@</saml:NameID><samlp:SessionIndex>ST-17-abc</samlp:SessionIndex></samlp:LogoutRequest>"#;
        assert_eq!(logout_ticket(xml).as_deref(), Some("ST-17-abc"));
        assert_eq!(logout_ticket("<a/>"), None);
        assert_eq!(logout_ticket("junk"), None);
    }
}

//! The JSON API's contract, from outside: every error is an RFC 9457 problem document with a
//! code from the published list; `/api/v1/openapi.json` validates as OpenAPI 3.1
//! (openapi-spec-validator) and names exactly the routes and methods the server answers; and
//! schemathesis, a property-based API tester, finds no 5xx and no answer that contradicts the
//! document, as a librarian and as an admin, on both backend pairs.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use common::{Backend, TestApp, iso_image};
use serde_json::{Value, json};

on_both_backends!(schemathesis_finds_nothing);

fn tool(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the suite with scripts/test.sh, which installs schemathesis and openapi-spec-validator")
    })
}

/// The problem types the server publishes: code → title.
async fn problem_types(app: &TestApp) -> Result<BTreeMap<String, String>> {
    problem_types_in(app, "en").await
}

/// The problem types, asked for in `accept_language`.
async fn problem_types_in(
    app: &TestApp,
    accept_language: &str,
) -> Result<BTreeMap<String, String>> {
    let list: Vec<Value> = app
        .client
        .get(app.url("/api/v1/problems"))
        .header("accept-language", accept_language)
        .send()
        .await?
        .json()
        .await?;
    Ok(list
        .into_iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap_or_default().to_string(),
                p["title"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// Checks an answer is a problem document for `status` and `code`, consistent with the list.
async fn assert_problem(
    types: &BTreeMap<String, String>,
    r: reqwest::Response,
    status: u16,
    code: &str,
) -> Result<reqwest::header::HeaderMap> {
    let url = r.url().clone();
    ensure!(
        r.status() == status,
        "{url}: {} rather than {status}",
        r.status()
    );
    let headers = r.headers().clone();
    let ctype = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ensure!(
        ctype == "application/problem+json",
        "{url}: content type {ctype:?}"
    );
    let v: Value = r.json().await?;
    ensure!(v["code"] == code, "{url}: {v}");
    ensure!(v["status"] == status, "{url}: {v}");
    ensure!(
        v["type"] == format!("/api/v1/problems#{code}"),
        "{url}: {v}"
    );
    let title = types
        .get(code)
        .with_context(|| format!("{code} is not in /api/v1/problems"))?;
    ensure!(v["title"] == title.as_str(), "{url}: {v}");
    ensure!(
        v["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{url}: {v}"
    );
    Ok(headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_a_problem_document() -> Result<()> {
    let app = TestApp::start(Backend::SqliteLocal).await?;
    let a = app.librarian("A").await?;
    let types = problem_types(&app).await?;
    assert!(types.len() > 60, "only {} problem types", types.len());
    let c = &app.client;

    // Addresses and methods the API does not have (axum answered an empty 404 and 405).
    let r = c.get(app.url("/api/v1/no-such-thing")).send().await?;
    assert_problem(&types, r, 404, "no-route").await?;
    let r = c
        .delete(app.url("/api/v1/discs"))
        .bearer_auth(&a)
        .send()
        .await?;
    let h = assert_problem(&types, r, 405, "method-not-allowed").await?;
    let allow = h
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        allow.contains("GET") && allow.contains("POST"),
        "Allow: {allow:?}"
    );

    // Extractors' refusals: a path that is not UTF-8, a query of the wrong type, bad JSON.
    let r = c.get(app.url("/api/v1/discs/%FF")).send().await?;
    assert_problem(&types, r, 400, "invalid-path").await?;
    let r = c
        .get(app.url("/api/v1/discs?limit=many"))
        .bearer_auth(&a)
        .send()
        .await?;
    assert_problem(&types, r, 400, "invalid-query").await?;
    let r = c
        .post(app.url("/api/v1/discs"))
        .bearer_auth(&a)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_problem(&types, r, 400, "invalid-json").await?;
    let r = c
        .post(app.url("/api/v1/discs"))
        .bearer_auth(&a)
        .json(&json!({"sha256": 7}))
        .send()
        .await?;
    assert_problem(&types, r, 422, "invalid-json").await?;

    // Credentials, domain refusals and the tus endpoints.
    let r = c.get(app.url("/api/v1/discs")).send().await?;
    assert_problem(&types, r, 401, "missing-token").await?;
    let r = c.get(app.url("/api/v1/discs/999999")).send().await?;
    assert_problem(&types, r, 404, "disc-not-found").await?;
    let r = c
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&a)
        .send()
        .await?;
    assert_problem(&types, r, 412, "tus-version").await?;
    let r = app
        .tus(reqwest::Method::HEAD, "/api/v1/uploads/nope", &a)
        .send()
        .await?;
    // HEAD has no body: the status and nothing else.
    assert_eq!(r.status(), 404);
    let r = app
        .tus(reqwest::Method::PATCH, "/api/v1/uploads/nope", &a)
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body("x")
        .send()
        .await?;
    assert_problem(&types, r, 404, "upload-not-found").await?;

    // A bad range on a real disc: 416 with Content-Range, as a problem document.
    let disc = app
        .disc(&a, &iso_image(3000, 7), json!({"open": true}))
        .await?;
    let r = c
        .get(app.url(&format!("/api/v1/discs/{disc}/image")))
        .header("range", "bytes=99999999-")
        .send()
        .await?;
    let h = assert_problem(&types, r, 416, "range-not-satisfiable").await?;
    assert!(h.contains_key("content-range"));
    Ok(())
}

/// Error titles and details come from the language catalogue in the language the client asks
/// for, details with their values filled in; the code never changes, and `Content-Language`
/// says which language the answer is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_titles_and_details_follow_the_clients_language() -> Result<()> {
    let app = TestApp::start(Backend::SqliteLocal).await?;
    let a = app.librarian("A").await?;
    app.member("B").await?;
    let en = problem_types(&app).await?;
    let zh = problem_types_in(&app, "zh-CN,zh;q=0.9,en;q=0.8").await?;
    ensure!(en.keys().eq(zh.keys()), "the lists name different codes");
    for (code, title) in &zh {
        ensure!(
            title
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{code}: {title:?} is not Chinese"
        );
        ensure!(
            en[code] != *title,
            "{code}: the same title in both languages"
        );
    }

    let c = &app.client;
    for (request, lang, code, status, detail) in [
        (
            c.get(app.url("/api/v1/no-such-thing"))
                .header("accept-language", "zh-CN"),
            "zh-CN",
            "no-route",
            404,
            "/api/v1/no-such-thing 处没有资源",
        ),
        (
            c.get(app.url("/api/v1/no-such-thing?lang=en"))
                .header("accept-language", "zh-CN"),
            "en",
            "no-route",
            404,
            "there is no resource at /api/v1/no-such-thing",
        ),
        (
            c.get(app.url("/api/v1/discs")),
            "en",
            "missing-token",
            401,
            "this needs a staff token: `Authorization: Bearer <token>`",
        ),
        (
            c.get(app.url("/api/v1/discs?member=B"))
                .bearer_auth(&a)
                .header("accept-language", "zh-CN"),
            "zh-CN",
            "forbidden",
            403,
            "馆员只能列出本馆的光盘",
        ),
        (
            c.get(app.url("/api/v1/discs/987654"))
                .header("accept-language", "zh-CN;q=0.9"),
            "zh-CN",
            "disc-not-found",
            404,
            "没有编号为 987654 的光盘",
        ),
        (
            app.tus(reqwest::Method::PATCH, "/api/v1/uploads/nope", &a)
                .header("accept-language", "zh")
                .header("upload-offset", "0")
                .header("content-type", "application/offset+octet-stream")
                .body("x"),
            "zh-CN",
            "upload-not-found",
            404,
            "没有上传 nope",
        ),
    ] {
        let r = request.send().await?;
        let url = r.url().clone();
        ensure!(r.status() == status, "{url}: {}", r.status());
        let said = r
            .headers()
            .get("content-language")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        ensure!(said == lang, "{url}: Content-Language {said:?}, not {lang}");
        let v: Value = r.json().await?;
        let titles = if lang == "en" { &en } else { &zh };
        ensure!(v["code"] == code, "{url}: {v}");
        ensure!(v["title"] == titles[code].as_str(), "{url}: {v}");
        ensure!(v["status"] == status, "{url}: {v}");
        ensure!(v["detail"] == detail, "{url}: {v}");
    }
    Ok(())
}

/// The routes declared in `src/http` (with `{*rest}` written as OpenAPI's `{rest}`).
fn declared_routes() -> Result<Vec<String>> {
    let declared = regex::Regex::new(r#"\.route\(\s*"([^"]+)""#)?;
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http"))? {
        let source = std::fs::read_to_string(entry?.path())?;
        for route in declared.captures_iter(&source) {
            routes.push(route[1].replace("{*", "{"));
        }
    }
    Ok(routes)
}

/// The methods a path answers, from the `Allow` of a 405 to a method no route takes (none
/// when the path is not a route).
async fn allowed(app: &TestApp, path: &str) -> Result<Option<BTreeSet<String>>> {
    let concrete = regex::Regex::new(r"\{[^}]+\}")?.replace_all(path, "1");
    let r = app
        .client
        .request(reqwest::Method::TRACE, app.url(&concrete))
        .send()
        .await?;
    if r.status() != 405 {
        return Ok(None);
    }
    let allow = r
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .context("a 405 without Allow")?;
    Ok(Some(
        allow
            .split(',')
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| !m.is_empty())
            .collect(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_and_names_every_route() -> Result<()> {
    let app = TestApp::start(Backend::SqliteLocal).await?;
    let r = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await?;
    assert_eq!(doc["openapi"], "3.1.0");

    // A real validator of OpenAPI 3.1 documents.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc)?)?;
    let out = Command::new(tool("SPINDLE_TEST_OPENAPI_VALIDATOR"))
        .arg(&file)
        .output()
        .context("run openapi-spec-validator")?;
    assert!(
        out.status.success(),
        "openapi-spec-validator:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Each documented path answers exactly the documented methods (GET brings HEAD).
    let paths = doc["paths"].as_object().context("no paths")?;
    let mut wrong = Vec::new();
    for (path, item) in paths {
        let mut documented: BTreeSet<String> = item
            .as_object()
            .context("a path item")?
            .keys()
            .filter(|k| k.as_str() != "parameters")
            .cloned()
            .collect();
        if documented.contains("get") {
            documented.insert("head".into());
        }
        match allowed(&app, path).await? {
            Some(answered) if answered == documented => {}
            answered => wrong.push(format!(
                "{path}: documented {documented:?}, answered {answered:?}"
            )),
        }
    }
    // Every route of the JSON API and the resolver is documented. Routes outside `/api/v1`
    // and `/r/` are pages, SUSHI (COUNTER's own specification), assets and operations.
    for route in declared_routes()? {
        let full = if route.starts_with("/r/") {
            route.clone()
        } else {
            format!("/api/v1{route}")
        };
        if allowed(&app, &full).await?.is_some() && !paths.contains_key(&full) {
            wrong.push(format!("{full} is served but not documented"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(paths.len() > 30, "only {} paths", paths.len());
    Ok(())
}

/// Operations schemathesis leaves out: saving catalogue settings (and re-syncing them) makes
/// the server connect to the URL given, and generated URLs name hosts anywhere; those routes
/// are tested with real catalogues in `tests/suite/linking.rs`.
const NOT_FUZZED: [&str; 2] = ["putCatalogue", "resyncCatalogue"];

async fn schemathesis_finds_nothing(backend: Backend) -> Result<()> {
    // Schemathesis presents refused credentials and asks for many zips and exports a minute:
    // the rate limits are not what is tested here.
    let app = TestApp::on(backend).without_limits().start().await?;
    let librarian = app.librarian("A").await?;
    app.librarian("B").await?;
    let admin = app.admin().await?;
    // Something to find: an open disc and a closed one.
    let open = app
        .disc(
            &librarian,
            &iso_image(5000, 11),
            json!({"open": true, "isbn": "9787302123456"}),
        )
        .await?;
    let closed = app
        .disc(
            &librarian,
            &iso_image(5000, 12),
            json!({"barcode": "A0001"}),
        )
        .await?;
    common::wait_indexed(&app, Some(&librarian), open).await?;
    common::wait_indexed(&app, Some(&librarian), closed).await?;

    // Real identifiers, so that generated requests reach past "no such disc" into the
    // handlers; the rest of each request (paths on the disc, tracks, bodies) is generated.
    let report = tempfile::tempdir()?;
    let config = report.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[parameters]\n\"path.id\" = \"{open}\"\n\"path.code\" = \"A\"\n\"path.member\" = \"A\"\n\"query.member\" = \"A\"\n"
        ),
    )?;
    let passed = regex::Regex::new(r"(\d+) passed")?;
    for (who, token) in [("librarian", &librarian), ("admin", &admin)] {
        let mut command = Command::new(tool("SPINDLE_TEST_SCHEMATHESIS"));
        command
            .arg("--no-color")
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(app.url("/api/v1/openapi.json"))
            .args(["--url", &app.base])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
            ])
            .args(["--phases", "examples,coverage,fuzzing"])
            // One worker: with two, hypothesis parses lambdas' source in two threads at once and
            // CPython 3.11's parser fails ("AST constructor recursion depth mismatch").
            .args(["--max-examples", "25", "--seed", "1", "--workers", "1"])
            .args(["--request-timeout", "20", "--max-redirects", "0"])
            .args(["--suppress-health-check", "all"])
            .args(["--generation-database", "none"])
            .env(
                "SCHEMATHESIS_HOOKS",
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis/hooks.py"),
            )
            .current_dir(report.path());
        for id in NOT_FUZZED {
            command.args(["--exclude-operation-id", id]);
        }
        let out = command.output().context("run schemathesis")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "schemathesis as {who} on {backend:?} found problems:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // It really ran: each phase's summary counts operations that passed, none of them 0.
        let counts: Vec<u32> = passed
            .captures_iter(&stdout)
            .filter_map(|c| c[1].parse().ok())
            .collect();
        assert!(
            !counts.is_empty() && counts.iter().all(|n| *n > 0),
            "schemathesis as {who} tested nothing:\n{stdout}"
        );
        println!("schemathesis as {who} on {backend:?}:\n{stdout}");
    }
    Ok(())
}

//! Usage statistics end to end, on both backend pairs: events recorded from real reader
//! requests (what counts, what does not, robots, staff, refusals, attribution by network
//! range), 200 concurrent sessions giving exactly the expected figures, and the
//! COUNTER_SUSHI R5.1 API over rolled-up months: every answer validated against the
//! vendored COUNTER OpenAPI schema, the numbers checked, the exceptions and their statuses.

use crate::common;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use common::{Backend, TestApp, iso_image};
use serde_json::{Value, json};
use spindle::calendar::{Day, Month};
use spindle::db::usage::Fact;
use spindle::usage::{Action, Visitor, rollup};

on_both_backends!(
    reader_requests_become_events,
    concurrent_sessions_count_exactly,
    sushi_status_members_and_the_report_list,
    sushi_report_figures,
    sushi_report_exceptions,
    sushi_refusals,
    sushi_harvested_by_celus_nigiri,
    an_item_report_of_thousands_of_discs,
);

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// A member's figures for `day`, summed over discs.
pub(crate) async fn day_totals(app: &TestApp, member_id: i64, day: &str) -> Result<Fact> {
    let facts = spindle::db::usage::monthly(&app.state.db, member_id, day, day).await?;
    Ok(facts.iter().fold(Fact::default(), |a, f| Fact {
        tii: a.tii + f.tii,
        tir: a.tir + f.tir,
        uii: a.uii + f.uii,
        uir: a.uir + f.uir,
        no_license: a.no_license + f.no_license,
        views: a.views + f.views,
        downloads: a.downloads + f.downloads,
        launches: a.launches + f.launches,
        ..a
    }))
}

fn metric(facts: &Fact) -> (i64, i64, i64, i64, i64) {
    (facts.tii, facts.tir, facts.uii, facts.uir, facts.no_license)
}

async fn reader_requests_become_events(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let a = app.librarian("A").await?;
    let admin = app.admin().await?;
    let a_id = spindle::db::members::by_code(&app.state.db, "A")
        .await?
        .context("A")?
        .id;
    // The test client comes from 127.0.0.1: member A's range.
    app.set_networks(&admin, "A", &["127.0.0.0/8", "2001:db8::/32"])
        .await?;
    let open = app
        .disc(&a, &iso_image(3000, 41), json!({"open": true}))
        .await?;
    // B has no ranges: its closed disc refuses A's readers.
    let b = app.librarian("B").await?;
    let closed = app.disc(&b, &iso_image(3000, 42), json!({})).await?;
    common::wait_indexed(&app, Some(&a), open).await?;
    let reader = common::http_builder().user_agent(FIREFOX).build()?;
    let get = |path: String| reader.get(app.url(&path)).send();

    let r = get(format!("/api/v1/discs/{open}")).await?;
    assert_eq!(r.status(), 200);
    let cookie = common::header(&r, "set-cookie");
    assert!(cookie.starts_with("spindle_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert_eq!(
        get(format!("/api/v1/discs/{open}/files/")).await?.status(),
        200
    );
    assert_eq!(
        get(format!("/api/v1/discs/{open}/files/data.bin"))
            .await?
            .status(),
        200
    );
    assert_eq!(
        get(format!("/api/v1/discs/{open}/image")).await?.status(),
        200
    );
    // Later ranges of a download, HEAD, and a missing file are not usage.
    let r = reader
        .get(app.url(&format!("/api/v1/discs/{open}/image")))
        .header("range", "bytes=1000-")
        .send()
        .await?;
    assert_eq!(r.status(), 206);
    assert_eq!(
        reader
            .head(app.url(&format!("/api/v1/discs/{open}/image")))
            .send()
            .await?
            .status(),
        200
    );
    assert_eq!(
        get(format!("/api/v1/discs/{open}/files/nope"))
            .await?
            .status(),
        404
    );
    // A page's image is part of viewing the page, not a download.
    let r = reader
        .get(app.url(&format!("/api/v1/discs/{open}/files/data.bin")))
        .header("sec-fetch-dest", "image")
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    // A refusal is recorded (No_License), a robot and a librarian are not usage.
    assert_eq!(
        get(format!("/api/v1/discs/{closed}/image")).await?.status(),
        403
    );
    let robot = common::http_builder().user_agent("curl/8.5.0").build()?;
    assert_eq!(
        robot
            .get(app.url(&format!("/api/v1/discs/{open}/image")))
            .send()
            .await?
            .status(),
        200
    );
    let r = app
        .client
        .get(app.url(&format!("/api/v1/discs/{closed}/image")))
        .bearer_auth(&b)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    // SUSHI traffic is never usage.
    assert_eq!(
        reader
            .get(app.url("/sushi/r51/status"))
            .send()
            .await?
            .status(),
        200
    );

    let today = Day::today();
    let events = app.events_today().await?;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["landing", "browse", "file", "image", "no_license", "image"],
        "{events:#?}"
    );
    assert!(events.iter().all(|e| e.members == format!(",{a_id},")));
    assert_eq!(events.iter().filter(|e| e.robot).count(), 1);
    // No address, user agent or cookie is stored: only keyed hashes.
    for e in &events {
        for secret in ["127.0.0.1", "Mozilla", "spindle_session"] {
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
        }
    }

    rollup::rollup_day(&app.state.db, &app.state.config.stats.time_zone, today).await?;
    let f = day_totals(&app, a_id, &today.to_string()).await?;
    // Landing + browse + file + image: TII 4, TIR 2, one session (this client keeps no
    // cookie: its address and agent); the refusal apart.
    assert_eq!(metric(&f), (4, 2, 1, 1, 1), "{f:?}");
    assert_eq!((f.views, f.downloads, f.launches), (2, 2, 0));
    let consortium = day_totals(&app, 0, &today.to_string()).await?;
    assert_eq!(metric(&consortium), metric(&f));
    // Rolling the day again changes nothing.
    rollup::rollup_day(&app.state.db, &app.state.config.stats.time_zone, today).await?;
    assert_eq!(day_totals(&app, a_id, &today.to_string()).await?, f);

    let metrics = app.metrics().await?;
    assert!(
        metrics.contains("spindle_usage_events_recorded_total 6"),
        "{metrics}"
    );
    assert!(metrics.contains("spindle_usage_events_dropped_total 0"));

    // Only admins set ranges, and they must be ranges.
    let r = app
        .client
        .put(app.url("/api/v1/members/A/networks"))
        .bearer_auth(&a)
        .json(&json!({"cidrs": ["0.0.0.0/0"]}))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .put(app.url("/api/v1/members/A/networks"))
        .bearer_auth(&admin)
        .json(&json!({"cidrs": ["10.0.0.0/33"]}))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    Ok(())
}

/// A tiny queue: every reader is served, and every event is either written or counted as
/// dropped.
#[tokio::test]
async fn a_tiny_queue_serves_everyone_and_counts_every_event() -> Result<()> {
    let app = TestApp::on(Backend::SqliteLocal)
        .config(move |c| {
            c.stats.queue = 1;
            c.stats.flush_ms = 60_000;
        })
        .start()
        .await?;
    let a = app.librarian("A").await?;
    let disc = app
        .disc(&a, &iso_image(3000, 44), json!({"open": true}))
        .await?;
    let reader = common::http_builder().user_agent(FIREFOX).build()?;
    let answers = futures::future::join_all(
        (0..50).map(|_| reader.get(app.url(&format!("/api/v1/discs/{disc}"))).send()),
    )
    .await;
    for r in answers {
        assert_eq!(r?.status(), 200, "every reader is served");
    }
    app.state.usage.recorder.flush().await;
    let metrics = app.metrics().await?;
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (recorded, dropped) = (
        value("spindle_usage_events_recorded_total"),
        value("spindle_usage_events_dropped_total"),
    );
    // Whether any overflowed depends on timing (the recorder unit test forces it); none
    // may vanish uncounted.
    assert_eq!(recorded + dropped, 50, "{metrics}");
    Ok(())
}

async fn concurrent_sessions_count_exactly(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let a = app.librarian("A").await?;
    let admin = app.admin().await?;
    let a_id = spindle::db::members::by_code(&app.state.db, "A")
        .await?
        .context("A")?
        .id;
    app.set_networks(&admin, "A", &["127.0.0.1/32"]).await?;
    let disc = app
        .disc(&a, &iso_image(200_000, 43), json!({"open": true}))
        .await?;
    // 200 sessions at once, each with its own cookie: a landing view, then the image
    // twice (a double-click), then the first 64 KiB and a later range (an in-browser
    // reader's pattern: only the range from byte 0 is a new download, and it is the same
    // URL within 30 s, so it merges too).
    let mut tasks = Vec::new();
    for i in 0..200 {
        let base = app.base.clone();
        tasks.push(tokio::spawn(async move {
            let c = common::http_builder().user_agent(FIREFOX).build()?;
            let cookie = format!("spindle_session={:032x}", i + 1);
            let go = |path: String, range: Option<&'static str>| {
                let mut r = c
                    .get(format!("{base}{path}"))
                    .header("cookie", cookie.clone());
                if let Some(range) = range {
                    r = r.header("range", range);
                }
                r.send()
            };
            go(format!("/api/v1/discs/{disc}"), None)
                .await?
                .bytes()
                .await?;
            for range in [
                None,
                None,
                Some("bytes=0-65535"),
                Some("bytes=65536-131071"),
            ] {
                go(format!("/api/v1/discs/{disc}/image"), range)
                    .await?
                    .bytes()
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    app.state.usage.recorder.flush().await;
    let today = Day::today();
    rollup::rollup_day(&app.state.db, &app.state.config.stats.time_zone, today).await?;
    let f = day_totals(&app, a_id, &today.to_string()).await?;
    assert_eq!(metric(&f), (400, 200, 200, 200, 0), "{f:?}");
    Ok(())
}

/// The COUNTER API spec (vendored), with its one broken pattern patched.
fn spec() -> Value {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/counter/COUNTER_API.json"),
    )
    .expect("spec")
    .replace("{1,3,4}", "{1,4}");
    serde_json::from_str(&text).expect("spec json")
}

fn validate(spec: &Value, schema: Value, instance: &Value) {
    let mut wrapper = schema;
    wrapper["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    wrapper["components"] = spec["components"].clone();
    let validator = jsonschema::validator_for(&wrapper).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{instance:#}");
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn array_of(name: &str) -> Value {
    json!({"type": "array", "minItems": 1, "items": reference(name)})
}

/// The first month of the `n`th month before this one (`YYYY-MM`).
fn months_ago(n: u32) -> String {
    Month::current().back(n).to_string()
}

/// Two members (B's ranges overlap A's), two discs of A's, and a planned month of reader
/// actions three months ago and one a month ago (none two months ago), rolled up; keys for
/// A and the consortium. Every SUSHI test starts from it.
struct World {
    app: TestApp,
    spec: Value,
    /// A's second disc (the one refused once, for No_License).
    d2: i64,
    m1: String,
    m2: String,
    m3: String,
    key_a: String,
    key_c: String,
}

impl World {
    async fn new(backend: Backend) -> Result<Self> {
        let app = TestApp::start(backend).await?;
        let a = app.librarian("A").await?;
        app.librarian("B").await?;
        let member = |code: &'static str| {
            let db = app.state.db.clone();
            async move {
                anyhow::Ok(
                    spindle::db::members::by_code(&db, code)
                        .await?
                        .context("member")?
                        .id,
                )
            }
        };
        let (a_id, b_id) = (member("A").await?, member("B").await?);
        spindle::db::usage::set_networks(&app.state.db, a_id, &["192.0.2.0/24".into()]).await?;
        spindle::db::usage::set_networks(
            &app.state.db,
            b_id,
            &["192.0.2.128/25".into(), "198.51.100.0/24".into()],
        )
        .await?;
        app.state.usage.networks.invalidate();
        let d1 = app.disc(&a, &iso_image(2000, 51), json!({})).await?;
        let d2 = app.disc(&a, &iso_image(2000, 52), json!({})).await?;
        common::wait_indexed(&app, Some(&a), d1).await?;
        common::wait_indexed(&app, Some(&a), d2).await?;

        // Usage three and one months ago, none two months ago.
        let (m1, m2, m3) = (months_ago(3), months_ago(2), months_ago(1));
        let at = |month: &str, day: u32, h: i64, s: i64| {
            Day::parse(&format!("{month}-{day:02}"))
                .expect("day")
                .start_ms()
                + h * 3_600_000
                + s * 1000
        };
        let who = |ip: &str, ua: &str| Visitor {
            ip: ip.parse().expect("ip"),
            user_agent: Some(ua.into()),
            cookie: None,
        };
        let v1 = who("192.0.2.10", FIREFOX); // A
        let v2 = who("192.0.2.200", FIREFOX); // A and B
        let robot = who("192.0.2.11", "Googlebot/2.1");
        let world = who("203.0.113.5", FIREFOX); // nobody
        let url = |d: i64, what: &str| format!("GET /api/v1/discs/{d}/{what}");
        let plan: Vec<(&Visitor, i64, Action, i64, String, u16)> = vec![
            (
                &v1,
                at(&m1, 5, 10, 0),
                Action::Landing,
                d1,
                format!("GET /api/v1/discs/{d1}"),
                200,
            ),
            (
                &v1,
                at(&m1, 5, 10, 5),
                Action::Image,
                d1,
                url(d1, "image"),
                200,
            ),
            (
                &v1,
                at(&m1, 5, 10, 15),
                Action::Image,
                d1,
                url(d1, "image"),
                200,
            ),
            (
                &v1,
                at(&m1, 5, 10, 20),
                Action::Image,
                d2,
                url(d2, "image"),
                200,
            ),
            (
                &v2,
                at(&m1, 6, 9, 0),
                Action::Image,
                d1,
                url(d1, "image"),
                200,
            ),
            (
                &robot,
                at(&m1, 6, 9, 0),
                Action::Image,
                d1,
                url(d1, "image"),
                200,
            ),
            (
                &world,
                at(&m1, 6, 9, 0),
                Action::Image,
                d1,
                url(d1, "image"),
                200,
            ),
            (
                &v1,
                at(&m1, 7, 9, 0),
                Action::NoLicense,
                d2,
                url(d2, "image"),
                401,
            ),
            (
                &v1,
                at(&m3, 2, 14, 0),
                Action::File,
                d1,
                url(d1, "files/data.bin"),
                200,
            ),
            (
                &v1,
                at(&m3, 2, 14, 40),
                Action::File,
                d1,
                url(d1, "files/data.bin"),
                200,
            ),
        ];
        app.record_planned(plan).await?;
        let rolled = rollup::catch_up(&app.state.db, &app.state.config.stats).await?;
        assert!(rolled.len() >= 60, "{} days rolled", rolled.len());
        assert!(
            rollup::catch_up(&app.state.db, &app.state.config.stats)
                .await?
                .is_empty(),
            "nothing left to roll"
        );

        let mut world = World {
            spec: spec(),
            d2,
            m1,
            m2,
            m3,
            key_a: String::new(),
            key_c: String::new(),
            app,
        };
        world.key_a = world.key(Some("A")).await?;
        world.key_c = world.key(None).await?;
        Ok(world)
    }

    /// A new SUSHI key for `member`, or the consortium's.
    async fn key(&self, member: Option<&'static str>) -> Result<String> {
        let (k, hash) = spindle::auth::generate_token();
        let id = match member {
            Some(code) => Some(
                spindle::db::members::by_code(&self.app.state.db, code)
                    .await?
                    .context("member")?
                    .id,
            ),
            None => None,
        };
        spindle::db::usage::insert_sushi_key(&self.app.state.db, id, &hash).await?;
        Ok(k)
    }

    /// The answer to a GET of `/sushi/r51/{path}` with `query`.
    async fn get(&self, path: &str, query: Vec<(&str, String)>) -> Result<reqwest::Response> {
        let mut qs = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &query {
            qs.append_pair(k, v);
        }
        Ok(self
            .app
            .client
            .get(self.app.url(&format!("/sushi/r51/{path}?{}", qs.finish())))
            .send()
            .await?)
    }

    /// GETs `/sushi/r51/{path}` with `query`: the status and the JSON body.
    async fn sushi(&self, path: &str, query: Vec<(&str, String)>) -> Result<(u16, Value)> {
        let r = self.get(path, query).await?;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// A report that must answer 200 and validate against COUNTER's schema.
    async fn report(&self, id: &str, query: Vec<(&str, String)>) -> Result<Value> {
        let (s, body) = self.sushi(&format!("reports/{id}"), query).await?;
        assert_eq!(s, 200, "{body:#}");
        validate(&self.spec, reference(&id.to_uppercase()), &body);
        Ok(body)
    }
}

fn creds(customer: &str, k: &str) -> Vec<(&'static str, String)> {
    vec![
        ("customer_id", customer.to_string()),
        ("api_key", k.to_string()),
    ]
}

fn range(from: &str, to: &str) -> Vec<(&'static str, String)> {
    vec![
        ("begin_date", from.to_string()),
        ("end_date", to.to_string()),
    ]
}

async fn sushi_status_members_and_the_report_list(backend: Backend) -> Result<()> {
    let w = World::new(backend).await?;
    let (m1, m3) = (w.m1.clone(), w.m3.clone());
    let (key_a, key_c) = (w.key_a.clone(), w.key_c.clone());
    // Status: public.
    let (s, status) = w.sushi("status", vec![]).await?;
    assert_eq!(s, 200);
    validate(
        &w.spec,
        json!({"type": "array", "minItems": 1, "items": reference("Status")}),
        &status,
    );
    assert_eq!(status[0]["Service_Active"], true);
    assert_eq!(
        w.app
            .client
            .get(w.app.url("/sushi/r51/foo"))
            .send()
            .await?
            .status(),
        404
    );
    assert_eq!(
        w.app
            .client
            .get(w.app.url("/sushi/r5/status"))
            .send()
            .await?
            .status(),
        404
    );

    // Members and the report list.
    let (s, members) = w.sushi("members", creds("consortium", &key_c)).await?;
    assert_eq!(s, 200);
    validate(&w.spec, array_of("Member"), &members);
    let ids: Vec<&str> = members
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["Customer_ID"].as_str())
        .collect();
    assert_eq!(ids, ["consortium", "A", "B"]);
    let (_, members_a) = w.sushi("members", creds("A", &key_a)).await?;
    assert_eq!(members_a.as_array().map(Vec::len), Some(1));
    let (s, list) = w.sushi("reports", creds("A", &key_a)).await?;
    assert_eq!(s, 200);
    validate(&w.spec, array_of("Report"), &list);
    let paths: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["Path"].as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "/r51/reports/pr",
            "/r51/reports/pr_p1",
            "/r51/reports/ir",
            "/r51/reports/ir_m1"
        ]
    );
    assert_eq!(list[0]["First_Month_Available"], m1);
    assert_eq!(list[0]["Last_Month_Available"], m3);

    Ok(())
}

/// PR, IR, PR_P1 and IR_M1 with the numbers the plan gives, per member and for the
/// consortium, by month and in total.
async fn sushi_report_figures(backend: Backend) -> Result<()> {
    let w = World::new(backend).await?;
    let (m1, m3) = (w.m1.clone(), w.m3.clone());
    let (key_a, key_c) = (w.key_a.clone(), w.key_c.clone());
    let d2 = w.d2;
    let months = range(&m1, &m3);
    let pr = w
        .report("pr", [creds("A", &key_a), months.clone()].concat())
        .await?;
    let perf = &pr["Report_Items"][0]["Attribute_Performance"][0];
    assert_eq!(perf["Data_Type"], "Multimedia");
    assert_eq!(
        perf["Performance"]["Total_Item_Requests"],
        json!({ &m1: 3, &m3: 2 }),
        "{pr:#}"
    );
    assert_eq!(
        perf["Performance"]["Total_Item_Investigations"],
        json!({ &m1: 4, &m3: 2 })
    );
    assert_eq!(
        perf["Performance"]["Unique_Item_Requests"],
        json!({ &m1: 3, &m3: 1 })
    );
    assert!(perf["Performance"].get("Unique_Title_Requests").is_none());
    let header = &pr["Report_Header"];
    assert_eq!(
        header["Institution_ID"]["Proprietary"],
        json!(["spindle:A"])
    );
    assert_eq!(header["Report_Filters"]["Begin_Date"], format!("{m1}-01"));
    assert!(header.get("Exceptions").is_none(), "{header:#}");
    assert!(header.get("Report_Attributes").is_none());

    let ir = w
        .report(
            "ir",
            [
                creds("A", &key_a),
                months.clone(),
                vec![("attributes_to_show", "yop|access_type".into())],
            ]
            .concat(),
        )
        .await?;
    let items = ir["Report_Items"][0]["Items"].as_array().context("items")?;
    assert_eq!(items.len(), 2, "{ir:#}");
    let item = |d: i64| {
        items
            .iter()
            .find(|i| i["Item_ID"]["Proprietary"] == format!("spindle:disc-{d}"))
            .expect("item")
    };
    let p2 = &item(d2)["Attribute_Performance"][0];
    assert_eq!(p2["YOP"], "0001");
    assert_eq!(p2["Access_Type"], "Controlled");
    assert_eq!(p2["Performance"]["No_License"], json!({ &m1: 1 }));
    assert_eq!(p2["Performance"]["Total_Item_Requests"], json!({ &m1: 1 }));
    assert_eq!(
        ir["Report_Header"]["Report_Attributes"]["Attributes_To_Show"],
        json!(["YOP", "Access_Type"])
    );
    // IR sums to PR.
    let ir_tir: i64 = items
        .iter()
        .flat_map(|i| {
            i["Attribute_Performance"][0]["Performance"]["Total_Item_Requests"]
                .as_object()
                .cloned()
                .unwrap_or_default()
        })
        .map(|(_, v)| v.as_i64().unwrap_or(0))
        .sum();
    assert_eq!(ir_tir, 5);
    // A consortium's Item Report names every disc used (134,600 for a month at a tenth of
    // national scale): more than one statement may bind (65,535 on PostgreSQL, 32,766 on
    // SQLite). The names are asked in chunks; this failed with "too many arguments" before.
    let many: Vec<i64> = std::iter::once(d2)
        .chain((1..=70_000).map(|n| -n))
        .collect();
    let names = spindle::db::usage::disc_names(&w.app.state.db, &many).await?;
    assert_eq!(
        names.iter().map(|(id, ..)| *id).collect::<Vec<_>>(),
        vec![d2]
    );
    // The platform table the PR reads holds the per-disc figures' sums, day by day.
    let per_disc = spindle::db::usage::monthly(&w.app.state.db, 0, "0000", "9999").await?;
    let platform = spindle::db::usage::monthly_platform(&w.app.state.db, 0, "0000", "9999").await?;
    ensure!(
        !platform.is_empty(),
        "the consortium's platform rows are there"
    );
    for p in &platform {
        let sum = |f: &dyn Fn(&spindle::db::usage::Fact) -> i64| -> i64 {
            per_disc
                .iter()
                .filter(|d| d.day == p.day && d.data_type == p.data_type)
                .map(f)
                .sum()
        };
        assert_eq!(
            (p.tii, p.tir, p.uii, p.uir, p.no_license, p.limit_exceeded),
            (
                sum(&|d| d.tii),
                sum(&|d| d.tir),
                sum(&|d| d.uii),
                sum(&|d| d.uir),
                sum(&|d| d.no_license),
                sum(&|d| d.limit_exceeded)
            ),
            "{} {}",
            p.day,
            p.data_type
        );
    }
    // And no day's figures without their platform row.
    for d in &per_disc {
        ensure!(
            platform
                .iter()
                .any(|p| p.day == d.day && p.data_type == d.data_type),
            "{} {} has per-disc figures and no platform row",
            d.day,
            d.data_type
        );
    }
    // Migration 0017 fills the same rows from the per-disc figures already rolled up.
    let all_rows = || async {
        anyhow::Ok(spindle::db::on_pool!(&w.app.state.db, pool => {
            sqlx::query_as::<_, (String, i64, String, i64, i64, i64, i64, i64, i64, i64, i64, i64)>(
                "SELECT day, member_id, data_type, tii, tir, uii, uir, no_license, limit_exceeded,
                        views, downloads, launches
                 FROM usage_platform_daily ORDER BY member_id, day, data_type",
            )
            .fetch_all(pool)
            .await?
        }))
    };
    let kept = all_rows().await?;
    common::refill(
        &w.app,
        "usage_platform_daily",
        "0017_create_usage_platform_daily",
    )
    .await?;
    ensure!(
        all_rows().await? == kept,
        "0017's backfill makes the rollup's platform rows"
    );

    let pr_p1 = w
        .report("pr_p1", [creds("A", &key_a), months.clone()].concat())
        .await?;
    assert_eq!(
        pr_p1["Report_Items"][0]["Attribute_Performance"][0]["Performance"]["Total_Item_Requests"],
        json!({ &m1: 3, &m3: 2 })
    );
    let ir_m1 = w
        .report("ir_m1", [creds("A", &key_a), months.clone()].concat())
        .await?;
    assert_eq!(
        ir_m1["Report_Items"][0]["Items"].as_array().map(Vec::len),
        Some(2)
    );

    // B sees only the reader in both ranges; the consortium counts that reader once.
    let key_b = w.key(Some("B")).await?;
    let pr_b = w
        .report("pr", [creds("B", &key_b), months.clone()].concat())
        .await?;
    assert_eq!(
        pr_b["Report_Items"][0]["Attribute_Performance"][0]["Performance"]["Total_Item_Requests"],
        json!({ &m1: 1 })
    );
    let pr_c = w
        .report("pr", [creds("consortium", &key_c), months.clone()].concat())
        .await?;
    assert_eq!(
        pr_c["Report_Items"][0]["Attribute_Performance"][0]["Performance"]["Total_Item_Requests"],
        json!({ &m1: 3, &m3: 2 })
    );
    w.report("ir", [creds("B", &key_c), months.clone()].concat())
        .await?;

    // Granularity=Total: one key, the first month.
    let total = w
        .report(
            "pr",
            [
                creds("A", &key_a),
                months.clone(),
                vec![("granularity", "Total".into())],
            ]
            .concat(),
        )
        .await?;
    assert_eq!(
        total["Report_Items"][0]["Attribute_Performance"][0]["Performance"]["Total_Item_Requests"],
        json!({ &m1: 5 })
    );

    Ok(())
}

/// An Item Report of more discs than are named in one batch (1,000): its items are spooled
/// and sent after the header, whole, in disc order, each with its own figures, and the
/// answer's length is what it says.
async fn an_item_report_of_thousands_of_discs(backend: Backend) -> Result<()> {
    let w = World::new(backend).await?;
    let a = spindle::db::members::by_code(&w.app.state.db, "A")
        .await?
        .context("member")?
        .id;
    // Two months ago had no usage: these rows are that month's whole IR (discs that are gone
    // keep their figures, named by nothing).
    let day = format!("{}-15", w.m2);
    let discs = 2_345_i64;
    for chunk in (0..discs).collect::<Vec<_>>().chunks(500) {
        spindle::db::on_pool!(&w.app.state.db, pool => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO usage_daily (day, member_id, disc_id, data_type, access_type, yop, tii, tir, uii, uir, no_license, limit_exceeded, views, downloads, launches) ",
            );
            qb.push_values(chunk, |mut row, i| {
                row.push_bind(&day)
                    .push_bind(a)
                    .push_bind(1_000_000 + i)
                    .push_bind("Multimedia")
                    .push_bind("Controlled")
                    .push_bind("0001")
                    .push_bind(i + 1)
                    .push_bind(i + 1)
                    .push_bind(1_i64)
                    .push_bind(1_i64)
                    .push_bind(0_i64)
                    .push_bind(0_i64)
                    .push_bind(0_i64)
                    .push_bind(i + 1)
                    .push_bind(0_i64);
            });
            qb.build().execute(pool).await?;
        });
    }
    let r = w
        .get(
            "reports/ir",
            [creds("A", &w.key_a), range(&w.m2, &w.m2)].concat(),
        )
        .await?;
    ensure!(r.status() == 200, "{}", r.status());
    let length: usize = common::header(&r, "content-length").parse()?;
    let body = r.bytes().await?;
    ensure!(body.len() == length, "{} bytes of {length}", body.len());
    let ir: Value = serde_json::from_slice(&body)?;
    ensure!(
        ir["Report_Header"]["Report_ID"] == "IR" && ir["Report_Header"].get("Exceptions").is_none(),
        "{:#}",
        ir["Report_Header"]
    );
    let items = ir["Report_Items"][0]["Items"].as_array().context("items")?;
    ensure!(items.len() == discs as usize, "{} items", items.len());
    for (i, item) in items.iter().enumerate() {
        let id = 1_000_000 + i as i64;
        let perf = &item["Attribute_Performance"][0]["Performance"];
        ensure!(
            item["Item_ID"]["Proprietary"] == format!("spindle:disc-{id}")
                && perf["Total_Item_Requests"] == json!({ &w.m2: i + 1 })
                && perf["Unique_Item_Requests"] == json!({ &w.m2: 1 }),
            "item {i}: {item}"
        );
    }
    Ok(())
}

/// Months without usage, not yet ready or before the first, and parameters not understood:
/// exceptions in the header, with what there is.
async fn sushi_report_exceptions(backend: Backend) -> Result<()> {
    let w = World::new(backend).await?;
    let (m1, m3) = (w.m1.clone(), w.m3.clone());
    let key_a = w.key_a.clone();
    let m2 = w.m2.clone();
    let months = range(&m1, &m3);
    // A month without usage: 3030 and no items.
    let empty = w
        .report("pr", [creds("A", &key_a), range(&m2, &m2)].concat())
        .await?;
    assert_eq!(empty["Report_Items"], json!([]));
    assert_eq!(empty["Report_Header"]["Exceptions"][0]["Code"], 3030);
    // Up to this month: the rest is not ready (3031), and End_Date says what is covered.
    let this_month = months_ago(0);
    let partial = w
        .report("pr", [creds("A", &key_a), range(&m3, &this_month)].concat())
        .await?;
    assert_eq!(partial["Report_Header"]["Exceptions"][0]["Code"], 3031);
    assert_eq!(
        partial["Report_Header"]["Report_Filters"]["End_Date"],
        format!("{m3}-{}", &common_last_day(&m3))
    );
    assert!(
        !partial["Report_Items"]
            .as_array()
            .context("items")?
            .is_empty()
    );
    // Before the first month: 3032, with what there is.
    let early = w
        .report("pr", [creds("A", &key_a), range("2020-01", &m1)].concat())
        .await?;
    assert_eq!(early["Report_Header"]["Exceptions"][0]["Code"], 3032);
    assert!(
        !early["Report_Items"]
            .as_array()
            .context("items")?
            .is_empty()
    );
    // Ignored parameters and values are named.
    let odd = w
        .report(
            "ir",
            [
                creds("A", &key_a),
                months.clone(),
                vec![
                    ("foo", "bar".into()),
                    ("metric_type", "Bogus".into()),
                    ("include_component_details", "True".into()),
                ],
            ]
            .concat(),
        )
        .await?;
    let codes: Vec<i64> = odd["Report_Header"]["Exceptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["Code"].as_i64())
        .collect();
    assert_eq!(codes, [3050, 3060, 3063]);

    Ok(())
}

/// Requests refused: one Exception object with COUNTER's status, and unknown paths.
async fn sushi_refusals(backend: Backend) -> Result<()> {
    let w = World::new(backend).await?;
    let (m1, m3) = (w.m1.clone(), w.m3.clone());
    let (key_a, key_c) = (w.key_a.clone(), w.key_c.clone());
    let this_month = months_ago(0);
    // Errors: one Exception object with COUNTER's status.
    for (query, status, code) in [
        (range(&m1, &m3), 400, 1030),
        ([creds("A", "wrong"), range(&m1, &m3)].concat(), 401, 2020),
        (
            [
                vec![
                    ("customer_id", "A".to_string()),
                    ("requestor_id", "x".to_string()),
                ],
                range(&m1, &m3),
            ]
            .concat(),
            401,
            2000,
        ),
        ([creds("B", &key_a), range(&m1, &m3)].concat(), 403, 2010),
        (
            [creds("consortium", &key_a), range(&m1, &m3)].concat(),
            403,
            2010,
        ),
        (
            [creds("0000000000000000", &key_c), range(&m1, &m3)].concat(),
            403,
            2011,
        ),
        (creds("A", &key_a), 400, 1030),
        ([creds("A", &key_a), range(&m3, &m1)].concat(), 400, 3020),
        (
            [creds("A", &key_a), range(&this_month, &this_month)].concat(),
            400,
            3020,
        ),
        (
            [creds("A", &key_a), range("2025-13", &m3)].concat(),
            400,
            3020,
        ),
    ] {
        let (s, body) = w.sushi("reports/pr", query).await?;
        assert_eq!((s, body["Code"].as_i64()), (status, Some(code)), "{body}");
        validate(&w.spec, reference(&format!("Exception_{code}")), &body);
    }
    let (s, body) = w.sushi("reports/tr", creds("A", &key_a)).await?;
    assert_eq!(s, 404, "{body}");

    Ok(())
}

async fn sushi_harvested_by_celus_nigiri(backend: Backend) -> Result<()> {
    let w = World::new(backend).await?;
    harvest_with_celus_nigiri(&w.app, &w.key_a, &w.m1, &w.m3).await
}

/// The day of the month (`DD`) of a `YYYY-MM` month's last day.
fn common_last_day(month: &str) -> String {
    let last = Month::parse(month).expect("month").last_day().to_string();
    last.rsplit('-').next().unwrap_or_default().to_string()
}

/// A real harvester: celus-nigiri (the library Celus harvests with), from PyPI, fetches
/// PR, PR_P1, IR and IR_M1 from the running server and reads them without errors.
async fn harvest_with_celus_nigiri(app: &TestApp, key: &str, from: &str, to: &str) -> Result<()> {
    let python = std::env::var("SPINDLE_TEST_SUSHI_PYTHON").unwrap_or_else(|_| {
        panic!("SPINDLE_TEST_SUSHI_PYTHON is not set: run the suite with scripts/test.sh, which installs celus-nigiri")
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sushi/harvest.py");
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(python)
            .arg(script)
            .args([&format!("{}/sushi", app.base), "A", key, from, to])
            .output(),
    )
    .await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "harvest failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_str(stdout.trim()).context("harvest output")?;
    for report in ["pr", "pr_p1", "ir", "ir_m1"] {
        assert_eq!(got[report]["errors"], json!([]), "{report}: {got:#}");
    }
    assert_eq!(got["pr"]["totals"]["Total_Item_Requests"], 5, "{got:#}");
    assert_eq!(got["pr_p1"]["totals"]["Total_Item_Requests"], 5, "{got:#}");
    assert_eq!(got["ir"]["totals"]["Total_Item_Requests"], 5, "{got:#}");
    assert_eq!(got["ir"]["totals"]["No_License"], 1, "{got:#}");
    assert_eq!(got["ir_m1"]["totals"]["Unique_Item_Requests"], 4, "{got:#}");
    Ok(())
}

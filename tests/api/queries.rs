//! The list query language (DESIGN.md §4) on the management list and on delivery:
//! every filter operator on several field types, `or`/`and` groups, sorting with nulls
//! and ties, keyset pagination, field selection, limits, and private fields on delivery.
//!
//! Each test seeds 30 entries with varied (and sometimes missing) values, keeps what the
//! server answered as the model, and computes every expected answer from that model.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    filters_match_the_data,
    icontains_ignores_case_beyond_ascii,
    sorting_orders_values_with_nulls_and_ties,
    keyset_pagination_walks_every_page,
    default_order_pages_follow_next_cursor,
    field_selection_and_limits,
    delivery_lists_published_entries_without_private_fields,
);

const MANAGE: &str = "/api/v1/manage/entries/gadget";
const DELIVER: &str = "/api/v1/content/gadget";
const N: usize = 30;

const WORDS: [&str; 10] = [
    "Apple", "Banana", "Cherry", "Damson", "Elder", "Fig", "Grape", "Hazel", "Kiwi", "Lemon",
];
const NOTES: [Option<&str>; 8] = [
    Some("Red fox"),
    Some("red panda"),
    Some("RED alert"),
    Some("50% off"),
    Some("snake_case"),
    Some("Émile's CAFÉ"),
    None,
    Some("blue whale"),
];

/// Some fields are `indexed`, so the same filters, sorts and pages also run over the
/// expression indexes the server builds for them.
fn gadget_type() -> Value {
    json!({"api_id": "gadget", "name": "Gadget", "options": {"title_field": "title"},
    "fields": [
        {"name": "title", "type": "text", "required": true},
        {"name": "rating", "type": "integer", "indexed": true, "validations": {"min": 1, "max": 5}},
        {"name": "price", "type": "decimal", "indexed": true},
        {"name": "active", "type": "boolean", "indexed": true},
        {"name": "released", "type": "date"},
        {"name": "starts_at", "type": "datetime", "indexed": true},
        {"name": "category", "type": "enum", "values": ["news", "guide", "review"]},
        {"name": "note", "type": "text"},
        {"name": "secret", "type": "integer", "private": true}
    ]})
}

/// The i-th entry's input: every field type, each missing for some entries, with
/// duplicates, and datetimes given in two different offsets.
fn input(i: usize) -> Value {
    let mut f = Map::new();
    f.insert(
        "title".into(),
        json!(format!("{} {:02}", WORDS[(i * 3) % WORDS.len()], i)),
    );
    if i % 7 != 3 {
        f.insert("rating".into(), json!((i * 3) % 5 + 1));
    }
    if i % 6 != 5 {
        f.insert("price".into(), json!((i % 9) as f64 * 2.5 + 0.25));
    }
    if i % 4 != 2 {
        f.insert("active".into(), json!(!i.is_multiple_of(3)));
    }
    if i % 5 != 1 {
        let d = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date")
            + Duration::days(((i * 13) % 40) as i64);
        f.insert("released".into(), json!(d.format("%Y-%m-%d").to_string()));
    }
    if i % 8 != 6 {
        let utc = Utc
            .with_ymd_and_hms(2024, 6, 1, 0, 0, 0)
            .single()
            .expect("time")
            + Duration::hours(((i * 37) % 50) as i64)
            + Duration::minutes(((i * 7) % 60) as i64);
        let offset = if i.is_multiple_of(2) {
            FixedOffset::east_opt(2 * 3600)
        } else {
            FixedOffset::west_opt(5 * 3600)
        }
        .expect("offset");
        f.insert(
            "starts_at".into(),
            json!(utc.with_timezone(&offset).to_rfc3339()),
        );
    }
    match i % 4 {
        0 => {
            f.insert("category".into(), json!("news"));
        }
        1 => {
            f.insert("category".into(), json!("guide"));
        }
        2 => {
            f.insert("category".into(), json!("review"));
        }
        _ => {}
    }
    if let Some(note) = NOTES[i % NOTES.len()] {
        f.insert("note".into(), json!(note));
    }
    if i % 10 != 9 {
        f.insert("secret".into(), json!((i * 7) % 11));
    }
    Value::Object(f)
}

/// One entry as the server answered: the draft (management) and the published copy.
#[derive(Clone, Debug)]
struct Item {
    id: String,
    created_at: String,
    draft: Value,
    published: Option<Value>,
}

struct Seeded {
    app: TestApp,
    items: Vec<Item>,
}

/// 30 entries; two thirds published; some published ones then get a different draft
/// rating, so drafts and published copies disagree.
async fn seed(backend: Backend) -> Seeded {
    let app = TestApp::spawn(backend).await;
    app.create_type(gadget_type()).await;
    let mut items = Vec::new();
    for i in 0..N {
        let e = app.create_entry("gadget", input(i)).await;
        items.push(Item {
            id: e["id"].as_str().expect("id").to_string(),
            created_at: e["created_at"].as_str().expect("created_at").to_string(),
            draft: e["fields"].clone(),
            published: None,
        });
    }
    for (i, item) in items.iter_mut().enumerate() {
        if i % 3 == 2 {
            continue;
        }
        let p = app.publish("gadget", &item.id).await;
        item.published = Some(p["fields"].clone());
        if i % 5 == 0 {
            // Always different from the published rating (and a null becomes a value).
            let new_rating = item.draft["rating"].as_i64().map_or(4, |r| (r + 2) % 5 + 1);
            let (status, body) = send(
                app.req(Method::PATCH, &format!("{MANAGE}/{}", item.id))
                    .json(&json!({"fields": {"rating": new_rating}})),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            item.draft = body["fields"].clone();
        }
    }
    Seeded { app, items }
}

fn qs(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Surface {
    Manage,
    Delivery,
}

async fn list(app: &TestApp, surface: Surface, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
    let query = qs(pairs);
    match surface {
        Surface::Manage => send(app.req(Method::GET, &format!("{MANAGE}?{query}"))).await,
        Surface::Delivery => {
            send(app.req_as(None, Method::GET, &format!("{DELIVER}?{query}"))).await
        }
    }
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {body}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every matching id in one page of 100 (there are only 30 entries).
async fn all_ids(app: &TestApp, surface: Surface, pairs: &[(&str, &str)]) -> (Vec<String>, Value) {
    let mut p = pairs.to_vec();
    p.push(("limit", "100"));
    let (status, body) = list(app, surface, &p).await;
    assert_eq!(status, StatusCode::OK, "{pairs:?}: {body}");
    assert!(body["next_cursor"].is_null(), "{pairs:?}: {body}");
    (ids(&body), body)
}

fn doc(item: &Item, surface: Surface) -> &Value {
    match surface {
        Surface::Manage => &item.draft,
        Surface::Delivery => item.published.as_ref().expect("published"),
    }
}

fn visible(items: &[Item], surface: Surface) -> Vec<&Item> {
    items
        .iter()
        .filter(|i| surface == Surface::Manage || i.published.is_some())
        .collect()
}

fn int(f: &Value, k: &str) -> Option<i64> {
    f[k].as_i64()
}
fn num(f: &Value, k: &str) -> Option<f64> {
    f[k].as_f64()
}
fn text<'a>(f: &'a Value, k: &str) -> Option<&'a str> {
    f[k].as_str()
}
fn flag(f: &Value, k: &str) -> Option<bool> {
    f[k].as_bool()
}
fn instant(f: &Value, k: &str) -> Option<DateTime<Utc>> {
    f[k].as_str().map(|s| {
        DateTime::parse_from_rfc3339(s)
            .unwrap_or_else(|_| panic!("server returned a bad datetime `{s}`"))
            .with_timezone(&Utc)
    })
}
fn rfc3339(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("datetime")
        .with_timezone(&Utc)
}

type Pred<'a> = Box<dyn Fn(&Item, &Value) -> bool + 'a>;

/// Runs each (query, predicate) on `surface` and compares the id sets and totals.
async fn check_filters(
    app: &TestApp,
    items: &[Item],
    surface: Surface,
    cases: Vec<(Vec<(&str, &str)>, Pred<'_>)>,
) {
    let pool = visible(items, surface);
    for (pairs, pred) in cases {
        let want: BTreeSet<String> = pool
            .iter()
            .filter(|i| pred(i, doc(i, surface)))
            .map(|i| i.id.clone())
            .collect();
        assert!(
            !want.is_empty() && want.len() < pool.len(),
            "test data does not discriminate {pairs:?} ({} of {})",
            want.len(),
            pool.len()
        );
        let (got, body) = all_ids(app, surface, &pairs).await;
        let got_set: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(got.len(), got_set.len(), "duplicate ids for {pairs:?}");
        if got_set != want {
            let title = |id: &String| {
                pool.iter()
                    .find(|i| &i.id == id)
                    .map(|i| doc(i, surface).to_string())
                    .unwrap_or_default()
            };
            let missing: Vec<String> = want.difference(&got_set).map(title).collect();
            let extra: Vec<String> = got_set.difference(&want).map(title).collect();
            panic!(
                "{surface:?} {pairs:?}: wrong entries\n  missing: {missing:#?}\n  unexpected: {extra:#?}"
            );
        }
        assert_eq!(body["total"], want.len(), "total for {pairs:?}");
    }
}

// ---------------------------------------------------------------------------------------

async fn filters_match_the_data(backend: Backend) {
    let Seeded { app, items } = seed(backend).await;
    let m = Surface::Manage;

    // Values taken from the data for equality tests.
    let a_date = text(&items[0].draft, "released")
        .expect("item 0 has a date")
        .to_string();
    let other_date = items
        .iter()
        .filter_map(|i| text(&i.draft, "released"))
        .find(|d| *d != a_date)
        .expect("a second date")
        .to_string();
    let an_instant = instant(&items[2].draft, "starts_at").expect("item 2 has starts_at");
    // The same instant written in another offset must match.
    let in_other_offset = an_instant
        .with_timezone(&FixedOffset::east_opt(9 * 3600 + 1800).expect("offset"))
        .to_rfc3339();
    let boundary = "2024-06-02T10:00:00+02:00";
    let boundary_utc = rfc3339(boundary);
    let middle_created = items[N / 2].created_at.clone();
    let two_ids = format!("{},{}", items[4].id, items[11].id);
    let two_dates = format!("{a_date},{other_date}");

    let cases: Vec<(Vec<(&str, &str)>, Pred)> = vec![
        // integer
        (
            vec![("filter[rating][eq]", "3")],
            Box::new(|_, f| int(f, "rating") == Some(3)),
        ),
        (
            vec![("filter[rating][ne]", "3")],
            Box::new(|_, f| int(f, "rating") != Some(3)),
        ),
        (
            vec![("filter[rating][lt]", "3")],
            Box::new(|_, f| int(f, "rating").is_some_and(|r| r < 3)),
        ),
        (
            vec![("filter[rating][lte]", "3")],
            Box::new(|_, f| int(f, "rating").is_some_and(|r| r <= 3)),
        ),
        (
            vec![("filter[rating][gt]", "3")],
            Box::new(|_, f| int(f, "rating").is_some_and(|r| r > 3)),
        ),
        (
            vec![("filter[rating][gte]", "3")],
            Box::new(|_, f| int(f, "rating").is_some_and(|r| r >= 3)),
        ),
        (
            vec![("filter[rating][in]", "1,4")],
            Box::new(|_, f| matches!(int(f, "rating"), Some(1 | 4))),
        ),
        (
            vec![("filter[rating][nin]", "1,4")],
            Box::new(|_, f| !matches!(int(f, "rating"), Some(1 | 4))),
        ),
        (
            vec![("filter[rating][null]", "true")],
            Box::new(|_, f| f["rating"].is_null()),
        ),
        (
            vec![("filter[rating][null]", "false")],
            Box::new(|_, f| !f["rating"].is_null()),
        ),
        // decimal
        (
            vec![("filter[price][gt]", "10.25")],
            Box::new(|_, f| num(f, "price").is_some_and(|p| p > 10.25)),
        ),
        (
            vec![("filter[price][lte]", "5.25")],
            Box::new(|_, f| num(f, "price").is_some_and(|p| p <= 5.25)),
        ),
        (
            vec![("filter[price][eq]", "2.75")],
            Box::new(|_, f| num(f, "price") == Some(2.75)),
        ),
        (
            vec![("filter[price][ne]", "0.25")],
            Box::new(|_, f| num(f, "price") != Some(0.25)),
        ),
        (
            vec![("filter[price][in]", "0.25,7.75,100")],
            Box::new(|_, f| matches!(num(f, "price"), Some(p) if p == 0.25 || p == 7.75)),
        ),
        (
            vec![("filter[price][null]", "true")],
            Box::new(|_, f| f["price"].is_null()),
        ),
        // boolean
        (
            vec![("filter[active][eq]", "true")],
            Box::new(|_, f| flag(f, "active") == Some(true)),
        ),
        (
            vec![("filter[active][eq]", "false")],
            Box::new(|_, f| flag(f, "active") == Some(false)),
        ),
        (
            vec![("filter[active][ne]", "true")],
            Box::new(|_, f| flag(f, "active") != Some(true)),
        ),
        (
            vec![("filter[active][null]", "true")],
            Box::new(|_, f| f["active"].is_null()),
        ),
        // date
        (
            vec![("filter[released][lt]", "2024-01-20")],
            Box::new(|_, f| text(f, "released").is_some_and(|d| d < "2024-01-20")),
        ),
        (
            vec![("filter[released][gte]", "2024-02-01")],
            Box::new(|_, f| text(f, "released").is_some_and(|d| d >= "2024-02-01")),
        ),
        (
            vec![("filter[released][eq]", &a_date)],
            Box::new(|_, f| text(f, "released") == Some(a_date.as_str())),
        ),
        (
            vec![("filter[released][in]", &two_dates)],
            Box::new(|_, f| text(f, "released").is_some_and(|d| d == a_date || d == other_date)),
        ),
        (
            vec![("filter[released][null]", "false")],
            Box::new(|_, f| !f["released"].is_null()),
        ),
        // datetime, compared as instants whatever the offset
        (
            vec![("filter[starts_at][gt]", boundary)],
            Box::new(|_, f| instant(f, "starts_at").is_some_and(|t| t > boundary_utc)),
        ),
        (
            vec![("filter[starts_at][lte]", boundary)],
            Box::new(|_, f| instant(f, "starts_at").is_some_and(|t| t <= boundary_utc)),
        ),
        (
            vec![("filter[starts_at][eq]", &in_other_offset)],
            Box::new(|_, f| instant(f, "starts_at") == Some(an_instant)),
        ),
        (
            vec![("filter[starts_at][ne]", &in_other_offset)],
            Box::new(|_, f| instant(f, "starts_at") != Some(an_instant)),
        ),
        (
            vec![("filter[starts_at][null]", "true")],
            Box::new(|_, f| f["starts_at"].is_null()),
        ),
        // enum
        (
            vec![("filter[category][eq]", "guide")],
            Box::new(|_, f| text(f, "category") == Some("guide")),
        ),
        (
            vec![("filter[category][ne]", "guide")],
            Box::new(|_, f| text(f, "category") != Some("guide")),
        ),
        (
            vec![("filter[category][in]", "news,review")],
            Box::new(|_, f| matches!(text(f, "category"), Some("news" | "review"))),
        ),
        (
            vec![("filter[category][nin]", "news")],
            Box::new(|_, f| text(f, "category") != Some("news")),
        ),
        (
            vec![("filter[category][startswith]", "re")],
            Box::new(|_, f| text(f, "category").is_some_and(|c| c.starts_with("re"))),
        ),
        (
            vec![("filter[category][contains]", "ew")],
            Box::new(|_, f| text(f, "category").is_some_and(|c| c.contains("ew"))),
        ),
        (
            vec![("filter[category][null]", "true")],
            Box::new(|_, f| f["category"].is_null()),
        ),
        // text: contains and startswith are case-sensitive, icontains is not
        (
            vec![("filter[note][contains]", "red")],
            Box::new(|_, f| text(f, "note").is_some_and(|n| n.contains("red"))),
        ),
        (
            vec![("filter[note][icontains]", "RED")],
            Box::new(|_, f| text(f, "note").is_some_and(|n| n.to_lowercase().contains("red"))),
        ),
        (
            vec![("filter[note][startswith]", "Red")],
            Box::new(|_, f| text(f, "note").is_some_and(|n| n.starts_with("Red"))),
        ),
        (
            vec![("filter[note][startswith]", "red")],
            Box::new(|_, f| text(f, "note").is_some_and(|n| n.starts_with("red"))),
        ),
        (
            vec![("filter[note][eq]", "blue whale")],
            Box::new(|_, f| text(f, "note") == Some("blue whale")),
        ),
        (
            vec![("filter[note][ne]", "blue whale")],
            Box::new(|_, f| text(f, "note") != Some("blue whale")),
        ),
        (
            vec![("filter[note][in]", "Red fox,snake_case")],
            Box::new(|_, f| matches!(text(f, "note"), Some("Red fox" | "snake_case"))),
        ),
        // LIKE wildcards in the value are literal characters
        (
            vec![("filter[note][icontains]", "50%")],
            Box::new(|_, f| text(f, "note").is_some_and(|n| n.contains("50%"))),
        ),
        (
            vec![("filter[note][icontains]", "%")],
            Box::new(|_, f| text(f, "note").is_some_and(|n| n.contains('%'))),
        ),
        (
            vec![("filter[note][icontains]", "E_C")],
            Box::new(|_, f| text(f, "note").is_some_and(|n| n.to_lowercase().contains("e_c"))),
        ),
        (
            vec![("filter[note][contains]", "_")],
            Box::new(|_, f| text(f, "note").is_some_and(|n| n.contains('_'))),
        ),
        (
            vec![("filter[note][null]", "true")],
            Box::new(|_, f| f["note"].is_null()),
        ),
        (
            vec![("filter[title][startswith]", "Cherry")],
            Box::new(|_, f| text(f, "title").is_some_and(|t| t.starts_with("Cherry"))),
        ),
        (
            vec![("filter[title][icontains]", "apple 0")],
            Box::new(|_, f| text(f, "title").is_some_and(|t| t.to_lowercase().contains("apple 0"))),
        ),
        (
            vec![("filter[title][lt]", "D")],
            Box::new(|_, f| text(f, "title").is_some_and(|t| t < "D")),
        ),
        // management may filter on a private field
        (
            vec![("filter[secret][gte]", "6")],
            Box::new(|_, f| int(f, "secret").is_some_and(|s| s >= 6)),
        ),
        // entry metadata
        (
            vec![("filter[id][in]", &two_ids)],
            Box::new(|i, _| i.id == items[4].id || i.id == items[11].id),
        ),
        (
            vec![("filter[created_at][gte]", &middle_created)],
            Box::new(|i, _| rfc3339(&i.created_at) >= rfc3339(&middle_created)),
        ),
        (
            vec![("filter[status][eq]", "changed")],
            Box::new(|i, _| i.published.as_ref().is_some_and(|p| p != &i.draft)),
        ),
        // several top-level conditions are ANDed
        (
            vec![
                ("filter[rating][gte]", "2"),
                ("filter[active][eq]", "true"),
                ("filter[price][lt]", "15"),
            ],
            Box::new(|_, f| {
                int(f, "rating").is_some_and(|r| r >= 2)
                    && flag(f, "active") == Some(true)
                    && num(f, "price").is_some_and(|p| p < 15.0)
            }),
        ),
        (
            vec![("filter[rating][gte]", "2"), ("filter[rating][lte]", "4")],
            Box::new(|_, f| int(f, "rating").is_some_and(|r| (2..=4).contains(&r))),
        ),
        // or groups
        (
            vec![
                ("filter[or][0][rating][eq]", "5"),
                ("filter[or][1][category][null]", "true"),
            ],
            Box::new(|_, f| int(f, "rating") == Some(5) || f["category"].is_null()),
        ),
        (
            vec![
                ("filter[or][0][rating][gte]", "4"),
                ("filter[or][0][active][eq]", "true"),
                ("filter[or][1][note][icontains]", "whale"),
            ],
            Box::new(|_, f| {
                (int(f, "rating").is_some_and(|r| r >= 4) && flag(f, "active") == Some(true))
                    || text(f, "note").is_some_and(|n| n.contains("whale"))
            }),
        ),
        // nested: an and inside an or, next to a top-level condition
        (
            vec![
                ("filter[price][lt]", "15"),
                ("filter[or][0][and][0][rating][lte]", "2"),
                ("filter[or][0][and][1][released][null]", "false"),
                ("filter[or][1][category][in]", "review"),
            ],
            Box::new(|_, f| {
                num(f, "price").is_some_and(|p| p < 15.0)
                    && ((int(f, "rating").is_some_and(|r| r <= 2) && !f["released"].is_null())
                        || text(f, "category") == Some("review"))
            }),
        ),
        // an and of ors
        (
            vec![
                ("filter[and][0][or][0][rating][eq]", "1"),
                ("filter[and][0][or][1][rating][eq]", "2"),
                ("filter[and][1][or][0][active][eq]", "true"),
                ("filter[and][1][or][1][active][null]", "true"),
            ],
            Box::new(|_, f| {
                matches!(int(f, "rating"), Some(1 | 2)) && flag(f, "active") != Some(false)
            }),
        ),
    ];
    check_filters(&app, &items, m, cases).await;

    // A filter nobody matches: empty list, total 0.
    let (got, body) = all_ids(&app, m, &[("filter[title][eq]", "No such title")]).await;
    assert!(got.is_empty());
    assert_eq!(body["total"], 0);
}

/// `icontains` is a case-insensitive match for all text, not only ASCII letters.
async fn icontains_ignores_case_beyond_ascii(backend: Backend) {
    let Seeded { app, items } = seed(backend).await;
    let cases: Vec<(Vec<(&str, &str)>, Pred)> = ["émile", "ÉMILE", "café", "Émile's cafÉ"]
        .into_iter()
        .map(|q| {
            let pred: Pred = Box::new(move |_, f| {
                text(f, "note").is_some_and(|n| n.to_lowercase().contains(&q.to_lowercase()))
            });
            (vec![("filter[note][icontains]", q)], pred)
        })
        .collect();
    check_filters(&app, &items, Surface::Manage, cases).await;
}

/// Nulls are larger than every value: last ascending, first descending.
fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .expect("comparable numbers"),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => panic!("cannot compare {a} and {b}"),
    }
}

fn sort_value(item: &Item, surface: Surface, key: &str) -> Value {
    match key {
        "id" => json!(item.id),
        "created_at" => json!(item.created_at),
        _ => doc(item, surface)[key].clone(),
    }
}

/// The order a `sort` parameter must give: keys in turn, then the id, in the direction
/// of the last key; no `sort` means `-created_at`.
fn expected_order(items: &[&Item], surface: Surface, sort: Option<&str>) -> Vec<String> {
    let keys: Vec<(bool, &str)> = match sort {
        None => vec![(true, "created_at")],
        Some(s) => s
            .split(',')
            .map(|k| match k.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, k),
            })
            .collect(),
    };
    let id_desc = keys.last().is_some_and(|(desc, _)| *desc);
    let mut sorted: Vec<&Item> = items.to_vec();
    sorted.sort_by(|a, b| {
        for (desc, key) in &keys {
            let o = cmp_values(&sort_value(a, surface, key), &sort_value(b, surface, key));
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        let o = a.id.cmp(&b.id);
        if id_desc { o.reverse() } else { o }
    });
    sorted.iter().map(|i| i.id.clone()).collect()
}

const SORTS: [&str; 14] = [
    "rating",
    "-rating",
    "-rating,title",
    "price",
    "-price",
    "released",
    "-starts_at",
    "category,-price",
    "title",
    "-title",
    "active,rating",
    "created_at",
    "id",
    "-id",
];

async fn sorting_orders_values_with_nulls_and_ties(backend: Backend) {
    let Seeded { app, items } = seed(backend).await;
    let pool = visible(&items, Surface::Manage);
    for sort in SORTS {
        let (got, _) = all_ids(&app, Surface::Manage, &[("sort", sort)]).await;
        assert_eq!(
            got,
            expected_order(&pool, Surface::Manage, Some(sort)),
            "sort={sort}"
        );
    }
    let (got, _) = all_ids(&app, Surface::Manage, &[]).await;
    assert_eq!(
        got,
        expected_order(&pool, Surface::Manage, None),
        "the default order is -created_at"
    );
    let (explicit, _) = all_ids(&app, Surface::Manage, &[("sort", "-created_at")]).await;
    assert_eq!(explicit, got);

    // Spelled out for `rating`: nulls last ascending and first descending, equal ratings
    // in id order.
    let rating_of = |id: &String| {
        items
            .iter()
            .find(|i| &i.id == id)
            .map(|i| i.draft["rating"].clone())
            .expect("known id")
    };
    let nulls = items.iter().filter(|i| i.draft["rating"].is_null()).count();
    assert!(nulls > 0 && nulls < N);
    let (asc, _) = all_ids(&app, Surface::Manage, &[("sort", "rating")]).await;
    assert!(asc[N - nulls..].iter().all(|id| rating_of(id).is_null()));
    assert!(asc[..N - nulls].iter().all(|id| !rating_of(id).is_null()));
    for pair in asc.windows(2) {
        let (a, b) = (rating_of(&pair[0]), rating_of(&pair[1]));
        if a == b {
            assert!(pair[0] < pair[1], "equal ratings must be in id order");
        }
    }
    let (desc, _) = all_ids(&app, Surface::Manage, &[("sort", "-rating")]).await;
    assert!(desc[..nulls].iter().all(|id| rating_of(id).is_null()));
    assert!(desc[nulls..].iter().all(|id| !rating_of(id).is_null()));
    let ratings: Vec<i64> = desc[nulls..]
        .iter()
        .map(|id| rating_of(id).as_i64().expect("rating"))
        .collect();
    assert!(ratings.windows(2).all(|w| w[0] >= w[1]), "{ratings:?}");

    // Sorting with a filter sorts the filtered set.
    let (got, _) = all_ids(
        &app,
        Surface::Manage,
        &[("sort", "-price"), ("filter[active][eq]", "true")],
    )
    .await;
    let active: Vec<&Item> = pool
        .iter()
        .copied()
        .filter(|i| flag(&i.draft, "active") == Some(true))
        .collect();
    assert_eq!(
        got,
        expected_order(&active, Surface::Manage, Some("-price"))
    );
}

/// Follows `next_cursor` to the end; checks page sizes and that `total` never changes.
async fn walk(
    app: &TestApp,
    surface: Surface,
    pairs: &[(&str, &str)],
    limit: usize,
) -> (Vec<String>, Value) {
    let limit_s = limit.to_string();
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total: Option<Value> = None;
    for _ in 0..200 {
        let mut p = pairs.to_vec();
        p.push(("limit", &limit_s));
        if let Some(c) = &cursor {
            p.push(("cursor", c));
        }
        let (status, body) = list(app, surface, &p).await;
        assert_eq!(status, StatusCode::OK, "{p:?}: {body}");
        let page = ids(&body);
        match &total {
            None => total = Some(body["total"].clone()),
            Some(t) => assert_eq!(&body["total"], t, "total changed between pages: {p:?}"),
        }
        out.extend(page.iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(page.len(), limit, "a page before the last is full: {p:?}");
                cursor = Some(c.to_string());
            }
            None => {
                assert!(body["next_cursor"].is_null(), "{body}");
                return (out, total.unwrap_or(Value::Null));
            }
        }
    }
    panic!("pagination did not end: {pairs:?}");
}

async fn keyset_pagination_walks_every_page(backend: Backend) {
    let Seeded { app, items } = seed(backend).await;
    let pool = visible(&items, Surface::Manage);
    let rated: Vec<&Item> = pool
        .iter()
        .copied()
        .filter(|i| !i.draft["rating"].is_null())
        .collect();

    // (query, the entries it lists, its sort, page size)
    type Walk<'a> = (
        Vec<(&'a str, &'a str)>,
        Vec<&'a Item>,
        Option<&'a str>,
        usize,
    );
    let walks: Vec<Walk> = vec![
        (
            vec![("sort", "-created_at")],
            pool.clone(),
            Some("-created_at"),
            7,
        ),
        (vec![("sort", "rating")], pool.clone(), Some("rating"), 7),
        (vec![("sort", "-rating")], pool.clone(), Some("-rating"), 7),
        (
            vec![("sort", "-rating,title")],
            pool.clone(),
            Some("-rating,title"),
            7,
        ),
        (vec![("sort", "-price")], pool.clone(), Some("-price"), 7),
        (
            vec![("sort", "active,-released")],
            pool.clone(),
            Some("active,-released"),
            7,
        ),
        (
            vec![("sort", "category,rating")],
            pool.clone(),
            Some("category,rating"),
            7,
        ),
        (
            vec![("sort", "-starts_at")],
            pool.clone(),
            Some("-starts_at"),
            7,
        ),
        (vec![("sort", "title")], pool.clone(), Some("title"), 10),
        (vec![("sort", "price")], pool.clone(), Some("price"), 1),
        (
            vec![("sort", "category"), ("filter[rating][null]", "false")],
            rated.clone(),
            Some("category"),
            7,
        ),
    ];
    for (pairs, subset, sort, limit) in walks {
        let (got, total) = walk(&app, Surface::Manage, &pairs, limit).await;
        let unique: BTreeSet<&String> = got.iter().collect();
        assert_eq!(
            unique.len(),
            got.len(),
            "duplicates across pages: {pairs:?}"
        );
        assert_eq!(
            got,
            expected_order(&subset, Surface::Manage, sort),
            "pages of {pairs:?} (limit {limit})"
        );
        assert_eq!(total, subset.len(), "total of {pairs:?}");
    }

    // A cursor belongs to its sort.
    let (status, first) = list(&app, Surface::Manage, &[("sort", "rating"), ("limit", "7")]).await;
    assert_eq!(status, StatusCode::OK);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_string();
    for other in [
        vec![("sort", "-rating")],
        vec![("sort", "rating,title")],
        vec![("sort", "price")],
        vec![],
    ] {
        let mut p = other.clone();
        p.push(("limit", "7"));
        p.push(("cursor", &cursor));
        let (status, body) = list(&app, Surface::Manage, &p).await;
        assert_error(status, &body, 400, "invalid_cursor");
    }
    let (status, _) = list(
        &app,
        Surface::Manage,
        &[("sort", "rating"), ("limit", "7"), ("cursor", &cursor)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the same sort accepts its cursor");
}

async fn field_selection_and_limits(backend: Backend) {
    let Seeded { app, items } = seed(backend).await;

    // fields=title,rating: only those keys, with the right values.
    let (_, body) = all_ids(&app, Surface::Manage, &[("fields", "title,rating")]).await;
    let listed = body["items"].as_array().expect("items");
    assert_eq!(listed.len(), N);
    for e in listed {
        let keys: BTreeSet<&str> = e["fields"]
            .as_object()
            .expect("fields")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(["title", "rating"]), "{e}");
        let item = items
            .iter()
            .find(|i| e["id"] == i.id.as_str())
            .expect("known id");
        assert_eq!(e["fields"]["title"], item.draft["title"]);
        assert_eq!(e["fields"]["rating"], item.draft["rating"]);
        assert!(
            e["version"].is_number() && e["created_at"].is_string(),
            "{e}"
        );
    }
    // Selection combines with filter and sort on unselected fields.
    let (got, body) = all_ids(
        &app,
        Surface::Manage,
        &[
            ("fields", "title"),
            ("sort", "-price"),
            ("filter[active][eq]", "true"),
        ],
    )
    .await;
    let active: Vec<&Item> = items
        .iter()
        .filter(|i| flag(&i.draft, "active") == Some(true))
        .collect();
    assert_eq!(
        got,
        expected_order(&active, Surface::Manage, Some("-price"))
    );
    assert!(
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|e| { e["fields"].as_object().map(|o| o.len()) == Some(1) })
    );

    // Default limit 20; at most 100.
    let (status, body) = list(&app, Surface::Manage, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&body).len(), 20);
    assert!(body["next_cursor"].is_string());
    assert_eq!(body["total"], N);
    for (limit, len) in [("1", 1), ("100", N)] {
        let (status, body) = list(&app, Surface::Manage, &[("limit", limit)]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&body).len(), len);
        assert_eq!(body["total"], N);
    }
    app.grant("public", "gadget", "read").await;
    for surface in [Surface::Manage, Surface::Delivery] {
        for bad in ["101", "0"] {
            let (status, body) = list(&app, surface, &[("limit", bad)]).await;
            assert_error(status, &body, 400, "invalid_parameter");
        }
    }
    let (status, body) = list(&app, Surface::Delivery, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&body).len(), 20, "delivery's default limit is 20 too");
}

async fn delivery_lists_published_entries_without_private_fields(backend: Backend) {
    let Seeded { app, items } = seed(backend).await;
    app.grant("public", "gadget", "read").await;
    let d = Surface::Delivery;
    let published = visible(&items, d);
    assert!(published.len() < N);

    // Only published entries, as published (not the newer drafts), without `secret`.
    let (got, body) = all_ids(&app, d, &[]).await;
    let want: BTreeSet<String> = published.iter().map(|i| i.id.clone()).collect();
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(body["total"], published.len());
    for e in body["items"].as_array().expect("items") {
        let item = items
            .iter()
            .find(|i| e["id"] == i.id.as_str())
            .expect("known");
        let fields = e["fields"].as_object().expect("fields");
        assert!(
            !fields.contains_key("secret"),
            "a private field was delivered: {e}"
        );
        let mut expected = item.published.clone().expect("published");
        expected.as_object_mut().expect("object").remove("secret");
        assert_eq!(e["fields"], expected);
        assert_eq!(e["status"], "published");
    }
    // The private field is there for management.
    let (_, body) = all_ids(&app, Surface::Manage, &[("filter[secret][null]", "false")]).await;
    assert!(body["items"][0]["fields"]["secret"].is_number(), "{body}");

    // Drafts that differ from the published copy must not leak into delivery filters.
    let changed: Vec<&&Item> = published
        .iter()
        .filter(|i| i.published.as_ref() != Some(&i.draft))
        .collect();
    assert!(!changed.is_empty());
    let cases: Vec<(Vec<(&str, &str)>, Pred)> = vec![
        (
            vec![("filter[rating][gte]", "3")],
            Box::new(|_, f| int(f, "rating").is_some_and(|r| r >= 3)),
        ),
        (
            vec![("filter[rating][null]", "true")],
            Box::new(|_, f| f["rating"].is_null()),
        ),
        (
            vec![("filter[rating][in]", "2,5")],
            Box::new(|_, f| matches!(int(f, "rating"), Some(2 | 5))),
        ),
        (
            vec![
                ("filter[or][0][category][eq]", "news"),
                ("filter[or][1][active][eq]", "false"),
            ],
            Box::new(|_, f| {
                text(f, "category") == Some("news") || flag(f, "active") == Some(false)
            }),
        ),
        (
            vec![("filter[note][icontains]", "RED")],
            Box::new(|_, f| text(f, "note").is_some_and(|n| n.to_lowercase().contains("red"))),
        ),
    ];
    // Sanity: on these data the draft and published answers differ for the first two.
    for (k, v) in [
        ("filter[rating][gte]", "3"),
        ("filter[rating][null]", "true"),
    ] {
        let (draft_answer, _) = all_ids(&app, Surface::Manage, &[(k, v)]).await;
        let (delivered, _) = all_ids(&app, d, &[(k, v)]).await;
        let draft_published: BTreeSet<String> = draft_answer
            .into_iter()
            .filter(|id| want.contains(id))
            .collect();
        assert_ne!(
            draft_published,
            delivered.into_iter().collect::<BTreeSet<_>>(),
            "the data should make drafts and published copies disagree on {k}"
        );
    }
    check_filters(&app, &items, d, cases).await;

    // Sorting and paging on delivery use the published values too.
    for sort in ["-rating", "rating,title", "price"] {
        let (got, _) = all_ids(&app, d, &[("sort", sort)]).await;
        assert_eq!(
            got,
            expected_order(&published, d, Some(sort)),
            "delivery sort={sort}"
        );
        let (paged, total) = walk(&app, d, &[("sort", sort)], 7).await;
        assert_eq!(paged, got, "delivery pages of sort={sort}");
        assert_eq!(total, published.len());
    }

    // `fields` on delivery.
    let (_, body) = all_ids(&app, d, &[("fields", "title,rating")]).await;
    for e in body["items"].as_array().expect("items") {
        let keys: Vec<&String> = e["fields"].as_object().expect("fields").keys().collect();
        assert_eq!(keys.len(), 2, "{e}");
    }

    // Filtering, sorting or selecting on a private field on delivery is refused.
    let refused: Vec<Vec<(&str, &str)>> = vec![
        vec![("filter[secret][eq]", "3")],
        vec![("filter[secret][null]", "true")],
        vec![("filter[secret][gte]", "0")],
        vec![
            ("filter[or][0][rating][eq]", "1"),
            ("filter[or][1][secret][eq]", "3"),
        ],
        vec![
            ("filter[and][0][or][0][secret][lt]", "5"),
            ("filter[and][1][rating][eq]", "1"),
        ],
        vec![("sort", "secret")],
        vec![("sort", "-rating,-secret")],
        vec![("fields", "title,secret")],
    ];
    for pairs in &refused {
        let (status, body) = list(&app, d, pairs).await;
        assert_error(status, &body, 403, "forbidden");
        // Also with a signed-in reader: it is about the surface, not the caller.
        let query = qs(pairs);
        let (status, body) = send(app.req(Method::GET, &format!("{DELIVER}?{query}"))).await;
        assert_error(status, &body, 403, "forbidden");
    }
    let one = &published[0].id;
    let (status, body) =
        send(app.req_as(None, Method::GET, &format!("{DELIVER}/{one}?fields=secret"))).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = send(app.req_as(None, Method::GET, &format!("{DELIVER}/{one}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["fields"].get("secret").is_none(), "{body}");

    // Management may use the private field for all three.
    let (got, _) = all_ids(
        &app,
        Surface::Manage,
        &[
            ("filter[secret][lt]", "5"),
            ("sort", "-secret"),
            ("fields", "title,secret"),
        ],
    )
    .await;
    let low: Vec<&Item> = items
        .iter()
        .filter(|i| int(&i.draft, "secret").is_some_and(|s| s < 5))
        .collect();
    assert!(!low.is_empty() && low.len() < N);
    assert_eq!(got, expected_order(&low, Surface::Manage, Some("-secret")));
}

/// Without `sort` the list is in `-created_at` order, and its pages follow `next_cursor`
/// like any other (the cursor of a sort-less first page must be accepted by a sort-less
/// second page).
async fn default_order_pages_follow_next_cursor(backend: Backend) {
    let Seeded { app, items } = seed(backend).await;
    app.grant("public", "gadget", "read").await;
    for surface in [Surface::Manage, Surface::Delivery] {
        let pool = visible(&items, surface);
        let (got, total) = walk(&app, surface, &[], 7).await;
        assert_eq!(got, expected_order(&pool, surface, None), "{surface:?}");
        assert_eq!(total, pool.len());
    }
    let rated: Vec<&Item> = items
        .iter()
        .filter(|i| !i.draft["rating"].is_null())
        .collect();
    let (got, total) = walk(
        &app,
        Surface::Manage,
        &[("filter[rating][null]", "false")],
        4,
    )
    .await;
    assert_eq!(got, expected_order(&rated, Surface::Manage, None));
    assert_eq!(total, rated.len());
}

//! Prometheus metrics (`GET /metrics`, text exposition format 0.0.4): HTTP requests by
//! route template, method and status with latency histograms, and search queries with
//! their latency. Gauges that are a state of something else (the index's lag, its
//! documents) are read when scraped. Counters are atomics; a series is created once per
//! (route, method[, status]) and found again under a read lock, so recording costs a
//! route match, a read lock and a few atomic adds.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BOUNDS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BOUNDS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BOUNDS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

/// Request paths to the route templates they were answered by (`/api/v1/content/{type_id}`),
/// so series stay bounded whatever paths clients send.
pub struct Routes {
    /// Segments of each template, most literal segments first.
    templates: Vec<(String, Vec<Option<String>>)>,
}

/// Label for a path that matches no route (404s, probes).
pub const OTHER: &str = "other";

impl Routes {
    pub fn new<'a>(templates: impl IntoIterator<Item = &'a str>) -> Routes {
        let mut t: Vec<(String, Vec<Option<String>>)> = templates
            .into_iter()
            .map(|p| {
                let segs = p
                    .trim_matches('/')
                    .split('/')
                    .map(|s| (!(s.starts_with('{') || s.starts_with(':'))).then(|| s.to_string()))
                    .collect();
                (p.to_string(), segs)
            })
            .collect();
        t.sort_by_key(|(_, segs)| std::cmp::Reverse(segs.iter().filter(|s| s.is_some()).count()));
        Routes { templates: t }
    }

    pub fn label(&self, path: &str) -> &str {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        for (name, tpl) in &self.templates {
            if tpl.len() == segs.len()
                && tpl.iter().zip(&segs).all(|(t, s)| match t {
                    Some(lit) => lit == s,
                    None => !s.is_empty(),
                })
            {
                return name;
            }
        }
        OTHER
    }
}

/// (route, method) and (route, method, status).
type HttpKey = (String, &'static str);
type StatusKey = (String, &'static str, u16);

pub struct Metrics {
    routes: RwLock<Routes>,
    requests: RwLock<HashMap<StatusKey, Arc<AtomicU64>>>,
    latency: RwLock<HashMap<HttpKey, Arc<Histogram>>>,
    /// Per surface (`delivery`, `manage`): queries, those without results, latency.
    search_queries: [AtomicU64; 2],
    search_empty: [AtomicU64; 2],
    search_latency: [Histogram; 2],
}

fn method_name(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            routes: RwLock::new(Routes::new([])),
            requests: RwLock::new(HashMap::new()),
            latency: RwLock::new(HashMap::new()),
            search_queries: Default::default(),
            search_empty: Default::default(),
            search_latency: Default::default(),
        }
    }
}

impl Metrics {
    /// Sets the route templates requests are counted under.
    pub fn set_routes(&self, routes: Routes) {
        if let Ok(mut r) = self.routes.write() {
            *r = routes;
        }
    }

    pub fn http(&self, method: &str, path: &str, status: u16, took: Duration) {
        let route = match self.routes.read() {
            Ok(r) => r.label(path).to_string(),
            Err(_) => return,
        };
        let method = method_name(method);
        let counter = {
            let key = (route.clone(), method, status);
            let found = self.requests.read().ok().and_then(|m| m.get(&key).cloned());
            match found {
                Some(c) => c,
                None => match self.requests.write() {
                    Ok(mut m) => m.entry(key).or_default().clone(),
                    Err(_) => return,
                },
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let key = (route, method);
        let found = self.latency.read().ok().and_then(|m| m.get(&key).cloned());
        let hist = match found {
            Some(h) => h,
            None => match self.latency.write() {
                Ok(mut m) => m.entry(key).or_default().clone(),
                Err(_) => return,
            },
        };
        hist.observe(took);
    }

    /// A search answered on `manage` (drafts) or delivery.
    pub fn search(&self, manage: bool, results: u64, took: Duration) {
        let i = usize::from(manage);
        self.search_queries[i].fetch_add(1, Ordering::Relaxed);
        if results == 0 {
            self.search_empty[i].fetch_add(1, Ordering::Relaxed);
        }
        self.search_latency[i].observe(took);
    }

    /// The exposition, with `gauges` (name, help, value) appended.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP vellum_http_requests_total HTTP requests answered, by route template, method and status.\n# TYPE vellum_http_requests_total counter\n");
        if let Ok(m) = self.requests.read() {
            let mut rows: Vec<_> = m.iter().collect();
            rows.sort_by(|a, b| a.0.cmp(b.0));
            for ((route, method, status), c) in rows {
                let _ = writeln!(
                    out,
                    "vellum_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {}",
                    escape(route),
                    c.load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP vellum_http_request_duration_seconds Time to answer HTTP requests (to the response head), by route template and method.\n# TYPE vellum_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.read() {
            let mut rows: Vec<_> = m.iter().collect();
            rows.sort_by(|a, b| a.0.cmp(b.0));
            for ((route, method), h) in rows {
                let labels = format!("route=\"{}\",method=\"{method}\"", escape(route));
                h.write(&mut out, "vellum_http_request_duration_seconds", &labels);
            }
        }
        let surfaces = ["delivery", "manage"];
        out.push_str("# HELP vellum_search_queries_total Search queries answered, by surface.\n# TYPE vellum_search_queries_total counter\n");
        for (i, s) in surfaces.iter().enumerate() {
            let _ = writeln!(
                out,
                "vellum_search_queries_total{{surface=\"{s}\"}} {}",
                self.search_queries[i].load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP vellum_search_queries_without_results_total Search queries that found nothing, by surface.\n# TYPE vellum_search_queries_without_results_total counter\n");
        for (i, s) in surfaces.iter().enumerate() {
            let _ = writeln!(
                out,
                "vellum_search_queries_without_results_total{{surface=\"{s}\"}} {}",
                self.search_empty[i].load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP vellum_search_duration_seconds Time to answer a search (query, hits read back, highlights), by surface.\n# TYPE vellum_search_duration_seconds histogram\n");
        for (i, s) in surfaces.iter().enumerate() {
            self.search_latency[i].write(
                &mut out,
                "vellum_search_duration_seconds",
                &format!("surface=\"{s}\""),
            );
        }
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_exposition() {
        let r = Routes::new([
            "/api/v1/content/{type_id}",
            "/api/v1/content/{type_id}/{id_or_slug}",
            "/api/v1/manage/entries/{type_id}/{id}/versions",
            "/api/v1/manage/entries/{type_id}/{id}/{n}",
            "/healthz",
        ]);
        assert_eq!(
            r.label("/api/v1/content/article"),
            "/api/v1/content/{type_id}"
        );
        assert_eq!(
            r.label("/api/v1/content/article/x"),
            "/api/v1/content/{type_id}/{id_or_slug}"
        );
        assert_eq!(
            r.label("/api/v1/manage/entries/a/b/versions"),
            "/api/v1/manage/entries/{type_id}/{id}/versions"
        );
        assert_eq!(r.label("/api/v1/content/"), OTHER);
        assert_eq!(r.label("/nope"), OTHER);
        let m = Metrics::default();
        m.set_routes(r);
        m.http(
            "GET",
            "/api/v1/content/article",
            200,
            Duration::from_millis(3),
        );
        m.http(
            "GET",
            "/api/v1/content/blog",
            200,
            Duration::from_millis(30),
        );
        m.http("BREW", "/x", 404, Duration::from_micros(10));
        m.search(false, 0, Duration::from_millis(2));
        let text = m.render(&[("vellum_test_gauge", "A test.", 3.0)]);
        assert!(text.contains("vellum_http_requests_total{route=\"/api/v1/content/{type_id}\",method=\"GET\",status=\"200\"} 2"), "{text}");
        assert!(text.contains(
            "vellum_http_requests_total{route=\"other\",method=\"other\",status=\"404\"} 1"
        ));
        assert!(text.contains("vellum_http_request_duration_seconds_bucket{route=\"/api/v1/content/{type_id}\",method=\"GET\",le=\"0.005\"} 1"));
        assert!(text.contains("vellum_http_request_duration_seconds_bucket{route=\"/api/v1/content/{type_id}\",method=\"GET\",le=\"+Inf\"} 2"));
        assert!(
            text.contains("vellum_search_queries_without_results_total{surface=\"delivery\"} 1")
        );
        assert!(text.contains("vellum_test_gauge 3"));
    }
}

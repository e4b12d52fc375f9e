//! The health component: `/health`, `/health/live`, and everything else under `/health/`.

use crate::checks::Checks;
use crate::client::Request;
use crate::expect;
use crate::harness::Spin;

pub fn checks(spin: &Spin, checks: &mut Checks) {
    checks.run("health: GET /health reports the database", || {
        let r = spin.send(&Request::get("/health").authorization(None));
        let body = expect::json(&r, 200);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(body["status"], "healthy", "{body}");
        assert_eq!(body["database"], "connected", "{body}");
        assert_eq!(body["app_name"], "KeeMU", "{body}");
        assert_eq!(body["environment"], "e2e", "{body}");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "{body}");
        assert!(
            body["database_latency_ms"]
                .as_f64()
                .is_some_and(|ms| ms >= 0.0),
            "{body}"
        );
        assert!(
            body["schema_version"].as_i64().is_some_and(|v| v >= 1),
            "{body}"
        );
        let vector = body["vector_extension"].as_str().unwrap_or("");
        assert!(
            ["installed", "available", "unavailable"].contains(&vector),
            "{body}"
        );
    });

    checks.run("health: HEAD /health has GET's headers and no body", || {
        let r = spin.send(&Request::head("/health").authorization(None));
        expect::status(&r, 200);
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{}",
            r.describe()
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
        expect::empty_body(&r);
    });

    checks.run("health: GET and HEAD /health/live", || {
        let r = spin.send(&Request::get("/health/live").authorization(None));
        let body = expect::json(&r, 200);
        assert_eq!(body["status"], "alive", "{body}");
        assert_eq!(body["environment"], "e2e", "{body}");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "{body}");
        assert!(
            body.get("database").is_none(),
            "live does not touch the database: {body}"
        );
        let r = spin.send(&Request::head("/health/live").authorization(None));
        expect::status(&r, 200);
        expect::empty_body(&r);
    });

    checks.run("health: unknown paths under /health are 404", || {
        for path in ["/health/x", "/health/live/x", "/health/", "/health/ready"] {
            let r = spin.send(&Request::get(path).authorization(None));
            expect::problem(&r, 404);
        }
    });

    checks.run(
        "health: other methods are 405 with Allow: GET, HEAD",
        || {
            for (method, path) in [
                ("POST", "/health"),
                ("PUT", "/health"),
                ("DELETE", "/health"),
                ("PATCH", "/health/live"),
                ("POST", "/health/live"),
            ] {
                let r = spin.send(&Request::new(method, path).authorization(None));
                expect::method_not_allowed(&r, &["GET", "HEAD"]);
                expect::allow_includes_head(&r);
            }
        },
    );
}

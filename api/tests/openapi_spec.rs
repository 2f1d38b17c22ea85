//! The committed spec (`openapi/openapi.json`, which the TypeScript client and the contract
//! tests are built from) must be exactly what the code declares, and what it declares must be
//! complete enough for those consumers.

use serde_json::Value;
use spa_auth::{http::app::openapi_json, http::errors::ErrorCode};

const COMMITTED: &str = include_str!("../../openapi/openapi.json");
const REGENERATE: &str = "cargo run -q -p spa-auth -- openapi > openapi/openapi.json";
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn spec() -> Value {
    serde_json::from_str(&openapi_json()).expect("the generated spec is JSON")
}

/// Every operation as (method, path, operation object).
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let paths = spec["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item is an object");
            item.iter()
                .filter(|(m, _)| METHODS.contains(&m.as_str()))
                .map(|(m, op)| (m.clone(), path.clone(), op.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A line diff with a few lines of context, good enough to see what drifted.
fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Longest common subsequence table, from the end.
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops = Vec::new(); // (' ' | '-' | '+', old line no, text)
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', i, a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', i, b[j]));
            j += 1;
        } else {
            ops.push(('-', i, a[i]));
            i += 1;
        }
    }
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut out =
        String::from("--- openapi/openapi.json (committed)\n+++ generated from the code\n");
    let mut last_printed: Option<usize> = None;
    for &k in &changed {
        let start = k.saturating_sub(CONTEXT);
        let end = (k + CONTEXT + 1).min(ops.len());
        let from = match last_printed {
            Some(l) if l + 1 >= start => l + 1,
            _ => {
                out.push_str(&format!("@@ near line {} @@\n", ops[start].1 + 1));
                start
            }
        };
        for op in ops.iter().take(end).skip(from) {
            out.push_str(&format!("{}{}\n", op.0, op.2));
        }
        last_printed = Some(end.saturating_sub(1).max(last_printed.unwrap_or(0)));
    }
    out
}

#[test]
fn committed_spec_matches_the_code() {
    let generated = openapi_json();
    let committed = COMMITTED.trim_end_matches('\n');
    if committed != generated.trim_end_matches('\n') {
        panic!(
            "openapi/openapi.json is out of date with the code.\n{}\nRegenerate it with:\n    {REGENERATE}\n",
            diff(committed, &generated)
        );
    }
}

#[test]
fn info_version_is_the_crate_version() {
    assert_eq!(spec()["info"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn security_schemes_are_basic_and_cookie() {
    let spec = spec();
    let schemes = spec["components"]["securitySchemes"]
        .as_object()
        .expect("securitySchemes");
    let mut names: Vec<&str> = schemes.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["basicAuth", "sessionCookie"]);
    assert_eq!(schemes["basicAuth"]["type"], "http");
    assert_eq!(schemes["basicAuth"]["scheme"], "basic");
    assert_eq!(schemes["sessionCookie"]["type"], "apiKey");
    assert_eq!(schemes["sessionCookie"]["in"], "cookie");
    assert_eq!(schemes["sessionCookie"]["name"], "__Host-session");
}

/// Swagger UI offers a box for the cookie scheme that no visitor can fill (HttpOnly): its
/// description, shown beside the box, says to log in with Basic instead.
#[test]
fn the_cookie_scheme_tells_a_visitor_how_to_try_the_api() {
    let spec = spec();
    let text = spec["components"]["securitySchemes"]["sessionCookie"]["description"]
        .as_str()
        .expect("sessionCookie has a description");
    for needle in [
        "HttpOnly",
        "leave this box empty",
        "basicAuth",
        "POST /api/auth/login",
        "by itself",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from {text:?}");
    }
    let login = &spec["paths"]["/api/auth/login"]["post"];
    assert_eq!(login["security"][0]["basicAuth"], serde_json::json!([]));
}

#[test]
fn every_operation_is_documented() {
    let spec = spec();
    let mut ids = Vec::new();
    for (method, path, op) in operations(&spec) {
        let at = format!("{} {path}", method.to_uppercase());
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{at} has no operationId");
        ids.push(id.to_owned());
        for field in ["summary", "description"] {
            let text = op[field].as_str().unwrap_or_default();
            assert!(!text.trim().is_empty(), "{at} ({id}) has no {field}");
        }
        let tags = op["tags"].as_array().map(Vec::len).unwrap_or(0);
        assert!(tags > 0, "{at} ({id}) has no tag");
    }
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "operationIds are unique: {ids:?}");
    for expected in ["login", "getMe", "logout", "getHealth"] {
        assert!(
            ids.iter().any(|i| i == expected),
            "operation {expected} exists"
        );
    }
}

/// Which scheme each operation must require: Basic to log in, nothing for the health check and
/// for what comes before a session (sign-up, mailed links, a passwordless login), the session cookie for every other
/// API call.
#[test]
fn security_is_where_expected() {
    let spec = spec();
    for (method, path, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        let schemes: Vec<String> = op["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|req| req.keys().cloned())
            .collect();
        let expected: &[&str] = match (id.as_str(), path.as_str()) {
            ("login", _) => &["basicAuth"],
            ("getHealth", _) => &[],
            // Before there is a session: the body's token or address is the whole request.
            (
                "signUp"
                | "verifyEmail"
                | "resendVerification"
                | "requestPasswordReset"
                | "resetPassword"
                | "passkeyLoginOptions"
                | "passkeyLogin",
                _,
            ) => &[],
            (_, p) if p.starts_with("/api/") => &["sessionCookie"],
            _ => &[],
        };
        assert_eq!(
            schemes,
            expected,
            "{} {path} ({id}) requires {expected:?}",
            method.to_uppercase()
        );
    }
}

/// The statuses an operation can send follow from what it takes; each must be documented,
/// and every response but a 204 says what its body is.
#[test]
fn every_status_an_operation_can_send_is_documented_with_a_schema() {
    let spec = spec();
    for (method, path, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        let at = format!("{} {path} ({id})", method.to_uppercase());
        let responses = op["responses"].as_object().expect("responses");
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        let has_params = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
        let has_body = op.get("requestBody").is_some();
        let unsafe_method = !matches!(method.as_str(), "get" | "head" | "options");

        let mut must = vec!["500"];
        if path.starts_with("/api/") || id == "getHealth" {
            must.push("503"); // every one of them asks the database
        }
        if secured {
            must.push("401");
        }
        if has_params || has_body || id == "login" {
            must.push("400"); // login: a malformed Authorization header
        }
        if has_body {
            must.extend(["413", "415"]);
        }
        if unsafe_method && path.starts_with("/api/") {
            must.push("403"); // cross-site request refused
        }
        for status in must {
            assert!(responses.contains_key(status), "{at} documents {status}");
        }
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{at} documents a success"
        );

        for (status, resp) in responses {
            let desc = resp["description"].as_str().unwrap_or_default();
            assert!(!desc.trim().is_empty(), "{at} {status} has a description");
            let content = resp.get("content").and_then(Value::as_object);
            if status == "204" {
                assert!(content.is_none(), "{at} 204 has no body");
                continue;
            }
            // "Accepted: mail is on its way" says all there is; a body could only tell
            // which addresses have accounts.
            if status == "202" && content.is_none() {
                continue;
            }
            // Forward auth answers a proxy in headers alone: a success without a body must
            // say what it carries instead.
            let in_headers = resp.get("headers").and_then(Value::as_object);
            if status.starts_with('2') && content.is_none() {
                assert!(
                    in_headers.is_some_and(|h| !h.is_empty()),
                    "{at} {status} has neither a body nor headers"
                );
                continue;
            }
            let content = content.unwrap_or_else(|| panic!("{at} {status} has no body schema"));
            assert!(!content.is_empty(), "{at} {status} has no media type");
            for (media, body) in content {
                assert!(
                    media.starts_with("application/json"),
                    "{at} {status} answers JSON, not {media}"
                );
                assert!(
                    body.get("schema").is_some(),
                    "{at} {status} {media} has a schema"
                );
            }
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &content.values().next().expect("one media type")["schema"];
                assert_eq!(
                    schema["$ref"], "#/components/schemas/Error",
                    "{at} {status} answers the Error shape"
                );
            }
            if status == "429" || status == "503" {
                let headers = resp["headers"].as_object();
                let has_retry = headers
                    .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("retry-after")));
                assert!(has_retry, "{at} {status} documents Retry-After");
            }
        }
    }
}

/// Swagger UI shows a response's examples: each must be a body that status really carries,
/// named in the response's description, and every error response has at least one.
#[test]
fn every_error_response_has_examples_of_its_own_codes() {
    // Written down apart from the code: which codes each status can carry.
    let codes_of = |status: &str| -> &[ErrorCode] {
        use ErrorCode::*;
        match status {
            "400" => &[
                BadRequest,
                PasswordRejected,
                InvalidEmail,
                InvalidToken,
                InvalidChallenge,
            ],
            "401" => &[
                NotAuthenticated,
                InvalidCredentials,
                EmailNotVerified,
                SecondFactorRequired,
            ],
            "403" => &[
                CsrfRejected,
                Forbidden,
                WrongCurrentPassword,
                NotEnabled,
                ReauthenticationRequired,
                InvalidCode,
            ],
            "409" => &[UsernameTaken, EmailTaken, Conflict],
            "404" => &[NotFound],
            "408" => &[RequestTimeout],
            "413" => &[PayloadTooLarge],
            "415" => &[UnsupportedMediaType],
            "429" => &[TooManyRequests],
            "431" => &[HeadersTooLarge],
            "500" => &[Internal],
            "503" => &[Unavailable],
            _ => &[],
        }
    };
    let spec = spec();
    for (method, path, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        let responses = op["responses"].as_object().expect("responses");
        for (status, resp) in responses {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let at = format!("{} {path} ({id}) {status}", method.to_uppercase());
            let description = resp["description"].as_str().unwrap_or_default();
            for (media, body) in resp["content"].as_object().expect("content") {
                let examples = body["examples"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{at} {media} has no examples"));
                assert!(!examples.is_empty(), "{at} {media} has no examples");
                for (name, example) in examples {
                    let code = example["value"]["code"].as_str().unwrap_or_default();
                    let parsed = serde_json::from_value(example["value"]["code"].clone());
                    assert!(
                        parsed.is_ok_and(|c: ErrorCode| codes_of(status).contains(&c)),
                        "{at}: example {name} has code {code:?}, which {status} never carries"
                    );
                    assert!(
                        description.contains(&format!("`{code}`")),
                        "{at}: example {code} is not among the codes the description names"
                    );
                    let message = example["value"]["message"].as_str().unwrap_or_default();
                    assert!(!message.is_empty(), "{at}: example {code} has no message");
                }
            }
        }
    }
}

/// The codes are one list: the spec's `ErrorCode` enum is exactly the Rust enum, the Error
/// body's `code` refers to it, and every code the server answers with is one of its values.
#[test]
fn error_codes_are_the_error_code_enum() {
    let spec = spec();
    let schemas = &spec["components"]["schemas"];
    assert_eq!(
        schemas["Error"]["properties"]["code"]["$ref"], "#/components/schemas/ErrorCode",
        "Error.code refers to the ErrorCode schema"
    );
    let in_spec: Vec<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode has an enum")
        .iter()
        .map(|v| v.as_str().expect("every code is a string"))
        .collect();
    let in_code: Vec<String> = ErrorCode::all().iter().map(ToString::to_string).collect();
    assert_eq!(in_spec, in_code, "the spec's ErrorCode is the Rust enum");
    assert_eq!(schemas["ErrorCode"]["type"], "string");

    // What the handlers answer (every ApiError variant) and what the middleware that puts
    // poem's own errors in the Error shape answers (any error status).
    let handlers = spa_auth::http::errors::example_bodies()
        .into_iter()
        .map(|b| b.code);
    let middleware = (400..600)
        .filter_map(|s| poem::http::StatusCode::from_u16(s).ok())
        .map(ErrorCode::for_status);
    for code in handlers.chain(middleware) {
        let wire = serde_json::to_value(code).expect("a code serialises");
        let wire = wire.as_str().expect("a code is a string");
        assert!(
            in_spec.contains(&wire),
            "{code:?} ({wire}) is in the spec's ErrorCode"
        );
    }

    let description = schemas["ErrorCode"]["description"]
        .as_str()
        .unwrap_or_default();
    for code in &in_spec {
        assert!(
            description.contains(&format!("- `{code}`: ")),
            "the ErrorCode description says what {code} means"
        );
    }
}

#[test]
fn cookies_are_documented_where_they_are_set() {
    let spec = spec();
    let set_cookie = |path: &str, method: &str, status: &str| {
        spec["paths"][path][method]["responses"][status]["headers"]
            .as_object()
            .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("set-cookie")))
    };
    assert!(set_cookie("/api/auth/login", "post", "200"));
    assert!(set_cookie("/api/auth/logout", "post", "204"));
    assert!(set_cookie("/api/me", "get", "200"));
}

/// Examples make the docs and generated mocks useful; the core schemas must have one.
#[test]
fn core_schemas_have_examples() {
    let spec = spec();
    for name in ["Error", "User", "Health"] {
        let schema = &spec["components"]["schemas"][name];
        assert!(schema.is_object(), "schema {name} exists");
        assert!(
            schema.get("example").is_some(),
            "schema {name} has an example"
        );
    }
}

/// The links document the session flow and drive schemathesis's stateful tests.
#[test]
fn links_chain_login_me_logout() {
    let spec = spec();
    let ids: Vec<String> = operations(&spec)
        .iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str().map(str::to_owned))
        .collect();
    let links =
        |path: &str, method: &str| spec["paths"][path][method]["responses"]["200"]["links"].clone();
    let login = links("/api/auth/login", "post");
    assert_eq!(login["getMe"]["operationId"], "getMe");
    assert_eq!(login["logout"]["operationId"], "logout");
    assert_eq!(links("/api/me", "get")["logout"]["operationId"], "logout");
    for (_, _, op) in operations(&spec) {
        for resp in op["responses"]
            .as_object()
            .into_iter()
            .flat_map(|r| r.values())
        {
            for link in resp["links"]
                .as_object()
                .into_iter()
                .flat_map(|l| l.values())
            {
                let target = link["operationId"].as_str().unwrap_or_default();
                assert!(
                    ids.iter().any(|i| i == target),
                    "link target {target} exists"
                );
            }
        }
    }
}

#[test]
fn diff_shows_changed_lines() {
    let d = diff("a\nb\nc\n", "a\nB\nc\n");
    assert!(d.contains("-b\n") && d.contains("+B\n"), "{d}");
}
